import { existsSync } from 'node:fs'
import packageJson from '../package.json'
import { systemClock } from './libs/clock'
import { createLogger, setLogger } from './libs/log'
import { type AdminCommand, type Command, parseCommand, runAdminCommand, UsageError } from './modules/admin/cli'
import { USAGE } from './modules/admin/model'
import { createAdminService } from './modules/admin/service'
import { MIGRATIONS } from './modules/db/migrations'
import { connectDatabase, schemaVersion } from './modules/db/service'
import {
  type Config,
  ConfigError,
  createApp,
  createMetrics,
  createSessionStore,
  createWechatClient,
  createWechatSimulator,
  type Metrics,
  type Mode,
  openDatabase,
  readConfig,
  startSweeper,
  timedFetch,
} from './server'

const DEV_BANNER = `
  ┌──────────────────────────────────────────────────────────────┐
  │  wxauth DEV MODE — logins go to the built-in WeChat simulator │
  │  Any code is accepted. NOT FOR PRODUCTION: use bun run start. │
  └──────────────────────────────────────────────────────────────┘`

/** Elysia keeps a ~5-minute cache timer alive; commands leave through here instead of waiting for it. */
function exit(code: number): never {
  process.exit(code)
}

function loadConfig(mode: Mode): Config {
  try {
    return readConfig(process.env, mode)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(`wxauth: ${error.message}`)
    exit(1)
  }
}

/** Start-up failures the operator can fix end in one line, not a stack trace. */
function orExit<T>(step: () => T, what: string): T {
  try {
    return step()
  } catch (error) {
    console.error(`wxauth: ${what}: ${error instanceof Error ? error.message : String(error)}`)
    exit(1)
  }
}

function wechatFor(mode: Mode, config: Config, metrics: Metrics | undefined) {
  const upstream = mode === 'dev' ? createWechatSimulator(config.wechat).fetch : globalThis.fetch
  return createWechatClient({ ...config.wechat, fetch: metrics ? timedFetch(metrics, upstream) : upstream })
}

function serve(mode: Mode): void {
  const config = loadConfig(mode)
  if (mode === 'dev') console.warn(DEV_BANNER)

  const logger = createLogger(config.logLevel)
  setLogger(logger)
  const db = orExit(() => openDatabase(config.databasePath), `cannot open DATABASE_PATH=${config.databasePath}`)
  const sessions = createSessionStore(db)
  const metrics = config.metrics ? createMetrics({ db, clock: systemClock }) : undefined
  const wechat = wechatFor(mode, config, metrics)
  const app = createApp({ db, wechat, config, sessions, logger, metrics })
  orExit(
    () => app.listen({ port: config.port, hostname: config.host, reusePort: false }),
    `cannot listen on ${config.host}:${config.port}`,
  )
  const sweeper = startSweeper({
    sessions,
    intervalMs: config.sweepIntervalSeconds * 1000,
    clock: systemClock,
    worker: config.databasePath === ':memory:' ? undefined : { db, path: config.databasePath },
    onSwept: (deleted, elapsedMs) => {
      metrics?.sweep(deleted)
      if (deleted > 0) logger.info(`swept ${deleted} expired sessions`, { deleted, durationMs: Math.round(elapsedMs) })
    },
    onError: (error) => logger.error('sweep failed', { error: error instanceof Error ? error.message : String(error) }),
  })
  const url = `http://${app.server?.hostname}:${app.server?.port}`
  logger.info(`wxauth listening on ${url}`, { url, mode, version: packageJson.version })

  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    logger.info(`${signal} received, finishing in-flight requests`, { signal })
    await app.stop()
    await sweeper.stop()
    db.close()
    logger.info('stopped')
    await logger.flush()
    exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

function migrateOnly(): never {
  const { databasePath } = loadConfig('dev')
  const db = orExit(() => openDatabase(databasePath), `cannot migrate DATABASE_PATH=${databasePath}`)
  console.log(`wxauth: ${databasePath} is at schema version ${schemaVersion(db)}`)
  db.close()
  exit(0)
}

/** Admin commands work on the server's existing database, never create one, and never migrate it behind its back. */
function runAdmin(command: AdminCommand): never {
  const { databasePath } = loadConfig('dev')
  if (databasePath !== ':memory:' && !existsSync(databasePath)) {
    console.error(`wxauth: no database at ${databasePath}; start the server or run wxauth migrate first`)
    exit(1)
  }
  const db = orExit(() => connectDatabase(databasePath), `cannot open DATABASE_PATH=${databasePath}`)
  const version = schemaVersion(db)
  if (version !== MIGRATIONS.length) {
    const advice = version < MIGRATIONS.length ? 'run wxauth migrate first' : 'use a newer wxauth'
    console.error(
      `wxauth: ${databasePath} is at schema version ${version}, this wxauth expects ${MIGRATIONS.length}; ${advice}`,
    )
    exit(1)
  }
  const admin = createAdminService(db, databasePath)
  const code = runAdminCommand(command, admin, Date.now(), { out: console.log, err: console.error })
  db.close()
  exit(code)
}

function main(args: string[]): void {
  let command: Command
  try {
    command = parseCommand(args)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`wxauth: ${error.message}\n\n${USAGE}`)
    exit(2)
  }
  if (command.name === 'help') {
    console.log(USAGE)
    exit(0)
  }
  if (command.name === 'version') {
    console.log(packageJson.version)
    exit(0)
  }
  if (command.name === 'serve' || command.name === 'dev') serve(command.name === 'dev' ? 'dev' : 'start')
  else if (command.name === 'migrate') migrateOnly()
  else runAdmin(command)
}

main(process.argv.slice(2))
