import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { bodyLimit } from '../../libs/body-limit'
import { type Clock, isoTime, systemClock } from '../../libs/clock'
import { AppError, errors } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import { clientAddress, createRateLimiter } from '../../libs/rate-limit'
import { createOpenDataRoutes } from '../opendata'
import { createGuard, type Guard } from '../sessions'
import type { Session } from '../sessions/model'
import type { SessionStore } from '../sessions/service'
import { type Stores, sqliteStores } from '../store/service'
import { type AccessTokenManager, createAccessTokenManager } from '../access-token/service'
import { toPublicUser } from '../users/service'
import type { WechatClient } from '../wechat/model'
import {
  AuthModel,
  DEFAULT_LOGIN_RATE_LIMIT,
  DEFAULT_MAX_SESSIONS_PER_USER,
  DEFAULT_SESSION_TTL_SECONDS,
} from './model'
import { redisLoginReplay } from './shared-replay'
import { createLoginService } from './service'

export interface WxauthOptions {
  /** An open SQLite database with wxauth's schema (see openDatabase); or pass `stores`. */
  db?: Database
  /** PostgreSQL / Redis stores (see connectRemoteStores); built from `db` when absent. */
  stores?: Stores
  wechat: WechatClient
  clock?: Clock
  sessionTtlSeconds?: number
  /** A login beyond this many sessions of one user ends the oldest. Default 10. */
  maxSessionsPerUser?: number
  /** Logins per minute per client IP (0: no limit). Default 20. */
  loginRateLimit?: number
  /** Believe X-Forwarded-For (only behind a reverse proxy you run). Default false. */
  trustProxy?: boolean
  /** Share one store and guard with other modules; built from `db` when absent. */
  sessions?: SessionStore
  guard?: Guard
  tokens?: AccessTokenManager
}

function requireDatabase(db: Database | undefined): Database {
  if (!db) throw new Error('wxauth: pass db (an open SQLite database) or stores')
  return db
}

const expiryTexts = new WeakMap<Session, string>()
/** A cached session's expiry as ISO text, formatted once rather than on every /auth/me. */
function expiryOf(session: Session): string {
  let text = expiryTexts.get(session)
  if (text === undefined) {
    text = isoTime(session.expiresAt)
    expiryTexts.set(session, text)
  }
  return text
}

/**
 * POST /auth/login, GET /auth/me, POST /auth/logout, the /wechat/* open-data routes, plus the `auth`
 * macro for your own routes:
 * `new Elysia().use(wxauth({ db, wechat })).get('/x', ({ user }) => user, { auth: true })`.
 */
export function wxauth({
  db,
  wechat,
  clock = systemClock,
  sessionTtlSeconds = DEFAULT_SESSION_TTL_SECONDS,
  maxSessionsPerUser = DEFAULT_MAX_SESSIONS_PER_USER,
  loginRateLimit = DEFAULT_LOGIN_RATE_LIMIT,
  trustProxy = false,
  ...shared
}: WxauthOptions) {
  const whole = (value: number, min: number) => Number.isSafeInteger(value) && value >= min
  if (!whole(sessionTtlSeconds, 1)) throw new Error('wxauth: sessionTtlSeconds must be a positive whole number')
  if (!whole(maxSessionsPerUser, 1)) throw new Error('wxauth: maxSessionsPerUser must be a positive whole number')
  if (!whole(loginRateLimit, 0)) throw new Error('wxauth: loginRateLimit must be a whole number (0 turns it off)')
  const stores = shared.stores ?? sqliteStores(requireDatabase(db), shared.sessions)
  const { sessions } = stores
  const guard = shared.guard ?? createGuard({ sessions, clock })
  const logins = createLoginService({
    db: stores.db,
    sessions,
    wechat,
    clock,
    sessionTtlSeconds,
    maxSessionsPerUser,
    shared: stores.redis ? redisLoginReplay(stores.redis) : undefined,
  })
  const limiter = loginRateLimit > 0 ? createRateLimiter(loginRateLimit) : null
  let warnedNoAddress = false
  function warnNoAddressOnce(): void {
    if (warnedNoAddress) return
    warnedNoAddress = true
    logger().warn('login rate limit off: no client address (not served by Bun.serve and TRUST_PROXY is off)')
  }
  const tokens = shared.tokens ?? createAccessTokenManager({ store: stores.tokens, wechat, clock })

  return new Elysia()
    .use(errors)
    .use(bodyLimit)
    .use(guard)
    .post(
      '/auth/login',
      async function login({ body }) {
        const { skey, expiresAt, user } = await logins.login(body.code)
        return { skey, expiresAt: isoTime(expiresAt), user: toPublicUser(user) }
      },
      {
        body: AuthModel.loginBody,
        response: { 200: AuthModel.loginResponse },
        beforeHandle: function limitLoginsPerIp({ request, server, set }) {
          if (!limiter) return
          const address = clientAddress(request, server, trustProxy)
          // Without an address every client would share one bucket and 20 logins a minute would be the
          // whole app's limit: let the login through and say once why nothing is limited.
          if (address === null) return warnNoAddressOnce()
          const waitMs = limiter.take(address, clock())
          if (waitMs === 0) return
          set.headers['retry-after'] = String(Math.ceil(waitMs / 1000))
          throw new AppError(
            429,
            'RATE_LIMITED',
            'too many logins from this address; retry after the Retry-After seconds',
          )
        },
        detail: routeDoc({
          summary: 'Log in with a wx.login code',
          description:
            'Exchanges the code at jscode2session, upserts the user and starts a session. The same code within 5 minutes gets the same answer.',
          tag: 'auth',
          body: true,
          errors: {
            401: ['WECHAT_CODE_INVALID'],
            403: ['WECHAT_USER_BLOCKED'],
            429: ['RATE_LIMITED', 'WECHAT_RATE_LIMITED'],
            502: ['WECHAT_UNAVAILABLE'],
            503: ['STORE_UNAVAILABLE'],
          },
        }),
      },
    )
    .get(
      '/auth/me',
      function me({ user, session }) {
        return { user: toPublicUser(user), expiresAt: expiryOf(session) }
      },
      {
        auth: true,
        // No runtime response check here: it would cost more than the whole skey check (see BENCHMARKS.md).
        detail: routeDoc({
          summary: 'The user and expiry of this skey',
          tag: 'auth',
          auth: true,
          success: { 200: { description: 'the session is live', schema: AuthModel.meResponse } },
        }),
      },
    )
    .post(
      '/auth/logout',
      async function logout({ session, set }) {
        await sessions.delete(session.tokenHash)
        set.status = 204
      },
      {
        auth: true,
        detail: routeDoc({
          summary: 'End this session',
          description: "Only this skey ends; the user's other sessions live on.",
          tag: 'auth',
          auth: true,
          success: { 204: { description: 'the skey is dead' } },
        }),
      },
    )
    .post(
      '/auth/logout-all',
      async function logoutEverywhere({ user, set }) {
        await sessions.deleteForUser(user.id)
        set.status = 204
      },
      {
        auth: true,
        detail: routeDoc({
          summary: 'End every session of this user',
          description: 'Every skey of the user stops working at once, on every device.',
          tag: 'auth',
          auth: true,
          success: { 204: { description: 'all sessions ended' } },
        }),
      },
    )
    .use(createOpenDataRoutes({ sessions, guard, wechat, tokens }))
}
