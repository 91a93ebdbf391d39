import type { Database } from 'bun:sqlite'
import { BoundedMap } from '../../libs/bounded-map'
import { isoTime } from '../../libs/clock'
import type { MaybePromise } from '../store/model'
import type { PublicUser, User, UserWithLogin } from './model'

/** A users row from SQLite, or from PostgreSQL, whose bigint columns arrive as strings. */
export interface UserRow {
  id: number | string
  openid: string
  unionid: string | null
  created_at: number | string
}

export function rowToUser(row: UserRow): User {
  return { id: Number(row.id), openid: row.openid, unionid: row.unionid, createdAt: Number(row.created_at) }
}

/** A users row with its last login, as `list` and `byOpenid` read it. */
export interface UserWithLoginRow extends UserRow {
  last_login_at: number | string
}

export function rowToUserWithLogin(row: UserWithLoginRow): UserWithLogin {
  return { ...rowToUser(row), lastLoginAt: Number(row.last_login_at) }
}

const publicForms = new WeakMap<User, PublicUser>()

/** The API form of a user; cached users are answered with one object, built once. */
export function toPublicUser(user: User): PublicUser {
  let shown = publicForms.get(user)
  if (!shown) {
    shown = {
      id: user.id,
      openid: user.openid,
      unionid: user.unionid,
      createdAt: isoTime(user.createdAt),
    }
    publicForms.set(user, shown)
  }
  return shown
}

/** Users by openid. SQLite (here) answers at once; PostgreSQL (users/postgres.ts) through promises. */
export interface UserStore {
  /** Creates the user or records the login, in one statement; a later unionid fills in a missing one. */
  upsert(openid: string, unionid: string | null, nowMs: number): MaybePromise<User>
  /** The user by id, from memory when it can be. */
  byId(id: number): MaybePromise<User | null>
  /** Drops the in-memory copies, e.g. after another process wrote to the database. */
  forgetCached(): void
  count(): MaybePromise<number>
  /** At most `limit` users, the latest login first (then the highest id): admin commands. */
  list(limit: number): MaybePromise<UserWithLogin[]>
  /** The user with this openid and their latest login, read from the store (never the cache); admin commands. */
  byOpenid(openid: string): MaybePromise<UserWithLogin | null>
  /**
   * At most `limit` users matching `query`, the highest id first, only ids below `beforeId` when given
   * (paging: pass the last id of the previous page). An empty query matches everyone; otherwise a user
   * matches when `query` begins their openid or unionid (case-sensitive, `%` and `_` literal), and a query
   * of digits also matches the user with that id. Admin console.
   */
  search(query: string, limit: number, beforeId?: number): MaybePromise<UserWithLogin[]>
}

/** Above every id a users table hands out: `search` without `beforeId` starts at the top. */
export const NO_ID_BOUND = Number.MAX_SAFE_INTEGER

/** The id a search query names: its digits as a number, or null when it is not all digits (or too long to be an id). */
export function idInQuery(query: string): number | null {
  if (!/^\d+$/.test(query)) return null
  const id = Number(query)
  return Number.isSafeInteger(id) ? id : null
}

/** Users behind the hot sessions, so a cached session costs no query at all. */
export const USER_CACHE_ENTRIES = 50_000

/** Users in SQLite: every answer in the same tick. */
export function createUserStore(db: Database, cacheEntries = USER_CACHE_ENTRIES) {
  const upsert = db.query<UserRow, [string, string | null, number, number]>(
    `INSERT INTO users (openid, unionid, created_at, last_login_at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT(openid) DO UPDATE SET
       unionid = coalesce(excluded.unionid, users.unionid),
       last_login_at = excluded.last_login_at
     RETURNING id, openid, unionid, created_at`,
  )
  const byId = db.query<UserRow, [number]>('SELECT id, openid, unionid, created_at FROM users WHERE id = ?')
  const count = db.query<{ n: number }, []>('SELECT count(*) AS n FROM users')
  const list = db.query<UserWithLoginRow, [number]>(
    'SELECT id, openid, unionid, created_at, last_login_at FROM users ORDER BY last_login_at DESC, id DESC LIMIT ?',
  )
  const byOpenid = db.query<UserWithLoginRow, [string]>(
    'SELECT id, openid, unionid, created_at, last_login_at FROM users WHERE openid = ?',
  )
  // substr compares characters, so `%` and `_` are plain text; rowid order, stopping at `limit` matches.
  const search = db.query<UserWithLoginRow, { query: string; id: number | null; before: number; limit: number }>(
    `SELECT id, openid, unionid, created_at, last_login_at FROM users
     WHERE id < $before AND ($query = '' OR id = $id
       OR substr(openid, 1, length($query)) = $query OR substr(unionid, 1, length($query)) = $query)
     ORDER BY id DESC LIMIT $limit`,
  )
  const cache = new BoundedMap<number, User>(cacheEntries)
  return {
    upsert(openid, unionid, nowMs) {
      const user = rowToUser(upsert.get(openid, unionid, nowMs, nowMs) as UserRow)
      cache.set(user.id, user)
      return user
    },
    byId(id) {
      const cached = cache.get(id)
      if (cached) return cached
      const row = byId.get(id)
      if (!row) return null
      const user = rowToUser(row)
      cache.set(id, user)
      return user
    },
    forgetCached: () => cache.clear(),
    count: () => count.get()?.n ?? 0,
    list: (limit) => list.all(limit).map(rowToUserWithLogin),
    byOpenid(openid) {
      const row = byOpenid.get(openid)
      return row ? rowToUserWithLogin(row) : null
    },
    search: (query, limit, beforeId = NO_ID_BOUND) =>
      search.all({ query, id: idInQuery(query), before: beforeId, limit }).map(rowToUserWithLogin),
  } satisfies UserStore
}

export type LocalUserStore = ReturnType<typeof createUserStore>
