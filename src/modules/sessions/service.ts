import type { Database } from 'bun:sqlite'
import type { Clock } from '../../libs/clock'
import { rowToUser } from '../users/service'
import { SESSION_TOKEN_BYTES, SESSION_TOKEN_PATTERN, type SessionWithUser, SWEEP_BATCH_ROWS } from './model'

/** 32 bytes from the CSPRNG, base64url: the skey handed to the client. */
export function generateSessionToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SESSION_TOKEN_BYTES))
  return Buffer.from(bytes).toString('base64url')
}

/** SHA-256 of the token: the only form of it the database ever sees. */
export function hashSessionToken(token: string): Uint8Array {
  return new Bun.CryptoHasher('sha256').update(token).digest() as Uint8Array
}

export function isWellFormedToken(token: string): boolean {
  return SESSION_TOKEN_PATTERN.test(token)
}

interface SessionUserRow {
  token_hash: Uint8Array
  user_id: number
  expires_at: number
  openid: string
  unionid: string | null
  created_at: number
}

export interface NewSession {
  userId: number
  sessionKey: string
  nowMs: number
  ttlSeconds: number
}

export interface SessionStore {
  /** Stores a new session and returns its token; call inside the login transaction. */
  create(input: NewSession): { token: string; expiresAt: number }
  /** The live session and its user, or null when unknown, malformed or expired. */
  validate(token: string, nowMs: number): SessionWithUser | null
  delete(tokenHash: Uint8Array): void
  /** Deletes at most `limit` expired sessions; returns how many went. */
  deleteExpired(nowMs: number, limit: number): number
  sessionKeyOf(tokenHash: Uint8Array): string | null
}

export function createSessionStore(db: Database): SessionStore {
  const insert = db.query<null, [Uint8Array, number, string, number, number]>(
    'INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  )
  const select = db.query<SessionUserRow, [Uint8Array, number]>(
    `SELECT s.token_hash, s.user_id, s.expires_at, u.openid, u.unionid, u.created_at
     FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.token_hash = ? AND s.expires_at > ?`,
  )
  const remove = db.query<null, [Uint8Array]>('DELETE FROM sessions WHERE token_hash = ?')
  const removeExpired = db.query<null, [number, number]>(
    `DELETE FROM sessions WHERE token_hash IN
       (SELECT token_hash FROM sessions WHERE expires_at <= ? LIMIT ?)`,
  )
  const sessionKey = db.query<{ session_key: string }, [Uint8Array]>(
    'SELECT session_key FROM sessions WHERE token_hash = ?',
  )
  return {
    create({ userId, sessionKey, nowMs, ttlSeconds }) {
      const token = generateSessionToken()
      const expiresAt = nowMs + ttlSeconds * 1000
      insert.run(hashSessionToken(token), userId, sessionKey, nowMs, expiresAt)
      return { token, expiresAt }
    },
    validate(token, nowMs) {
      if (!isWellFormedToken(token)) return null
      const row = select.get(hashSessionToken(token), nowMs)
      if (!row) return null
      return {
        session: { tokenHash: row.token_hash, userId: row.user_id, expiresAt: row.expires_at },
        user: rowToUser({ id: row.user_id, openid: row.openid, unionid: row.unionid, created_at: row.created_at }),
      }
    },
    delete(tokenHash) {
      remove.run(tokenHash)
    },
    deleteExpired(nowMs, limit) {
      return removeExpired.run(nowMs, limit).changes
    },
    sessionKeyOf: (tokenHash) => sessionKey.get(tokenHash)?.session_key ?? null,
  }
}

export interface Sweeper {
  /** Deletes every expired session in batches, yielding to the event loop between them. */
  sweepNow(): Promise<number>
  /** Stops the timer and waits for a running sweep to finish its current batch. */
  stop(): Promise<void>
}

export interface SweeperOptions {
  sessions: SessionStore
  intervalMs: number
  clock: Clock
  batchRows?: number
  onError?: (error: unknown) => void
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

export function startSweeper({
  sessions,
  intervalMs,
  clock,
  batchRows = SWEEP_BATCH_ROWS,
  onError,
}: SweeperOptions): Sweeper {
  let stopped = false
  let running: Promise<number> | null = null

  async function sweepAll(): Promise<number> {
    const cutoff = clock()
    let total = 0
    while (!stopped) {
      const deleted = sessions.deleteExpired(cutoff, batchRows)
      total += deleted
      if (deleted < batchRows) break
      await yieldToEventLoop()
    }
    return total
  }

  function sweepNow(): Promise<number> {
    running ??= sweepAll().finally(() => {
      running = null
    })
    return running
  }

  const timer = setInterval(function sweepExpiredSessions() {
    sweepNow().catch((error) => (onError ?? console.error)(error))
  }, intervalMs)
  timer.unref()

  return {
    sweepNow,
    async stop() {
      stopped = true
      clearInterval(timer)
      await running?.catch(() => undefined)
    },
  }
}
