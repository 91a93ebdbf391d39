import type { Database } from 'bun:sqlite'
import { statSync } from 'node:fs'
import { isoTime } from '../../libs/clock'
import type { SessionSummary, Stats, UserSummary } from './model'

interface UserRow {
  id: number
  openid: string
  unionid: string | null
  created_at: number
  last_login_at: number
  live_sessions: number
}

const USER_COLUMNS = `id, openid, unionid, created_at, last_login_at,
  (SELECT count(*) FROM sessions s WHERE s.user_id = users.id AND s.expires_at > ?1) AS live_sessions`

function toSummary(row: UserRow): UserSummary {
  return {
    id: row.id,
    openid: row.openid,
    unionid: row.unionid,
    createdAt: isoTime(row.created_at),
    lastLoginAt: isoTime(row.last_login_at),
    liveSessions: row.live_sessions,
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** What the admin commands read and change; plain queries over an open database. */
export function createAdminService(db: Database, databasePath: string) {
  const userByOpenid = db.query<UserRow, [number, string]>(`SELECT ${USER_COLUMNS} FROM users WHERE openid = ?2`)
  const sessionsOf = db.query<{ created_at: number; expires_at: number }, [number, number]>(
    'SELECT created_at, expires_at FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at',
  )
  const count = (sql: string, ...params: number[]) => db.query<{ n: number }, number[]>(sql).get(...params)?.n ?? 0

  return {
    listUsers(nowMs: number, limit: number): UserSummary[] {
      return db
        .query<UserRow, [number, number]>(
          `SELECT ${USER_COLUMNS} FROM users ORDER BY last_login_at DESC, id DESC LIMIT ?2`,
        )
        .all(nowMs, limit)
        .map(toSummary)
    },
    showUser(openid: string, nowMs: number): { user: UserSummary; sessions: SessionSummary[] } | null {
      const row = userByOpenid.get(nowMs, openid)
      if (!row) return null
      const sessions = sessionsOf
        .all(row.id, nowMs)
        .map((session) => ({ createdAt: isoTime(session.created_at), expiresAt: isoTime(session.expires_at) }))
      return { user: toSummary(row), sessions }
    },
    /** Ends every session of the user; null when there is no such user. */
    revokeUser(openid: string): number | null {
      const row = userByOpenid.get(0, openid)
      if (!row) return null
      return db.query<null, [number]>('DELETE FROM sessions WHERE user_id = ?').run(row.id).changes
    },
    revokeAll(): number {
      return db.query('DELETE FROM sessions').run().changes
    },
    stats(nowMs: number): Stats {
      return {
        users: count('SELECT count(*) AS n FROM users'),
        liveSessions: count('SELECT count(*) AS n FROM sessions WHERE expires_at > ?', nowMs),
        expiredAwaitingSweep: count('SELECT count(*) AS n FROM sessions WHERE expires_at <= ?', nowMs),
        databaseBytes: fileBytes(databasePath) + fileBytes(`${databasePath}-wal`),
      }
    },
  }
}

export type AdminService = ReturnType<typeof createAdminService>
