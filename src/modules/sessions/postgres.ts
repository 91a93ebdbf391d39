import type { SQL } from 'bun'
import type { UserStore } from '../users/service'
import { WEB_SESSION_KEY } from './model'
import {
  hashSessionToken,
  isWellFormedToken,
  mintSession,
  type SessionStore,
  sessionListing,
  withUserOf,
} from './service'

interface ListingRow {
  token_hash: Uint8Array
  created_at: string
  expires_at: string
  /** session_key = WEB_SESSION_KEY, worked out by the database: the key itself is never read. */
  web: boolean
}

/**
 * Sessions in PostgreSQL, shared by every instance. Nothing is cached: a logout on one instance
 * holds on the next request to any other. The user behind a session comes from the user cache.
 */
export function createPostgresSessionStore(sql: SQL, users: UserStore): SessionStore {
  return {
    needsSweep: true,
    async create({ userId, sessionKey, nowMs, ttlSeconds }) {
      const created = mintSession(nowMs, ttlSeconds)
      await sql`INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at)
                VALUES (${created.tokenHash}, ${userId}, ${sessionKey}, ${nowMs}, ${created.expiresAt})`
      return created
    },
    async validate(token, nowMs) {
      if (!isWellFormedToken(token)) return null
      const tokenHash = hashSessionToken(token)
      const [row] =
        await sql`SELECT user_id, expires_at FROM sessions WHERE token_hash = ${tokenHash} AND expires_at > ${nowMs}`
      if (!row) return null
      return withUserOf(users, { tokenHash, userId: Number(row.user_id), expiresAt: Number(row.expires_at) })
    },
    async delete(tokenHash) {
      await sql`DELETE FROM sessions WHERE token_hash = ${tokenHash}`
    },
    async deleteForUser(userId) {
      return (await sql`DELETE FROM sessions WHERE user_id = ${userId}`).count
    },
    async trimForUser(userId, keep, newest) {
      const surplus = await sql`
        DELETE FROM sessions WHERE token_hash IN (
          SELECT token_hash FROM sessions WHERE user_id = ${userId} AND token_hash <> ${newest}
          ORDER BY created_at DESC OFFSET ${Math.max(0, keep - 1)})`
      return surplus.count
    },
    async extend(session, expiresAt) {
      await sql`UPDATE sessions SET expires_at = ${expiresAt} WHERE token_hash = ${session.tokenHash}`
      return { ...session, expiresAt }
    },
    async deleteExpired(nowMs, limit) {
      // SKIP LOCKED: instances sweeping at the same moment take different rows instead of waiting on each other.
      const swept = await sql`
        DELETE FROM sessions WHERE token_hash IN (
          SELECT token_hash FROM sessions WHERE expires_at <= ${nowMs} LIMIT ${limit} FOR UPDATE SKIP LOCKED)`
      return swept.count
    },
    async sessionKeyOf(tokenHash) {
      const [row] = await sql`SELECT session_key FROM sessions WHERE token_hash = ${tokenHash}`
      return row?.session_key ?? null
    },
    async countLive(nowMs) {
      const [row] = await sql`SELECT count(*) AS n FROM sessions WHERE expires_at > ${nowMs}`
      return Number(row?.n ?? 0)
    },
    async countExpired(nowMs) {
      const [row] = await sql`SELECT count(*) AS n FROM sessions WHERE expires_at <= ${nowMs}`
      return Number(row?.n ?? 0)
    },
    async listForUser(userId, nowMs) {
      const rows = await sql<ListingRow[]>`
        SELECT token_hash, created_at, expires_at, session_key = ${WEB_SESSION_KEY} AS web FROM sessions
        WHERE user_id = ${userId} AND expires_at > ${nowMs} ORDER BY created_at`
      return rows.map((row) => sessionListing(row.token_hash, Number(row.created_at), Number(row.expires_at), row.web))
    },
    async deleteAll() {
      return (await sql`DELETE FROM sessions`).count
    },
  }
}
