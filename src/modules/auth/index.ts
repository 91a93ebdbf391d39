import type { Database } from 'bun:sqlite'
import { Elysia } from 'elysia'
import { bodyLimit } from '../../libs/body-limit'
import { type Clock, isoTime, systemClock } from '../../libs/clock'
import { errors } from '../../libs/errors'
import { FORWARD_AUTH_HEADERS, routeDoc } from '../../libs/openapi'
import { createOriginCheck, isExactOrigin, requestPlace } from '../../libs/origin'
import { plainRoute } from '../../libs/plain-route'
import { type AddressSource, clientAddress } from '../../libs/rate-limit'
import { noteUserId, signedInByCookie } from '../../libs/request-facts'
import { createAccessTokenManager } from '../access-token/service'
import { DEFAULTS, LIMITS, type WebLoginConfig } from '../config/model'
import { ipPrefixOf } from '../login-events/model'
import { createLoginEventLog, outcomeOf } from '../login-events/service'
import { createOpenDataRoutes } from '../opendata'
import { createGuard, type SessionAnswer } from '../sessions'
import type { Session } from '../sessions/model'
import { type Stores, sqliteStores } from '../store/service'
import type { User } from '../users/model'
import { toPublicUser } from '../users/service'
import { createWebLoginRoutes } from '../web-login'
import { clearedSessionCookie, sessionCookie } from '../web-login/cookies'
import { PAGE_PATH, SESSION_COOKIE } from '../web-login/model'
import { createWebLoginService } from '../web-login/service'
import type { WechatClient } from '../wechat/model'
import { AuthModel } from './model'
import { createLoginService } from './service'
import { createIpLimit } from './shared-rate-limit'
import { redisLoginReplay } from './shared-replay'

/** The options of `wxauth()`: the names of Config, the defaults and ranges of its variables (README: Configuration). */
export interface WxauthOptions {
  /** An open SQLite database with wxauth's schema (see openDatabase); or pass `stores`. */
  db?: Database
  /** PostgreSQL / Redis stores (see connectRemoteStores); built from `db` when absent. */
  stores?: Stores
  wechat: WechatClient
  clock?: Clock
  /** How long a session lives, in seconds (SESSION_TTL). */
  sessionTtlSeconds?: number
  /** A request in the second half of a session's life renews it for another TTL (SESSION_SLIDING). */
  sessionSliding?: boolean
  /** A login beyond this many sessions of one user ends the oldest (MAX_SESSIONS_PER_USER). */
  maxSessionsPerUser?: number
  /** Logins per minute per client IP, 0: no limit (LOGIN_RATE_LIMIT). */
  loginRateLimit?: number
  /** Believe X-Forwarded-For, only behind a reverse proxy you run (TRUST_PROXY). */
  trustProxy?: boolean
  /** Scan a mini program code to log in on the web (WEB_LOGIN); off when absent. Unset fields take their defaults. */
  webLogin?: Partial<WebLoginConfig> | null
  /** Days every login attempt is kept for the admin console's activity view (LOGIN_EVENTS_DAYS). */
  loginEventsDays?: number
}

/**
 * `build(user, session)` once per cached session and user row: what the hot routes answer a live skey
 * with. A session that slides, or a user row that changes, is a new object and gets built anew.
 */
function builtOncePerSession<T>(build: (user: User, session: Session) => T) {
  const built = new WeakMap<Session, { user: User; value: T }>()
  return (user: User, session: Session): T => {
    const known = built.get(session)
    if (known?.user === user) return known.value
    const value = build(user, session)
    built.set(session, { user, value })
    return value
  }
}

/** GET /auth/me's body. */
const meBodyOf = builtOncePerSession((user, session) =>
  JSON.stringify({ user: toPublicUser(user), expiresAt: isoTime(session.expiresAt) }),
)
/** What /auth/verify tells the proxy. A Headers object, not a plain one: a Response copies it for less. */
const forwardHeadersOf = builtOncePerSession((user, session) => {
  const headers = new Headers({
    'x-wxauth-user-id': String(user.id),
    'x-wxauth-openid': user.openid,
    'x-wxauth-expires-at': isoTime(session.expiresAt),
  })
  if (user.unionid !== null) headers.set('x-wxauth-unionid', user.unionid)
  return headers
})
/** Response.json's content type. Each Response copies it, so a cookie appended to one answer stays there. */
const JSON_HEADERS = new Headers({ 'content-type': 'application/json;charset=utf-8' })
const answerMe: SessionAnswer = ({ user, session }) => new Response(meBodyOf(user, session), { headers: JSON_HEADERS })
const answerVerify: SessionAnswer = ({ user, session }) =>
  new Response(null, { status: 204, headers: forwardHeadersOf(user, session) })

/** Refuses a setting outside the range the environment allows for it (config LIMITS). */
function requireWhole(name: string, value: number, [min, max]: readonly [number, number]): void {
  if (Number.isSafeInteger(value) && value >= min && value <= max) return
  throw new Error(`wxauth: ${name} must be a whole number from ${min} to ${max}`)
}

/** The web-login settings with their defaults, checked as readConfig checks the environment; null when off. */
function webLoginOf(given: Partial<WebLoginConfig> | null | undefined): WebLoginConfig | null {
  if (!given) return null
  const config: WebLoginConfig = {
    page: given.page ?? DEFAULTS.WEB_LOGIN_PAGE,
    envVersion: given.envVersion ?? DEFAULTS.WEB_LOGIN_ENV,
    ttlSeconds: given.ttlSeconds ?? DEFAULTS.WEB_LOGIN_TTL,
    origins: given.origins ?? [],
  }
  requireWhole('webLogin.ttlSeconds', config.ttlSeconds, LIMITS.WEB_LOGIN_TTL)
  if (!PAGE_PATH.test(config.page)) {
    throw new Error('wxauth: webLogin.page must be a page path like pages/web-login/index')
  }
  const notOrigin = config.origins.find((origin) => !isExactOrigin(origin))
  if (notOrigin !== undefined) {
    throw new Error(`wxauth: webLogin.origins must be origins like https://admin.example.com, got "${notOrigin}"`)
  }
  return config
}

function storesOf(db: Database | undefined, stores: Stores | undefined): Stores {
  if (stores) return stores
  if (!db) throw new Error('wxauth: pass db (an open SQLite database) or stores')
  return sqliteStores(db)
}

/**
 * POST /auth/login, GET /auth/me, /auth/verify, POST /auth/logout(-all), the /wechat/* open-data
 * routes, plus the `auth` macro for your own routes:
 * `new Elysia().use(wxauth({ db, wechat })).get('/x', ({ user }) => user, { auth: true })`.
 * The one place things are wired: one set of stores, one guard (`.guard`, for your modules in other
 * files) and one session cache for every route. Nothing it registers reaches a host's own routes.
 */
export function wxauth({
  db,
  stores: given,
  wechat,
  clock = systemClock,
  sessionTtlSeconds = DEFAULTS.SESSION_TTL,
  sessionSliding = DEFAULTS.SESSION_SLIDING,
  maxSessionsPerUser = DEFAULTS.MAX_SESSIONS_PER_USER,
  loginRateLimit = DEFAULTS.LOGIN_RATE_LIMIT,
  trustProxy = DEFAULTS.TRUST_PROXY,
  webLogin: webLoginOptions,
  loginEventsDays = DEFAULTS.LOGIN_EVENTS_DAYS,
}: WxauthOptions) {
  requireWhole('sessionTtlSeconds', sessionTtlSeconds, LIMITS.SESSION_TTL)
  requireWhole('maxSessionsPerUser', maxSessionsPerUser, LIMITS.MAX_SESSIONS_PER_USER)
  requireWhole('loginRateLimit (0 turns it off)', loginRateLimit, LIMITS.LOGIN_RATE_LIMIT)
  requireWhole('loginEventsDays', loginEventsDays, LIMITS.LOGIN_EVENTS_DAYS)
  const webLogin = webLoginOf(webLoginOptions)
  const stores = storesOf(db, given)
  const { sessions } = stores
  const isAllowedOrigin = createOriginCheck(webLogin?.origins ?? [], trustProxy)
  const guard = createGuard({
    stores,
    clock,
    slidingTtlSeconds: sessionSliding ? sessionTtlSeconds : undefined,
    cookieSessions: webLogin
      ? {
          cookie: SESSION_COOKIE,
          isAllowedOrigin,
          renewedCookie: (request, token) => sessionCookie(token, sessionTtlSeconds, requestPlace(request, trustProxy)),
        }
      : undefined,
  })
  const logins = createLoginService({
    stores,
    wechat,
    clock,
    sessionTtlSeconds,
    maxSessionsPerUser,
    shared: stores.redis ? redisLoginReplay(stores.redis) : undefined,
  })
  const ipLimit = (what: string) =>
    createIpLimit({ perMinute: loginRateLimit, redis: stores.redis, trustProxy, clock, what })
  const limitLogins = ipLimit('login')
  const tokens = createAccessTokenManager({ store: stores.tokens, wechat, clock })
  const loginEvents = createLoginEventLog(stores.loginEvents, { clock, retentionDays: loginEventsDays })
  /** Every login attempt, for the console's activity view: the outcome and, at most, the address's /24 (or /48). */
  function recordLogin(request: Request, server: AddressSource, outcome: string, userId: number | null) {
    const ipPrefix = ipPrefixOf(clientAddress(request, server, trustProxy))
    loginEvents.record({ at: clock(), outcome, userId, ipPrefix })
  }

  const me = plainRoute(function me(request) {
    return guard.answer(request, answerMe)
  })
  const verify = plainRoute(function verify(request) {
    return guard.answer(request, answerVerify)
  })
  const verifyOptions = {
    detail: routeDoc({
      summary: 'Forward auth: is this skey live? (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth)',
      description:
        'Any method. 204 with the user in X-Wxauth-* response headers for the proxy to pass to your backend; otherwise the same 401 as every protected route.',
      tag: 'auth',
      auth: true,
      success: {
        204: { description: 'the skey is live; the user is in the X-Wxauth-* headers', headers: FORWARD_AUTH_HEADERS },
      },
    }),
  } as const

  // The two hot routes are plain (the guard's check, then a Response) and come before the error handler
  // and the body limit: they never throw, and with no hooks the standalone server runs them without
  // Elysia's per-request context. /auth/verify may receive the client's method and body from a proxy;
  // it never reads it.
  const routes = new Elysia()
    .use(guard)
    .get('/auth/me', me, {
      // No runtime response check here: it would cost more than the whole skey check (see BENCHMARKS.md).
      detail: routeDoc({
        summary: 'The user and expiry of this skey',
        tag: 'auth',
        auth: true,
        success: { 200: { description: 'the session is live', schema: AuthModel.meResponse } },
      }),
    })
    // GET (what proxies send) compiles to a plain function; any other method a proxy forwards, with
    // whatever body, is answered the same without reading the body.
    .get('/auth/verify', verify, verifyOptions)
    .all('/auth/verify', verify, { ...verifyOptions, parse: 'none', detail: { ...verifyOptions.detail, hide: true } })
    .use(errors())
    .use(bodyLimit())
    .post(
      '/auth/login',
      async function login({ body, request, server }) {
        let login: Awaited<ReturnType<typeof logins.login>>
        try {
          login = await logins.login(body.code)
        } catch (error) {
          recordLogin(request, server, outcomeOf(error), null)
          throw error
        }
        const { skey, expiresAt, user } = login
        noteUserId(request, user.id)
        recordLogin(request, server, 'OK', user.id)
        return { skey, expiresAt: isoTime(expiresAt), user: toPublicUser(user) }
      },
      {
        body: AuthModel.loginBody,
        response: { 200: AuthModel.loginResponse },
        beforeHandle: async function limitLoginsPerIp({ request, server, set }) {
          try {
            await limitLogins(request, server, set)
          } catch (error) {
            recordLogin(request, server, outcomeOf(error), null)
            throw error
          }
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
    .post(
      '/auth/logout',
      async function logout({ request, session, set }) {
        await sessions.delete(session.tokenHash)
        if (signedInByCookie.has(request))
          set.headers['set-cookie'] = clearedSessionCookie(requestPlace(request, trustProxy))
        set.status = 204
      },
      {
        auth: true,
        detail: routeDoc({
          summary: 'End this session',
          description:
            "Only this skey (or web session, whose cookie is cleared) ends; the user's other sessions live on.",
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
    .use(
      webLogin
        ? createWebLoginRoutes({
            service: createWebLoginService({
              stores,
              tokens,
              wechat,
              clock,
              config: webLogin,
              sessionTtlSeconds,
              maxSessionsPerUser,
            }),
            guard,
            sessions,
            ttlSeconds: webLogin.ttlSeconds,
            sessionTtlSeconds,
            isAllowedOrigin,
            trustProxy,
            limitPerIp: ipLimit('web login'),
          })
        : new Elysia(),
    )
  // What a module beside it (the admin console) needs to sign a browser in the way the web login does.
  const settings = { sessionTtlSeconds, maxSessionsPerUser, trustProxy, webLogin }
  return Object.assign(routes, { guard, stores, loginEvents, isAllowedOrigin, settings })
}
