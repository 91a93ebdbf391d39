import type { Database } from 'bun:sqlite'
import type { PublicUser, User } from './model'

interface UserRow {
  id: number
  openid: string
  unionid: string | null
  created_at: number
}

export function rowToUser(row: UserRow): User {
  return { id: row.id, openid: row.openid, unionid: row.unionid, createdAt: row.created_at }
}

export function toPublicUser(user: User): PublicUser {
  return { id: user.id, openid: user.openid, unionid: user.unionid, createdAt: new Date(user.createdAt).toISOString() }
}

export interface UserStore {
  /** Creates the user or records the login, in one statement; a later unionid fills in a missing one. */
  upsert(openid: string, unionid: string | null, nowMs: number): User
  count(): number
}

export function createUserStore(db: Database): UserStore {
  const upsert = db.query<UserRow, [string, string | null, number, number]>(
    `INSERT INTO users (openid, unionid, created_at, last_login_at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT(openid) DO UPDATE SET
       unionid = coalesce(excluded.unionid, users.unionid),
       last_login_at = excluded.last_login_at
     RETURNING id, openid, unionid, created_at`,
  )
  const count = db.query<{ n: number }, []>('SELECT count(*) AS n FROM users')
  return {
    upsert(openid, unionid, nowMs) {
      return rowToUser(upsert.get(openid, unionid, nowMs, nowMs) as UserRow)
    },
    count: () => count.get()?.n ?? 0,
  }
}
