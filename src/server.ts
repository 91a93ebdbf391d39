import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { type Clock, systemClock } from './libs/clock'
import { createLogger, type Logger } from './libs/log'
import {
  type Config,
  createApiDocs,
  createGuard,
  createHealthRoutes,
  createNotesRoutes,
  type SessionStore,
  type Stores,
  sqliteStores,
  type WechatClient,
  wxauth,
} from './modules'
import { DEFAULT_SESSION_TTL_SECONDS } from './modules/auth/model'
import { createTelemetry } from './modules/telemetry'
import { createMetrics, type Metrics } from './modules/telemetry/service'

export { AppError } from './libs/errors'
export * from './modules'

export interface AppDependencies {
  /** An open SQLite database (see openDatabase); or pass `stores` for PostgreSQL / Redis. */
  db?: Database
  stores?: Stores
  wechat: WechatClient
  clock?: Clock
  config?: Partial<
    Pick<
      Config,
      | 'sessionTtlSeconds'
      | 'sessionSliding'
      | 'maxSessionsPerUser'
      | 'loginRateLimit'
      | 'trustProxy'
      | 'logLevel'
      | 'metrics'
    >
  >
  /** Share the SQLite session store with the sweeper; built from `db` when absent. */
  sessions?: SessionStore
  /** Request log lines go here; by default JSON on stdout at `config.logLevel` (info). */
  logger?: Logger
  /** Share with the sweeper and the WeChat client; built when `config.metrics` is true. */
  metrics?: Metrics
}

/** The whole HTTP app, bound to no port: the entry point listens, tests call `app.handle()`. */
export function createApp({
  db,
  sessions,
  stores = db ? sqliteStores(db, sessions) : undefined,
  wechat,
  clock = systemClock,
  config = {},
  logger = createLogger(config.logLevel),
  metrics,
}: AppDependencies) {
  if (!stores) throw new Error('createApp: pass db (an open SQLite database) or stores')
  metrics ??= config.metrics ? createMetrics({ countLive: stores.sessions.countLive, clock }) : undefined
  const sessionTtlSeconds = config.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS
  const guard = createGuard({
    sessions: stores.sessions,
    clock,
    slidingTtlSeconds: config.sessionSliding ? sessionTtlSeconds : undefined,
  })
  const { maxSessionsPerUser, loginRateLimit, trustProxy } = config
  const api = new Elysia()
    .use(createTelemetry({ logger, metrics }))
    .use(wxauth({ stores, wechat, clock, guard, sessionTtlSeconds, maxSessionsPerUser, loginRateLimit, trustProxy }))
    .use(createNotesRoutes({ notes: stores.notes, guard, clock }))
    .use(createHealthRoutes({ ping: stores.ping, synchronous: stores.synchronous }))
  return api.use(createApiDocs(api))
}

export type App = ReturnType<typeof createApp>
