import { SQL } from 'bun'
import type { SchemaChange } from './service'
import { withinStoreTimeout } from './store-timeout'

/**
 * The PostgreSQL schema, versioned like the SQLite one (db/migrations.ts) and kept in step with it:
 * entry i brings the database to version i + 1. Append new entries; never edit one that has shipped.
 * Times are epoch milliseconds in bigint columns, read back through Number().
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    openid        text   NOT NULL UNIQUE,
    unionid       text,
    created_at    bigint NOT NULL,
    last_login_at bigint NOT NULL
  );
  CREATE TABLE sessions (
    token_hash  bytea  PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_key text   NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL
  );
  CREATE INDEX sessions_expires_at ON sessions(expires_at);
  CREATE INDEX sessions_user_created ON sessions(user_id, created_at);
  CREATE TABLE notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text       text   NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE INDEX notes_user_id ON notes(user_id, id);
  CREATE TABLE wechat_access_tokens (
    appid        text   PRIMARY KEY,
    access_token text,
    expires_at   bigint NOT NULL DEFAULT 0,
    lease_owner  text,
    lease_until  bigint NOT NULL DEFAULT 0
  );
  `,
  // 2: web-login tickets, as SQLite's migration 4.
  `
  CREATE TABLE web_login_tickets (
    id          text   PRIMARY KEY,
    secret_hash bytea  NOT NULL,
    status      text   NOT NULL CHECK (status IN ('waiting', 'scanned', 'confirmed', 'denied')),
    user_id     bigint REFERENCES users(id) ON DELETE CASCADE,
    ip          text,
    user_agent  text   NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL
  );
  CREATE INDEX web_login_tickets_expires_at ON web_login_tickets(expires_at);
  `,
  // 3: login events, as SQLite's migration 5.
  `
  CREATE TABLE login_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        bigint NOT NULL,
    outcome   text   NOT NULL,
    user_id   bigint,
    ip_prefix text
  );
  CREATE INDEX login_events_at ON login_events(at);
  `,
]

/** Any fixed number: every wxauth instance takes the same advisory lock to migrate. */
const MIGRATION_LOCK = 0x77786175 // "wxau"

export function connectPostgres(url: string, { max = 10 } = {}): SQL {
  return new SQL({ url, max, connectionTimeout: 3, idleTimeout: 60 })
}

/** The methods that send a query (or a whole transaction) and that the stores call. */
const QUERY_METHODS = new Set<PropertyKey>(['unsafe', 'begin', 'transaction'])

/**
 * `sql` with every query and transaction bounded by `timeoutMs`: past it the caller gets a StoreTimeoutError
 * (503 STORE_UNAVAILABLE). Bun has no per-query timeout of its own. The query itself is not cancelled (a
 * cancel needs the server too): its pooled connection stays busy until the server answers, then
 * returns to the pool, so the next queries succeed without a restart. A transaction (`begin`) that times
 * out is not rolled back by the timeout either: it may still commit once the server answers (a login
 * saved after its 503 leaves one session nobody holds the skey of, which expires like any other).
 * Tagged-template calls are bounded,
 * so pass values, not nested sql`` fragments (a bounded fragment would run on its own).
 */
export function boundQueries(sql: SQL, timeoutMs: number): SQL {
  const bounded = (query: unknown) =>
    query instanceof Promise ? withinStoreTimeout(query, 'PostgreSQL', timeoutMs) : query
  return new Proxy(sql, {
    apply(target, _this, args: unknown[]) {
      return bounded(Reflect.apply(target, target, args))
    },
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (!QUERY_METHODS.has(property)) return value.bind(target)
      return (...args: unknown[]) => bounded(Reflect.apply(value, target, args))
    },
  })
}

export async function postgresSchemaVersion(sql: SQL): Promise<number> {
  const [table] = await sql`SELECT to_regclass('wxauth_schema') IS NOT NULL AS present`
  if (!table?.present) return 0
  const [row] = await sql`SELECT version FROM wxauth_schema`
  return Number(row?.version ?? 0)
}

/**
 * Brings the schema up to date in one transaction under an advisory lock, so instances that
 * start together migrate once: the others wait for the lock, then find nothing left to do.
 */
export async function migratePostgres(sql: SQL): Promise<SchemaChange> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
    await tx`CREATE TABLE IF NOT EXISTS wxauth_schema (version integer NOT NULL)`
    const [row] = await tx`SELECT version FROM wxauth_schema`
    if (!row) await tx`INSERT INTO wxauth_schema (version) VALUES (0)`
    const current = Number(row?.version ?? 0)
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this wxauth (${PG_MIGRATIONS.length})`)
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await tx.unsafe(PG_MIGRATIONS[version] as string)
      await tx`UPDATE wxauth_schema SET version = ${version + 1}`
    }
    return { from: current, to: PG_MIGRATIONS.length }
  })
}
