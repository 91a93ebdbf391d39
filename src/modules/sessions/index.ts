import { Elysia, status } from 'elysia'
import type { Clock } from '../../libs/clock'
import { AppError, errorBody, noteErrorAnswer, respondWithError, toAppError } from '../../libs/errors'
import { cookieOf, isWrite } from '../../libs/origin'
import { noteUserId, signedInByCookie } from '../../libs/request-facts'
import type { Stores } from '../store/service'
import { type Session, type SessionWithUser, WEB_SESSION_KEY } from './model'
import type { LocalSessionStore, SessionStore } from './service'

export interface GuardOptions {
  stores: Stores
  clock: Clock
  /** Sliding sessions: a request in the second half of a session's life renews it for this long. */
  slidingTtlSeconds?: number
  /** Web login on: the session cookie stands in for the skey when no skey header is sent. */
  cookieSessions?: CookieSessionPolicy
}

export interface CookieSessionPolicy {
  /** The cookie that carries a web session's token. */
  cookie: string
  /** The CSRF rule: the request's Origin is this server's own or one in WEB_ORIGINS. */
  isAllowedOrigin(request: Request): boolean
  /** The Set-Cookie that carries `token` for another full session TTL: sent when a sliding session slides. */
  renewedCookie(request: Request, token: string): string
}

const BEARER_PREFIX = 'bearer '

/**
 * The skey comes from the `skey` header or `Authorization: Bearer <skey>` (RFC 6750, scheme
 * case-insensitive), never from the URL. Read straight from the request: a global derive such as
 * @elysiajs/bearer's costs ~2 µs on every route and also accepts `?access_token=`.
 */
export function readSkey(headers: Headers): string | null {
  const skey = headers.get('skey')
  if (skey) return skey
  const authorization = headers.get('authorization')
  if (authorization?.slice(0, BEARER_PREFIX.length).toLowerCase() !== BEARER_PREFIX) return null
  return authorization.slice(BEARER_PREFIX.length).trim() || null
}

/** The 401 for an skey that is unknown, logged out or expired: the client logs in again. */
export function skeyInvalid(): AppError {
  return new AppError(401, 'SKEY_INVALID', 'the skey is unknown, logged out or expired; log in again')
}

const miniProgramSessionRequired = () =>
  new AppError(
    403,
    'MINIPROGRAM_SESSION_REQUIRED',
    'this route needs a session from a mini program login (an skey): a web session has no session_key',
  )

/** The session's session_key, for routes only a mini program's session may use: a web session is refused (403). */
export async function miniProgramSessionKey(sessions: SessionStore, session: Session): Promise<string> {
  const sessionKey = await sessions.sessionKeyOf(session.tokenHash)
  // The session was logged out between the guard and here.
  if (sessionKey === null) throw skeyInvalid()
  if (sessionKey === WEB_SESSION_KEY) throw miniProgramSessionRequired()
  return sessionKey
}

const skeyMissing = () =>
  new AppError(401, 'SKEY_MISSING', 'send the skey in the skey header or as Authorization: Bearer')

/** An answer the guard gives instead of the route's; the two 401s are built once. */
function refusal(error: AppError) {
  // Frozen: the 401s are shared by every refused request, so a host hook must not be able to edit them.
  const body = Object.freeze(errorBody(error))
  return {
    error,
    code: error.code,
    text: JSON.stringify(body),
    answer: status(error.status as 401 | 403 | 500 | 503, body),
  }
}
const MISSING = refusal(skeyMissing())
const INVALID = refusal(skeyInvalid())
/** 403 CSRF_REJECTED: a browser's write whose Origin is neither this server's nor one in WEB_ORIGINS. */
export const csrfRejected = () =>
  new AppError(
    403,
    'CSRF_REJECTED',
    "a write a browser makes with its cookies needs an Origin header with this server's origin or one in WEB_ORIGINS",
  )
const CROSS_ORIGIN = refusal(csrfRejected())

type Refusal = typeof MISSING

/**
 * The guard never throws: a thrown error would reach the host's onError (or need one of ours on the
 * route, which makes Elysia compile it async). A store outage → 503, anything else → 500, logged.
 */
const failureOf = (error: unknown): Refusal => refusal(toAppError('UNKNOWN', error))
type SetHeaders = { headers: Record<string, string | number> }

/** What a plain route answers for a request whose skey checked out. */
export type SessionAnswer = (found: SessionWithUser, request: Request) => Response

/**
 * The one skey check. Routes opt in with `{ auth: true }` and receive `user` and `session`.
 * Missing → 401 SKEY_MISSING; unknown, logged out or expired → 401 SKEY_INVALID; a store that does
 * not answer → 503 STORE_UNAVAILABLE. The guard answers these itself (no thrown error), so a host
 * app's own onError never sees them and cannot turn them into something else.
 */
export function createGuard({ stores, clock, slidingTtlSeconds, cookieSessions }: GuardOptions) {
  const ttlMs = (slidingTtlSeconds ?? 0) * 1000
  /** Set-Cookie headers of cookie sessions that slid on this request: the browser's cookie slides with them. */
  const renewedCookies = new WeakMap<Request, string>()

  /**
   * The session token: the skey header, else (web login on) the session cookie. A cookie is sent by
   * the browser on its own, so a write signed in by one must come from an allowed origin; a refusal
   * (no token, or a cross-origin write) comes back instead of a token. Header-signed requests never get here.
   */
  function tokenFromCookie(request: Request): string | Refusal {
    const token = cookieSessions ? cookieOf(request, cookieSessions.cookie) : null
    if (!token || !cookieSessions) return MISSING
    if (isWrite(request) && !cookieSessions.isAllowedOrigin(request)) return CROSS_ORIGIN
    signedInByCookie.add(request)
    return token
  }

  function noteSlide(request: Request, token: string): void {
    if (cookieSessions && signedInByCookie.has(request)) {
      renewedCookies.set(request, cookieSessions.renewedCookie(request, token))
    }
  }
  /** At most one write per session per half-TTL: only a session past its half-life is renewed. */
  const needsSlide = (found: SessionWithUser, nowMs: number) => ttlMs > 0 && found.session.expiresAt - nowMs < ttlMs / 2

  /** The plain-route end of a check: the refusal as a Response, or `respond`'s answer for the user. */
  function answerChecked(request: Request, checked: SessionWithUser | Refusal, respond: SessionAnswer): Response {
    if ('answer' in checked) return respondWithError(request, checked.error, checked.text)
    noteUserId(request, checked.user.id)
    const response = respond(checked, request)
    const renewed = cookieSessions && renewedCookies.get(request)
    if (renewed) response.headers.append('set-cookie', renewed)
    return response
  }

  /** For the macro: the renewed cookie goes out with whatever the route answers. */
  function passOnRenewedCookie(request: Request, set: SetHeaders): void {
    const renewed = cookieSessions && renewedCookies.get(request)
    if (renewed) set.headers['set-cookie'] = renewed
  }

  // SQLite answers in the same tick, so this resolver never awaits (an awaited hook costs every
  // protected request). Elysia decides "async" from the hook's source text: any `return f(` or the
  // words async/await in it make every protected route await it. So it returns prebuilt answers and
  // plain objects only, and Bun folds `const x = f(); return x` back into `return f(`.
  function localGuard(sessions: LocalSessionStore) {
    function check(request: Request): SessionWithUser | Refusal {
      const skey = readSkey(request.headers) ?? tokenFromCookie(request)
      if (typeof skey !== 'string') return skey
      const nowMs = clock()
      const found = sessions.validate(skey, nowMs)
      if (!found) return INVALID
      if (!needsSlide(found, nowMs)) return found
      const extended = sessions.extend(found.session, nowMs + ttlMs)
      noteSlide(request, skey)
      return { user: found.user, session: extended }
    }
    function checkSafely(request: Request): SessionWithUser | Refusal {
      try {
        return check(request)
      } catch (error) {
        return failureOf(error)
      }
    }
    return {
      resolve: function resolveSession({ request, set }: { request: Request; set: SetHeaders }) {
        const checked = checkSafely(request)
        if ('answer' in checked) {
          noteErrorAnswer(request, set, checked.code)
          return checked.answer
        }
        noteUserId(request, checked.user.id)
        passOnRenewedCookie(request, set)
        return { user: checked.user, session: checked.session }
      },
      answer: (request: Request, respond: SessionAnswer): Response =>
        answerChecked(request, checkSafely(request), respond),
    }
  }

  function remoteGuard(sessions: SessionStore) {
    async function check(request: Request): Promise<SessionWithUser | Refusal> {
      const skey = readSkey(request.headers) ?? tokenFromCookie(request)
      if (typeof skey !== 'string') return skey
      const nowMs = clock()
      const found = await sessions.validate(skey, nowMs)
      if (!found) return INVALID
      if (!needsSlide(found, nowMs)) return found
      const extended = await sessions.extend(found.session, nowMs + ttlMs, nowMs)
      noteSlide(request, skey)
      return { user: found.user, session: extended }
    }
    async function checkSafely(request: Request): Promise<SessionWithUser | Refusal> {
      try {
        return await check(request)
      } catch (error) {
        return failureOf(error)
      }
    }
    return {
      resolve: async function resolveSessionRemote({ request, set }: { request: Request; set: SetHeaders }) {
        const checked = await checkSafely(request)
        if ('answer' in checked) {
          noteErrorAnswer(request, set, checked.code)
          return checked.answer
        }
        noteUserId(request, checked.user.id)
        passOnRenewedCookie(request, set)
        return { user: checked.user, session: checked.session }
      },
      answer: async (request: Request, respond: SessionAnswer): Promise<Response> =>
        answerChecked(request, await checkSafely(request), respond),
    }
  }

  const { resolve, answer } = stores.kind === 'sqlite' ? localGuard(stores.sessions) : remoteGuard(stores.sessions)
  /**
   * `answer(request, respond)`: the same check for a plain route (see plainRoute), outside Elysia's
   * context. Refusals come back as Responses; a live session gets `respond`'s answer.
   */
  return Object.assign(new Elysia().macro({ auth: { resolve } }), { answer })
}

export type Guard = ReturnType<typeof createGuard>
