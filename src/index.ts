import packageJson from '../package.json'
import { systemClock } from './libs/clock'
import { createLogger, type Logger, setLogger } from './libs/log'
import { SERVE_OPTIONS } from './libs/serve-options'
import { runBackup } from './modules/admin/backup'
import { type Command, devBanner, parseCommand, UsageError } from './modules/admin/cli'
import { USAGE } from './modules/admin/model'
import { cannotReach, describeUrl, messageOf, runAdmin } from './modules/admin/run'
import { describeSchemaChange, openMigratedDatabase } from './modules/db/service'
import { LOGIN_EVENT_RETENTION_EVERY_MS } from './modules/login-events/service'
import type { Sweeper } from './modules/sessions/service'
import { StoreConnectError } from './modules/store/service'
import {
  type Config,
  ConfigError,
  connectPostgres,
  connectRemoteStores,
  createApp,
  createMetrics,
  createWechatClient,
  createWechatSimulator,
  type Metrics,
  type Mode,
  migratePostgres,
  openDatabase,
  readConfig,
  type Stores,
  servedWithTelemetry,
  sqliteStores,
  startSweeper,
  timedFetch,
} from './server'

/** A compiled binary runs from Bun's embedded file system; `bun run` runs the source. */
const START_COMMAND = import.meta.url.includes('/$bunfs/') ? 'wxauth serve' : 'bun run start'

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
    console.error(`wxauth: ${what}: ${messageOf(error)}`)
    exit(1)
  }
}

function wechatFor(mode: Mode, config: Config, metrics: Metrics | undefined) {
  const upstream = mode === 'dev' ? createWechatSimulator(config.wechat).fetch : globalThis.fetch
  return createWechatClient({ ...config.wechat, fetch: metrics ? timedFetch(metrics, upstream) : upstream })
}

/** The same, for a step that finishes later (connecting to PostgreSQL or Redis). */
async function orExitLater<T>(step: Promise<T>, what: string): Promise<T> {
  try {
    return await step
  } catch (error) {
    console.error(`wxauth: ${what}: ${messageOf(error)}`)
    exit(1)
  }
}

/** SQLite at DATABASE_PATH unless DATABASE_URL / REDIS_URL say otherwise; unreachable → exit 1 naming the variable. */
async function openStores(config: Config): Promise<Stores> {
  const openLocal = () =>
    orExit(() => openDatabase(config.databasePath), `cannot open DATABASE_PATH=${config.databasePath}`)
  if (!config.databaseUrl && !config.redisUrl) return sqliteStores(openLocal())
  try {
    return await connectRemoteStores(config, openLocal)
  } catch (error) {
    if (!(error instanceof StoreConnectError)) throw error
    const url = error.variable === 'DATABASE_URL' ? config.databaseUrl : config.redisUrl
    console.error(`wxauth: ${cannotReach(error.variable, url ?? '')}: ${error.message}`)
    exit(1)
  }
}

function startSweeping(config: Config, stores: Stores, logger: Logger, metrics: Metrics | undefined): Sweeper | null {
  if (!stores.sessions.needsSweep) return null
  const { db } = stores
  return startSweeper({
    sessions: stores.sessions,
    intervalMs: config.sweepIntervalSeconds * 1000,
    clock: systemClock,
    worker: db && config.databasePath !== ':memory:' ? { db, path: config.databasePath } : undefined,
    onSwept: (deleted, elapsedMs) => {
      metrics?.sweep(deleted)
      if (deleted > 0) logger.info(`swept ${deleted} expired sessions`, { deleted, durationMs: Math.round(elapsedMs) })
    },
    onError: (error) => logger.error('sweep failed', { error: error instanceof Error ? error.message : String(error) }),
  })
}

async function serve(mode: Mode): Promise<void> {
  const config = loadConfig(mode)
  if (mode === 'dev') console.warn(devBanner(START_COMMAND, config))

  const logger = createLogger(config.logLevel)
  setLogger(logger)
  const stores = await openStores(config)
  const metrics = config.metrics
    ? createMetrics({ countLive: stores.sessions.countLive, clock: systemClock })
    : undefined
  const wechat = wechatFor(mode, config, metrics)
  const app = createApp({ stores, wechat, config, metrics })
  const server = orExit(
    () =>
      Bun.serve({
        port: config.port,
        hostname: config.host,
        ...SERVE_OPTIONS,
        ...servedWithTelemetry(app, { logger, metrics }),
      }),
    `cannot listen on ${config.host}:${config.port}`,
  )
  // The login rate limiter asks the server for the client's address through Elysia's context.
  app.server = server
  const sweeper = startSweeping(config, stores, logger, metrics)
  // Login events older than LOGIN_EVENTS_DAYS go every 10 minutes, whether or not anyone logs in.
  const retention = setInterval(() => void app.loginEvents.sweep(), LOGIN_EVENT_RETENTION_EVERY_MS)
  const url = `http://${server.hostname}:${server.port}`
  logger.info(`wxauth listening on ${url}`, {
    url,
    mode,
    version: packageJson.version,
    records: stores.records,
    sessions: stores.sessionsIn,
  })

  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    logger.info(`${signal} received, finishing in-flight requests`, { signal })
    await server.stop()
    clearInterval(retention)
    await app.loginEvents.stop()
    await sweeper?.stop()
    await stores.close()
    logger.info('stopped')
    await logger.flush()
    exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

async function migrateOnly(): Promise<never> {
  const { databasePath, databaseUrl } = loadConfig('admin')
  if (databaseUrl) {
    const sql = connectPostgres(databaseUrl)
    const where = describeUrl(databaseUrl)
    const change = await orExitLater(migratePostgres(sql), `cannot migrate DATABASE_URL (${where})`)
    console.log(`wxauth: ${describeSchemaChange(where, change)}`)
    await sql.close()
    exit(0)
  }
  const { db, change } = orExit(
    () => openMigratedDatabase(databasePath),
    `cannot migrate DATABASE_PATH=${databasePath}`,
  )
  console.log(`wxauth: ${describeSchemaChange(databasePath, change)}`)
  db.close()
  exit(0)
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
  if (command.name === 'serve' || command.name === 'dev') void serve(command.name === 'dev' ? 'dev' : 'start')
  else if (command.name === 'migrate') void migrateOnly()
  else if (command.name === 'backup' || command.name === 'restore') exit(runBackup(command))
  else void runAdmin(command).then(exit)
}

main(process.argv.slice(2))
