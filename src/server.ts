import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { type Clock, systemClock } from './libs/clock'
import {
  type Config,
  createApiDocs,
  createGuard,
  createHealthRoutes,
  createNoteStore,
  createNotesRoutes,
  createSessionStore,
  type SessionStore,
  type WechatClient,
  wxauth,
} from './modules'
import { DEFAULT_SESSION_TTL_SECONDS } from './modules/auth/model'

export { AppError } from './libs/errors'
export * from './modules'

export interface AppDependencies {
  db: Database
  wechat: WechatClient
  clock?: Clock
  config?: Partial<
    Pick<Config, 'sessionTtlSeconds' | 'sessionSliding' | 'maxSessionsPerUser' | 'loginRateLimit' | 'trustProxy'>
  >
  /** Share the store with the sweeper; built from `db` when absent. */
  sessions?: SessionStore
}

/** The whole HTTP app, bound to no port: the entry point listens, tests call `app.handle()`. */
export function createApp({
  db,
  wechat,
  clock = systemClock,
  config = {},
  sessions = createSessionStore(db),
}: AppDependencies) {
  const sessionTtlSeconds = config.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS
  const guard = createGuard({
    sessions,
    clock,
    slidingTtlSeconds: config.sessionSliding ? sessionTtlSeconds : undefined,
  })
  const { maxSessionsPerUser, loginRateLimit, trustProxy } = config
  const api = new Elysia()
    .use(
      wxauth({ db, wechat, clock, sessions, guard, sessionTtlSeconds, maxSessionsPerUser, loginRateLimit, trustProxy }),
    )
    .use(createNotesRoutes({ notes: createNoteStore(db), guard, clock }))
    .use(createHealthRoutes({ db }))
  return api.use(createApiDocs(api))
}

export type App = ReturnType<typeof createApp>
