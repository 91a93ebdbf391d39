import type { User } from '../users/model'

/** A live session as the guard sees it; never carries the token or the session_key. */
export interface Session {
  tokenHash: Uint8Array
  userId: number
  expiresAt: number
}

export type SessionWithUser = {
  session: Session
  user: User
}

/** A web session (web login) stores this as its session_key: WeChat gave it none, so no open-data route serves it. */
export const WEB_SESSION_KEY = ''

export const SESSION_TOKEN_BYTES = 32
/** A token's length as base64url of SESSION_TOKEN_BYTES, no padding: 43. */
export const SESSION_TOKEN_LENGTH = Math.ceil((SESSION_TOKEN_BYTES * 4) / 3)
export const SESSION_TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${SESSION_TOKEN_LENGTH}}$`)
export const SWEEP_BATCH_ROWS = 1000
/** Hot sessions kept in memory (~150 bytes each). */
export const SESSION_CACHE_ENTRIES = 100_000
/** How stale the cache may be after another process revokes a session. */
export const FOREIGN_WRITE_POLL_MS = 100
