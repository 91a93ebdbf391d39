import type { Database } from 'bun:sqlite'
import { statSync } from 'node:fs'
import { isoTime } from '../../libs/clock'
import type { SessionTimes } from '../sessions/service'
import type { MaybePromise } from '../store/model'
import type { Stores } from '../store/service'
import type { SessionSummary, Stats, UserSummary } from './model'

/** A users row as the admin commands read it; PostgreSQL's bigint columns arrive as strings. */
interface AdminUserRow {
  id: number | string
  openid: string
  unionid: string | null
  created_at: number | string
  last_login_at: number | string
}

/** From SQLite, which counts the live sessions in the same query. */
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

function toSummary(row: AdminUserRow, liveSessions: number): UserSummary {
  return {
    id: Number(row.id),
    openid: row.openid,
    unionid: row.unionid,
    createdAt: isoTime(Number(row.created_at)),
    lastLoginAt: isoTime(Number(row.last_login_at)),
    liveSessions,
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** What the admin commands read and change. */
export interface AdminService {
  listUsers(nowMs: number, limit: number): MaybePromise<UserSummary[]>
  showUser(openid: string, nowMs: number): MaybePromise<{ user: UserSummary; sessions: SessionSummary[] } | null>
  /** Ends every session of the user; null when there is no such user. */
  revokeUser(openid: string): MaybePromise<number | null>
  revokeAll(): MaybePromise<number>
  stats(nowMs: number): MaybePromise<Stats>
}

const toSessionSummary = (session: SessionTimes): SessionSummary => ({
  createdAt: isoTime(session.createdAt),
  expiresAt: isoTime(session.expiresAt),
})

/** Plain queries over the SQLite database file. */
export function createAdminService(db: Database, databasePath: string): AdminService {
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
        .map((row) => toSummary(row, row.live_sessions))
    },
    showUser(openid: string, nowMs: number): { user: UserSummary; sessions: SessionSummary[] } | null {
      const row = userByOpenid.get(nowMs, openid)
      if (!row) return null
      const sessions = sessionsOf
        .all(row.id, nowMs)
        .map((session) => toSessionSummary({ createdAt: session.created_at, expiresAt: session.expires_at }))
      return { user: toSummary(row, row.live_sessions), sessions }
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

/**
 * Users in PostgreSQL, sessions wherever the server keeps them (PostgreSQL or Redis), read through
 * the same session store the server uses.
 */
export function createRemoteAdminService(stores: Stores): AdminService {
  const { sql, sessions } = stores
  if (!sql) throw new Error('createRemoteAdminService needs the users in PostgreSQL')
  const liveSessionsOf = (row: AdminUserRow, nowMs: number) => sessions.listForUser(Number(row.id), nowMs)
  const byOpenid = async (openid: string) =>
    (
      (await sql`SELECT id, openid, unionid, created_at, last_login_at FROM users WHERE openid = ${openid}`) as AdminUserRow[]
    )[0]
  const count = async (query: Promise<{ n: string | number }[]>) => Number((await query)[0]?.n ?? 0)

  return {
    async listUsers(nowMs, limit) {
      const rows: AdminUserRow[] = await sql`SELECT id, openid, unionid, created_at, last_login_at FROM users
                                          ORDER BY last_login_at DESC, id DESC LIMIT ${limit}`
      return Promise.all(rows.map(async (row) => toSummary(row, (await liveSessionsOf(row, nowMs)).length)))
    },
    async showUser(openid, nowMs) {
      const row = await byOpenid(openid)
      if (!row) return null
      const live = await liveSessionsOf(row, nowMs)
      return { user: toSummary(row, live.length), sessions: live.map(toSessionSummary) }
    },
    async revokeUser(openid) {
      const row = await byOpenid(openid)
      return row ? sessions.deleteForUser(Number(row.id)) : null
    },
    revokeAll: () => sessions.deleteAll(),
    async stats(nowMs) {
      return {
        users: await count(sql`SELECT count(*) AS n FROM users`),
        liveSessions: await sessions.countLive(nowMs),
        // Redis drops expired sessions by itself: nothing awaits a sweep there.
        expiredAwaitingSweep:
          stores.sessionsIn === 'postgres'
            ? await count(sql`SELECT count(*) AS n FROM sessions WHERE expires_at <= ${nowMs}`)
            : 0,
        databaseBytes: await count(sql`SELECT pg_database_size(current_database()) AS n`),
      }
    },
  }
}
