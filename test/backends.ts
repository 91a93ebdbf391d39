import type { SQL } from 'bun'
import type { Redis } from '../src/modules/db/redis'
import {
  connectPostgres,
  connectRedis,
  migratePostgres,
  openDatabase,
  postgresStores,
  type Stores,
  sqliteStores,
  withRedis,
} from '../src/server'

/**
 * The stores a test runs against. SQLite always; PostgreSQL and Redis when TEST_DATABASE_URL and
 * TEST_REDIS_URL point at throwaway servers (`eval "$(bash .ci/services.sh)"` starts both).
 * Under CI (CI=true) a missing server fails the run instead of skipping.
 */
export type TestBackend = 'sqlite' | 'postgres' | 'postgres+redis'
/** The stores alone can also run SQLite + Redis (REDIS_URL without DATABASE_URL). */
export type StoreBackend = TestBackend | 'sqlite+redis'

const databaseUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL
const HOW_TO_RUN = 'run eval "$(bash .ci/services.sh)" first to start PostgreSQL and Redis on 127.0.0.1'

function needs(backend: StoreBackend): string[] {
  const missing = []
  if (backend.startsWith('postgres') && !databaseUrl) missing.push('TEST_DATABASE_URL')
  if (backend.endsWith('+redis') && !redisUrl) missing.push('TEST_REDIS_URL')
  return missing
}

let warned = false
/** The backends this run can reach; says once what it skips, and refuses to skip under CI. */
export function reachableBackends(): TestBackend[] {
  const all: TestBackend[] = ['sqlite', 'postgres', 'postgres+redis']
  const missing = [...new Set(all.flatMap(needs))]
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(`CI must run the PostgreSQL and Redis suites, but ${missing.join(' and ')} is unset: ${HOW_TO_RUN}`)
  }
  if (missing.length > 0 && !warned) {
    warned = true
    console.warn(`PostgreSQL/Redis suites skipped (${missing.join(', ')} unset): ${HOW_TO_RUN}`)
  }
  return all.filter((backend) => needs(backend).length === 0)
}

/** The backend the HTTP suites run on: WXAUTH_TEST_BACKEND, default sqlite (.ci/run runs them on all three). */
export const TEST_BACKEND: TestBackend = (() => {
  const chosen = (process.env.WXAUTH_TEST_BACKEND ?? 'sqlite') as TestBackend
  if (!['sqlite', 'postgres', 'postgres+redis'].includes(chosen)) {
    throw new Error(`WXAUTH_TEST_BACKEND must be sqlite, postgres or postgres+redis, got ${chosen}`)
  }
  const missing = needs(chosen)
  if (missing.length > 0) throw new Error(`WXAUTH_TEST_BACKEND=${chosen} needs ${missing.join(' and ')}: ${HOW_TO_RUN}`)
  return chosen
})()

/** Every mix of stores this run can reach, SQLite + Redis included: for the store conformance suite. */
export function reachableStoreBackends(): StoreBackend[] {
  const backends: StoreBackend[] = reachableBackends()
  return needs('sqlite+redis').length === 0 ? [...backends, 'sqlite+redis'] : backends
}

let shared: Promise<{ sql: SQL | null; redis: Redis | null }> | null = null
function connectShared() {
  shared ??= (async () => {
    const sql = databaseUrl ? connectPostgres(databaseUrl) : null
    if (sql) await migratePostgres(sql)
    return { sql, redis: redisUrl ? await connectRedis(redisUrl) : null }
  })()
  return shared
}

let generation = 0

/**
 * An app writes its login events up to a second after the login (login-events/service.ts). On the shared
 * PostgreSQL an app of an earlier test would write them into the next test's emptied table: once newer
 * stores are handed out, the older ones' event writes go nowhere.
 */
function untilReplaced(stores: Stores, mine: number): Stores {
  const { loginEvents } = stores
  const add: typeof loginEvents.add = (events) => (mine === generation ? loginEvents.add(events) : undefined)
  return { ...stores, loginEvents: { ...loginEvents, add } } as Stores
}

/** Empty stores on `backend`: PostgreSQL tables truncated (ids restart at 1), Redis flushed. */
export async function freshStores(backend: StoreBackend = TEST_BACKEND): Promise<Stores> {
  if (backend === 'sqlite') return sqliteStores(openDatabase(':memory:'))
  // From now on the older stores' event writes go nowhere: not even into the tables being emptied.
  const mine = ++generation
  return untilReplaced(await sharedStores(backend), mine)
}

async function sharedStores(backend: Exclude<StoreBackend, 'sqlite'>): Promise<Stores> {
  const { sql, redis } = await connectShared()
  const keep = { close: async () => {} } // the connections are shared by every test of the run
  if (backend.endsWith('+redis')) {
    if (!redis) throw new Error('TEST_REDIS_URL is unset')
    await redis.run((client) => client.send('FLUSHDB', []))
  }
  if (backend === 'sqlite+redis')
    return { ...withRedis(sqliteStores(openDatabase(':memory:')), redis as Redis), ...keep }
  if (!sql) throw new Error('TEST_DATABASE_URL is unset')
  // CASCADE empties every table with a foreign key to users (web_login_tickets); login_events has none.
  await sql`TRUNCATE users, sessions, notes, wechat_access_tokens, login_events RESTART IDENTITY CASCADE`
  const base = { ...postgresStores(sql), ...keep }
  return backend === 'postgres' ? base : { ...withRedis(base, redis as Redis), ...keep }
}

/** Rows in a table of the records store (users, notes; sessions when they are not in Redis). */
export async function countRows(stores: Stores, table: 'users' | 'sessions' | 'notes'): Promise<number> {
  if (table === 'sessions' && stores.sessionsIn === 'redis') return stores.sessions.countLive(0)
  if (stores.db) return stores.db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0
  const [row] = await (stores.sql as SQL).unsafe(`SELECT count(*) AS n FROM ${table}`)
  return Number(row?.n ?? 0)
}
