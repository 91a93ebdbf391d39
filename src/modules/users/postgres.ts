import type { SQL } from 'bun'
import { BoundedMap } from '../../libs/bounded-map'
import type { User } from './model'
import {
  idInQuery,
  NO_ID_BOUND,
  rowToUser,
  rowToUserWithLogin,
  USER_CACHE_ENTRIES,
  type UserRow,
  type UserStore,
  type UserWithLoginRow,
} from './service'

/** Users in PostgreSQL. A user row never changes after its first login but for a filled-in unionid, so caching by id is safe across instances. */
export function createPostgresUserStore(sql: SQL, cacheEntries = USER_CACHE_ENTRIES): UserStore {
  const cache = new BoundedMap<number, User>(cacheEntries)
  return {
    async upsert(openid, unionid, nowMs) {
      const [row] = await sql<UserRow[]>`
        INSERT INTO users (openid, unionid, created_at, last_login_at) VALUES (${openid}, ${unionid}, ${nowMs}, ${nowMs})
        ON CONFLICT (openid) DO UPDATE SET
          unionid = coalesce(excluded.unionid, users.unionid),
          last_login_at = excluded.last_login_at
        RETURNING id, openid, unionid, created_at`
      const user = rowToUser(row as UserRow)
      cache.set(user.id, user)
      return user
    },
    async byId(id) {
      const cached = cache.get(id)
      if (cached) return cached
      const [row] = await sql<UserRow[]>`SELECT id, openid, unionid, created_at FROM users WHERE id = ${id}`
      if (!row) return null
      const user = rowToUser(row)
      cache.set(id, user)
      return user
    },
    forgetCached: () => cache.clear(),
    async count() {
      const [row] = await sql`SELECT count(*) AS n FROM users`
      return Number(row?.n ?? 0)
    },
    async list(limit) {
      const rows = await sql<UserWithLoginRow[]>`
        SELECT id, openid, unionid, created_at, last_login_at FROM users
        ORDER BY last_login_at DESC, id DESC LIMIT ${limit}`
      return rows.map(rowToUserWithLogin)
    },
    async byOpenid(openid) {
      const [row] = await sql<UserWithLoginRow[]>`
        SELECT id, openid, unionid, created_at, last_login_at FROM users WHERE openid = ${openid}`
      return row ? rowToUserWithLogin(row) : null
    },
    async search(query, limit, beforeId = NO_ID_BOUND) {
      // starts_with compares text, so `%` and `_` are plain characters; no LIKE pattern is built.
      const rows = await sql<UserWithLoginRow[]>`
        SELECT id, openid, unionid, created_at, last_login_at FROM users
        WHERE id < ${beforeId} AND (${query} = '' OR id = ${idInQuery(query)}
          OR starts_with(openid, ${query}) OR starts_with(unionid, ${query}))
        ORDER BY id DESC LIMIT ${limit}`
      return rows.map(rowToUserWithLogin)
    },
  }
}
