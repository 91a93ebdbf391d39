import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { type Clock, systemClock } from './libs/clock'
import {
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

export { AppError } from './libs/errors'
export * from './modules'

export interface AppDependencies {
  db: Database
  wechat: WechatClient
  clock?: Clock
  config?: { sessionTtlSeconds?: number }
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
  const guard = createGuard({ sessions, clock })
  const api = new Elysia()
    .use(wxauth({ db, wechat, clock, sessionTtlSeconds: config.sessionTtlSeconds, sessions, guard }))
    .use(createNotesRoutes({ notes: createNoteStore(db), guard, clock }))
    .use(createHealthRoutes({ db }))
  return api.use(createApiDocs(api))
}

export type App = ReturnType<typeof createApp>
