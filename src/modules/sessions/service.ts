import type { Database } from 'bun:sqlite'
import { BoundedMap } from '../../libs/bounded-map'
import type { Clock } from '../../libs/clock'
import { watchForeignWrites } from '../db/service'
import type { MaybePromise } from '../store/model'
import { createUserStore, type LocalUserStore, type UserStore } from '../users/service'
import {
  FOREIGN_WRITE_POLL_MS,
  SESSION_CACHE_ENTRIES,
  SESSION_TOKEN_BYTES,
  SESSION_TOKEN_LENGTH,
  SESSION_TOKEN_PATTERN,
  type Session,
  type SessionWithUser,
  SWEEP_BATCH_ROWS,
  WEB_SESSION_KEY,
} from './model'
import { startSweepWorker } from './sweep-worker-client'

/** `bytes` from the CSPRNG, base64url. */
export function randomToken(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url')
}

/**
 * 32 bytes from the CSPRNG, base64url: the skey handed to the client, and every other secret wxauth hands
 * out (a web login's binding secret, an admin link's), each stored only as hashSessionToken's SHA-256.
 */
export function generateSessionToken(): string {
  return randomToken(SESSION_TOKEN_BYTES)
}

/** SHA-256 of the token: the only form of it the database ever sees. */
export function hashSessionToken(token: string): Uint8Array {
  return Bun.SHA256.hash(token) as Uint8Array
}

export function isWellFormedToken(token: string): boolean {
  return SESSION_TOKEN_PATTERN.test(token)
}

/** A new skey, its hash and its expiry: what every store's create() stores and returns. */
export function mintSession(nowMs: number, ttlSeconds: number): CreatedSession {
  const token = generateSessionToken()
  return { token, tokenHash: hashSessionToken(token), expiresAt: nowMs + ttlSeconds * 1000 }
}

/** The session with its user, or null when the user row is gone (stores that keep no user cache of their own). */
export async function withUserOf(users: UserStore, session: Session): Promise<SessionWithUser | null> {
  const user = await users.byId(session.userId)
  return user ? { user, session } : null
}

interface SessionRow {
  user_id: number
  expires_at: number
}

interface ListingRow {
  token_hash: Uint8Array
  created_at: number
  expires_at: number
  /** session_key = WEB_SESSION_KEY, worked out by the database: the key itself is never read. */
  web: number
}

export interface NewSession {
  userId: number
  sessionKey: string
  nowMs: number
  ttlSeconds: number
}

export interface CreatedSession {
  token: string
  tokenHash: Uint8Array
  expiresAt: number
}

/**
 * Sessions by token hash. Implementations: SQLite (here, synchronous, with an in-memory cache),
 * PostgreSQL (sessions/postgres.ts) and Redis (sessions/redis.ts); test/modules/store holds the
 * conformance suite every one of them passes.
 */
export interface SessionStore {
  /** False where the store expires sessions by itself (Redis): no sweep runs. */
  readonly needsSweep: boolean
  /** Stores a new session and returns its token. */
  create(input: NewSession): MaybePromise<CreatedSession>
  /** The live session and its user, or null when unknown, malformed or expired. */
  validate(token: string, nowMs: number): MaybePromise<SessionWithUser | null>
  delete(tokenHash: Uint8Array): MaybePromise<void>
  /** Ends every session of the user; returns how many. */
  deleteForUser(userId: number): MaybePromise<number>
  /** Ends the user's oldest sessions so that at most `keep` remain, never `newest`. Returns how many went. */
  trimForUser(userId: number, keep: number, newest: Uint8Array): MaybePromise<number>
  /** Moves a live session's expiry (sliding sessions); returns the updated session. */
  extend(session: Session, expiresAt: number, nowMs: number): MaybePromise<Session>
  /** Deletes at most `limit` expired sessions; returns how many went. */
  deleteExpired(nowMs: number, limit: number): MaybePromise<number>
  sessionKeyOf(tokenHash: Uint8Array): MaybePromise<string | null>
  /** Sessions not expired at `nowMs`, for metrics and the admin commands. */
  countLive(nowMs: number): MaybePromise<number>
  /** Sessions expired at `nowMs` that no sweep has deleted yet (admin commands); 0 where nothing sweeps (Redis). */
  countExpired(nowMs: number): MaybePromise<number>
  /** The user's sessions not expired at `nowMs`, oldest first (admin commands and console). */
  listForUser(userId: number, nowMs: number): MaybePromise<SessionListing[]>
  /** Ends every session of every user; returns how many. */
  deleteAll(): MaybePromise<number>
}

/** A live session as the admin sees it: never the token, never the session_key. */
export interface SessionListing {
  /** base64url of the token's SHA-256: `Buffer.from(id, 'base64url')` is what delete() takes. */
  id: string
  createdAt: number
  expiresAt: number
  /** 'web' for a web-login session (its session_key is WEB_SESSION_KEY), else 'miniprogram'. */
  kind: 'miniprogram' | 'web'
}

/** A session's listing from what the store keeps; `web` when its session_key is WEB_SESSION_KEY. */
export function sessionListing(tokenHash: Uint8Array, createdAt: number, expiresAt: number, web: boolean) {
  const kind = web ? 'web' : 'miniprogram'
  return { id: Buffer.from(tokenHash).toString('base64url'), createdAt, expiresAt, kind } satisfies SessionListing
}

export interface SessionStoreOptions {
  /** The users the sessions belong to; one store per database, so that one cache serves both. */
  users?: LocalUserStore
  cacheEntries?: number
}

const cacheKey = (tokenHash: Uint8Array) => Buffer.from(tokenHash).toString('base64')

/**
 * Sessions in SQLite, with the hot ones in memory: a cached skey costs one hash and two Map
 * lookups. The cache follows every write made through this store at once, and writes by other
 * connections within FOREIGN_WRITE_POLL_MS.
 */
export function createSessionStore(db: Database, options: SessionStoreOptions = {}) {
  const users = options.users ?? createUserStore(db)
  const cache = new BoundedMap<string, Session>(options.cacheEntries ?? SESSION_CACHE_ENTRIES)
  const foreignWrites = watchForeignWrites(db, FOREIGN_WRITE_POLL_MS)
  const insert = db.query<null, [Uint8Array, number, string, number, number]>(
    'INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  )
  const select = db.query<SessionRow, [Uint8Array]>('SELECT user_id, expires_at FROM sessions WHERE token_hash = ?')
  const remove = db.query<null, [Uint8Array]>('DELETE FROM sessions WHERE token_hash = ?')
  const hashesOfUser = db.query<{ token_hash: Uint8Array }, [number]>(
    'SELECT token_hash FROM sessions WHERE user_id = ?',
  )
  const oldestBeyond = db.query<{ token_hash: Uint8Array }, [number, Uint8Array, number]>(
    `SELECT token_hash FROM sessions WHERE user_id = ? AND token_hash != ?
     ORDER BY created_at DESC LIMIT -1 OFFSET ?`,
  )
  const setExpiry = db.query<null, [number, Uint8Array]>('UPDATE sessions SET expires_at = ? WHERE token_hash = ?')
  const removeExpired = db.query<null, [number, number]>(
    `DELETE FROM sessions WHERE token_hash IN
       (SELECT token_hash FROM sessions WHERE expires_at <= ? LIMIT ?)`,
  )
  const sessionKey = db.query<{ session_key: string }, [Uint8Array]>(
    'SELECT session_key FROM sessions WHERE token_hash = ?',
  )
  const countLive = db.query<{ n: number }, [number]>('SELECT count(*) AS n FROM sessions WHERE expires_at > ?')
  const countExpired = db.query<{ n: number }, [number]>('SELECT count(*) AS n FROM sessions WHERE expires_at <= ?')
  const listOfUser = db.query<ListingRow, [string, number, number]>(
    `SELECT token_hash, created_at, expires_at, session_key = ?1 AS web FROM sessions
     WHERE user_id = ?2 AND expires_at > ?3 ORDER BY created_at`,
  )
  const removeAll = db.query<null, []>('DELETE FROM sessions')

  function deleteSession(tokenHash: Uint8Array): void {
    remove.run(tokenHash)
    cache.delete(cacheKey(tokenHash))
  }

  function load(tokenHash: Uint8Array, key: string): Session | null {
    const row = select.get(tokenHash)
    if (!row) return null
    const session = { tokenHash, userId: row.user_id, expiresAt: row.expires_at }
    cache.set(key, session)
    return session
  }

  return {
    users,
    needsSweep: true,
    create({ userId, sessionKey, nowMs, ttlSeconds }) {
      const created = mintSession(nowMs, ttlSeconds)
      insert.run(created.tokenHash, userId, sessionKey, nowMs, created.expiresAt)
      return created
    },
    validate(token, nowMs) {
      // The length bounds what is hashed; the full pattern is checked only before a database read,
      // since a cache hit means the token hashed to a live session's hash.
      if (token.length !== SESSION_TOKEN_LENGTH) return null
      if (foreignWrites(nowMs)) {
        cache.clear()
        users.forgetCached()
      }
      // The hash straight to its base64 cache key: no intermediate buffer on the hot path.
      const key = Bun.SHA256.hash(token, 'base64')
      const session = cache.get(key) ?? (isWellFormedToken(token) ? load(Buffer.from(key, 'base64'), key) : null)
      if (!session) return null
      if (session.expiresAt <= nowMs) {
        cache.delete(key)
        return null
      }
      const user = users.byId(session.userId)
      return user ? { session, user } : null
    },
    delete: deleteSession,
    deleteForUser(userId) {
      const hashes = hashesOfUser.all(userId)
      for (const { token_hash } of hashes) deleteSession(token_hash)
      return hashes.length
    },
    trimForUser(userId, keep, newest) {
      const surplus = oldestBeyond.all(userId, newest, Math.max(0, keep - 1))
      for (const { token_hash } of surplus) deleteSession(token_hash)
      return surplus.length
    },
    extend(session, expiresAt) {
      setExpiry.run(expiresAt, session.tokenHash)
      const extended = { ...session, expiresAt }
      cache.set(cacheKey(session.tokenHash), extended)
      return extended
    },
    deleteExpired(nowMs, limit) {
      return removeExpired.run(nowMs, limit).changes
    },
    sessionKeyOf: (tokenHash) => sessionKey.get(tokenHash)?.session_key ?? null,
    countLive: (nowMs) => countLive.get(nowMs)?.n ?? 0,
    countExpired: (nowMs) => countExpired.get(nowMs)?.n ?? 0,
    listForUser: (userId, nowMs) =>
      listOfUser
        .all(WEB_SESSION_KEY, userId, nowMs)
        .map((row) => sessionListing(row.token_hash, row.created_at, row.expires_at, row.web === 1)),
    deleteAll() {
      cache.clear()
      return removeAll.run().changes
    },
  } satisfies SessionStore & { users: LocalUserStore }
}

/** The SQLite session store: every answer in the same tick, so the guard never awaits it. */
export type LocalSessionStore = ReturnType<typeof createSessionStore>

export interface Sweeper {
  /** Deletes every expired session in batches; concurrent calls share one run. */
  sweepNow(): Promise<number>
  /** Stops the timer and waits for a running sweep to finish its current batch. */
  stop(): Promise<void>
}

export interface SweeperOptions {
  sessions: SessionStore
  intervalMs: number
  clock: Clock
  batchRows?: number
  /**
   * Sweep this database file from a worker thread with its own connection: the event loop then
   * never waits on deletes or WAL checkpoints. `db` is the server's connection; its automatic
   * checkpoints move to the worker. Leave unset for `:memory:` databases.
   */
  worker?: { db: Database; path: string /** the worker's code; tests only */; url?: string }
  onSwept?: (deleted: number, elapsedMs: number) => void
  onError?: (error: unknown) => void
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Deletes sessions expired at `cutoff` batch by batch, awaiting `between(batchNumber)` after each full batch. */
export async function sweepInBatches(
  sessions: SessionStore,
  cutoff: number,
  batchRows: number,
  { stopped, between }: { stopped: () => boolean; between: (batch: number) => Promise<void> },
): Promise<number> {
  let total = 0
  for (let batch = 1; !stopped(); batch++) {
    const deleted = await sessions.deleteExpired(cutoff, batchRows)
    total += deleted
    if (deleted < batchRows) break
    await between(batch)
  }
  return total
}

export function startSweeper({
  sessions,
  intervalMs,
  clock,
  batchRows = SWEEP_BATCH_ROWS,
  worker,
  onSwept,
  onError = console.error,
}: SweeperOptions): Sweeper {
  let stopped = false
  let running: Promise<number> | null = null
  let sweepWorker = worker ? startSweepWorker(worker.db, worker.path, worker.url) : null

  const sweepHere = (cutoff: number) =>
    sweepInBatches(sessions, cutoff, batchRows, { stopped: () => stopped, between: yieldToEventLoop })

  /** Sweeps in the worker; if the worker has failed, says so once and sweeps on this thread from then on. */
  async function sweepInWorkerOrHere(cutoff: number): Promise<number> {
    if (!sweepWorker) return sweepHere(cutoff)
    try {
      return await sweepWorker.sweep(cutoff, batchRows)
    } catch (error) {
      if (!sweepWorker.failed) throw error
      onError(error)
      await sweepWorker.close()
      sweepWorker = null
      return sweepHere(cutoff)
    }
  }

  async function sweepAll(): Promise<number> {
    const started = performance.now()
    const deleted = await sweepInWorkerOrHere(clock())
    onSwept?.(deleted, performance.now() - started)
    return deleted
  }

  function sweepNow(): Promise<number> {
    running ??= sweepAll().finally(() => {
      running = null
    })
    return running
  }

  const timer = setInterval(function sweepExpiredSessions() {
    sweepNow().catch(onError)
  }, intervalMs)
  timer.unref()

  return {
    sweepNow,
    async stop() {
      stopped = true
      clearInterval(timer)
      sweepWorker?.requestStop()
      await running?.catch(() => undefined)
      await sweepWorker?.close()
    },
  }
}
