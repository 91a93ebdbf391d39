import type { Database } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import type { Config } from '../config/model'
import { ConfigError, type Env, readConfig } from '../config/service'
import { MIGRATIONS } from '../db/migrations'
import { connectPostgres, PG_MIGRATIONS, postgresSchemaVersion } from '../db/postgres'
import { connectRedis } from '../db/redis'
import { connectDatabase, schemaVersion } from '../db/service'
import { postgresStores, type Stores, sqliteStores, withRedis } from '../store/service'
import { type AdminCommand, type AdminOutput, runAdminCommand } from './cli'
import { createAdminService } from './service'

/** A store the admin commands will not work on: one line on stderr, exit code 1. */
class Refusal extends Error {}

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Where the store lives, without any password the URL may hold. */
export function describeUrl(url: string): string {
  const { protocol, host, pathname } = new URL(url)
  return `${protocol}//${host}${pathname}`
}

/** The start-up and admin failure for a store URL, without its password. */
export const cannotReach = (variable: string, url: string) => `cannot reach ${variable} (${describeUrl(url)})`

async function reach<T>(step: Promise<T>, variable: 'DATABASE_URL' | 'REDIS_URL', url: string): Promise<T> {
  try {
    return await step
  } catch (error) {
    throw new Refusal(`${cannotReach(variable, url)}: ${messageOf(error)}`)
  }
}

function refuseOtherSchema(version: number, expected: number, where: string): void {
  if (version === expected) return
  const advice = version < expected ? 'run wxauth migrate first' : 'use a newer wxauth'
  throw new Refusal(`${where} is at schema version ${version}, this wxauth expects ${expected}; ${advice}`)
}

/** The SQLite file the server uses: opened, never created or migrated here. */
function localStores(databasePath: string): Stores {
  if (databasePath !== ':memory:' && !existsSync(databasePath)) {
    throw new Refusal(`no database at ${databasePath}; start the server or run wxauth migrate first`)
  }
  let db: Database
  let version: number
  try {
    db = connectDatabase(databasePath)
    version = schemaVersion(db)
  } catch (error) {
    throw new Refusal(`cannot open DATABASE_PATH=${databasePath}: ${messageOf(error)}`)
  }
  try {
    refuseOtherSchema(version, MIGRATIONS.length, databasePath)
  } catch (error) {
    db.close()
    throw error
  }
  // Prepares statements only: nothing is written until a command writes.
  return sqliteStores(db)
}

/** PostgreSQL (and Redis) as the server sees them: connected, checked, never migrated here. */
async function remoteStores(
  databaseUrl: string,
  redisUrl: string | undefined,
  storeTimeoutMs: number,
): Promise<Stores> {
  const sql = connectPostgres(databaseUrl)
  try {
    const version = await reach(postgresSchemaVersion(sql), 'DATABASE_URL', databaseUrl)
    refuseOtherSchema(version, PG_MIGRATIONS.length, describeUrl(databaseUrl))
    const base = postgresStores(sql, { storeTimeoutMs })
    if (!redisUrl) return base
    return withRedis(base, await reach(connectRedis(redisUrl, { timeoutMs: storeTimeoutMs }), 'REDIS_URL', redisUrl))
  } catch (error) {
    await sql.close()
    throw error
  }
}

async function openAdminStores(config: Config): Promise<Stores> {
  const { databasePath, databaseUrl, redisUrl, storeTimeoutMs } = config
  if (redisUrl && !databaseUrl) {
    throw new Refusal(
      'with REDIS_URL but no DATABASE_URL the users are in SQLite and the sessions in Redis; the admin commands need DATABASE_URL (see README: Scaling out)',
    )
  }
  return databaseUrl ? remoteStores(databaseUrl, redisUrl, storeTimeoutMs) : localStores(databasePath)
}

export interface RunAdminOptions {
  env?: Env
  io?: AdminOutput
  nowMs?: number
}

/**
 * Runs one admin command on the server's existing stores (DATABASE_PATH, or DATABASE_URL and
 * REDIS_URL), which it never creates or migrates behind the server's back. Returns the exit code.
 */
export async function runAdmin(
  command: AdminCommand,
  { env = process.env, io = { out: console.log, err: console.error }, nowMs = Date.now() }: RunAdminOptions = {},
): Promise<number> {
  let stores: Stores
  let config: Config
  try {
    config = readConfig(env, 'admin')
    stores = await openAdminStores(config)
  } catch (error) {
    if (!(error instanceof Refusal || error instanceof ConfigError)) throw error
    io.err(`wxauth: ${error.message}`)
    return 1
  }
  try {
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
    const admin = createAdminService(stores, {
      adminOpenids: config.adminOpenids,
      serverUrl: `http://${host}:${config.port}`,
    })
    return await runAdminCommand(command, admin, nowMs, io)
  } finally {
    await stores.close()
  }
}
