import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { type Clock, systemClock } from './libs/clock'
import { renderError } from './libs/errors'
import {
  type Config,
  createApiDocs,
  createHealthRoutes,
  createNotesRoutes,
  type Stores,
  type WechatClient,
  wxauth,
} from './modules'
import { createConsoleRoutes } from './modules/console'
import { createConsoleService } from './modules/console/service'
import { createMetricsRoute } from './modules/telemetry'
import type { Metrics } from './modules/telemetry/service'

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
      | 'webLogin'
      | 'adminOpenids'
      | 'loginEventsDays'
    >
  >
  /** Serves GET /metrics when given; share it with the sweeper, the WeChat client and servedWithTelemetry. */
  metrics?: Metrics
}

/**
 * The whole HTTP app, bound to no port: the entry point serves it (through servedWithTelemetry), tests
 * call `app.handle()`. The app owns every route, so its error handler also answers unknown routes.
 */
export function createApp({ db, stores, wechat, clock = systemClock, config = {}, metrics }: AppDependencies) {
  // Named one by one, not spread: the entry point passes its whole Config, whose other keys (its
  // WeChat settings among them) must not reach the plugin's options.
  const {
    sessionTtlSeconds,
    sessionSliding,
    maxSessionsPerUser,
    loginRateLimit,
    trustProxy,
    webLogin,
    adminOpenids = [],
    loginEventsDays,
  } = config
  const auth = wxauth({
    db,
    stores,
    wechat,
    clock,
    sessionTtlSeconds,
    sessionSliding,
    maxSessionsPerUser,
    loginRateLimit,
    trustProxy,
    webLogin,
    loginEventsDays,
  })
  const { stores: wired } = auth
  // Every plugin brings its own error handler for its routes. This one comes last, so it attaches to
  // no route (Elysia would compile wxauth's hot routes async, and the others would run two): it
  // answers unknown routes. By default Elysia takes the path from the first '/' at or after the 11th
  // character of request.url, which skips into the path when the Host header is short (`Host: x`
  // turns GET /xx/metrics into /metrics); standardHostname: false searches from just after
  // `http://`, in the router and in every route's handler.
  const api = new Elysia({ handler: { standardHostname: false } })
    .use(auth)
    .use(createNotesRoutes({ notes: wired.notes, guard: auth.guard, clock }))
    .use(createHealthRoutes(wired))
    .use(metrics ? createMetricsRoute(metrics) : new Elysia())
    .use(adminOpenids.length > 0 ? consoleFor(auth, adminOpenids, clock) : new Elysia())
    .onError(renderError)
  // loginEvents: the entry point flushes it at shutdown; tests flush and sweep it.
  return Object.assign(api.use(createApiDocs(api)), { loginEvents: auth.loginEvents })
}

/** The admin console over the plugin's stores, guard, login events and settings; it signs admins in with the web login. */
function consoleFor(auth: ReturnType<typeof wxauth>, adminOpenids: readonly string[], clock: Clock) {
  const { webLogin, trustProxy, sessionTtlSeconds, maxSessionsPerUser } = auth.settings
  if (!webLogin)
    throw new Error('wxauth: adminOpenids needs webLogin: admins sign in to the console with the web login')
  const service = createConsoleService({
    stores: auth.stores,
    loginEvents: auth.loginEvents,
    clock,
    adminOpenids,
    sessionTtlSeconds,
    maxSessionsPerUser,
  })
  return createConsoleRoutes({
    service,
    guard: auth.guard,
    isAllowedOrigin: auth.isAllowedOrigin,
    trustProxy,
    sessionTtlSeconds,
  })
}

export type App = ReturnType<typeof createApp>
