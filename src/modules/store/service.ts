import type { Database } from 'bun:sqlite'
import type { SQL } from 'bun'
import { postgresTokenStore, redisTokenStore, sqliteTokenStore, type TokenStore } from '../access-token/stores'
import { DEFAULTS } from '../config/model'
import { boundQueries, connectPostgres, migratePostgres } from '../db/postgres'
import { connectRedis, type Redis } from '../db/redis'
import type { LoginEventStore } from '../login-events/model'
import { postgresLoginEventStore, sqliteLoginEventStore } from '../login-events/stores'
import { createNoteStore, createPostgresNoteStore, type NoteStore } from '../notes/service'
import { createPostgresSessionStore } from '../sessions/postgres'
import { createRedisSessionStore } from '../sessions/redis'
import { createSessionStore, type LocalSessionStore, type SessionStore } from '../sessions/service'
import { createPostgresUserStore } from '../users/postgres'
import { createUserStore, type LocalUserStore, type UserStore } from '../users/service'
import type { TicketStore } from '../web-login/model'
import { postgresTicketStore, redisTicketStore, sqliteTicketStore } from '../web-login/tickets'
import type { Backend } from './model'

interface StoresCommon {
  /** Where users, notes and the access_token live. */
  readonly records: Exclude<Backend, 'redis'>
  /** Where sessions live. */
  readonly sessionsIn: Backend
  readonly sql?: SQL
  /** Set with REDIS_URL: sessions, the access_token lease and login replay live there. */
  readonly redis?: Redis
  readonly notes: NoteStore
  readonly tokens: TokenStore
  /** Web-login tickets: where sessions live. */
  readonly tickets: TicketStore
  /** Login attempts for the admin console: where the records live (never Redis). */
  readonly loginEvents: LoginEventStore
  close(): Promise<void>
}

/** Everything in one SQLite database: every answer comes in the same tick, so the hot path never awaits. */
export interface LocalStores extends StoresCommon {
  readonly kind: 'sqlite'
  /** Group commit and the sweep worker use it. */
  readonly db: Database
  readonly users: LocalUserStore
  readonly sessions: LocalSessionStore
  /** Throws when the database does not answer: GET /healthz. */
  ping(): void
}

/** PostgreSQL and/or Redis (users may still be in SQLite beside Redis sessions): answers come later. */
export interface RemoteStores extends StoresCommon {
  readonly kind: 'remote'
  /** The SQLite database when records are in SQLite (sessions in Redis). */
  readonly db?: Database
  readonly users: UserStore
  readonly sessions: SessionStore
  /** Rejects when a store does not answer: GET /healthz. */
  ping(): Promise<void>
}

/** Every store the app needs, chosen once at start from DATABASE_URL / REDIS_URL. */
export type Stores = LocalStores | RemoteStores

/** Everything in one SQLite database: the default. */
export function sqliteStores(db: Database): LocalStores {
  const probe = db.query('SELECT count(*) FROM sqlite_schema')
  const users = createUserStore(db)
  return {
    kind: 'sqlite',
    records: 'sqlite',
    sessionsIn: 'sqlite',
    db,
    users,
    sessions: createSessionStore(db, { users }),
    notes: createNoteStore(db),
    tokens: sqliteTokenStore(db),
    tickets: sqliteTicketStore(db),
    loginEvents: sqliteLoginEventStore(db),
    ping() {
      probe.get()
    },
    async close() {
      db.close()
    },
  }
}

/**
 * Users, sessions, notes and the access_token in PostgreSQL (already migrated: see migratePostgres).
 * Every query is bounded by `storeTimeoutMs` (STORE_TIMEOUT_MS): a frozen server answers 503, not never.
 */
export function postgresStores(
  pool: SQL,
  { storeTimeoutMs = DEFAULTS.STORE_TIMEOUT_MS }: { storeTimeoutMs?: number } = {},
): RemoteStores {
  const sql = boundQueries(pool, storeTimeoutMs)
  const users = createPostgresUserStore(sql)
  return {
    kind: 'remote',
    records: 'postgres',
    sessionsIn: 'postgres',
    sql,
    users,
    sessions: createPostgresSessionStore(sql, users),
    notes: createPostgresNoteStore(sql),
    tokens: postgresTokenStore(sql),
    tickets: postgresTicketStore(sql),
    loginEvents: postgresLoginEventStore(sql),
    async ping() {
      await sql`SELECT 1`
    },
    close: () => pool.close(),
  }
}

/** Moves sessions, web-login tickets, the access_token lease and login replay to Redis; records stay in `base`. */
export function withRedis(base: Stores, redis: Redis): RemoteStores {
  return {
    ...base,
    kind: 'remote',
    sessionsIn: 'redis',
    redis,
    sessions: createRedisSessionStore(redis, base.users),
    tokens: redisTokenStore(redis),
    tickets: redisTicketStore(redis),
    async ping() {
      await Promise.all([base.ping(), redis.run((client) => client.ping())])
    },
    async close() {
      redis.close()
      await base.close()
    },
  }
}

/** The variable whose store could not be reached at start. */
export class StoreConnectError extends Error {
  constructor(
    readonly variable: 'DATABASE_URL' | 'REDIS_URL',
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause))
  }
}

/**
 * Connects (and migrates PostgreSQL, unbounded: a migration may wait for another instance's) at start; a
 * store that cannot be reached names its variable. Afterwards every query and command is bounded by storeTimeoutMs.
 */
export async function connectRemoteStores(
  {
    databaseUrl,
    redisUrl,
    storeTimeoutMs = DEFAULTS.STORE_TIMEOUT_MS,
  }: { databaseUrl?: string; redisUrl?: string; storeTimeoutMs?: number },
  openLocal: () => Database,
): Promise<Stores> {
  let sql: SQL | undefined
  let redis: Redis | undefined
  try {
    if (databaseUrl) {
      sql = connectPostgres(databaseUrl)
      await migratePostgres(sql).catch((error) => {
        throw new StoreConnectError('DATABASE_URL', error)
      })
    }
    if (redisUrl) {
      redis = await connectRedis(redisUrl, { timeoutMs: storeTimeoutMs }).catch((error) => {
        throw new StoreConnectError('REDIS_URL', error)
      })
    }
  } catch (error) {
    await sql?.close()
    throw error
  }
  const base = sql ? postgresStores(sql, { storeTimeoutMs }) : sqliteStores(openLocal())
  return redis ? withRedis(base, redis) : base
}
