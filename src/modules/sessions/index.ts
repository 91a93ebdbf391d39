import { Elysia } from 'elysia'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import type { SessionWithUser } from './model'
import type { SessionStore, SyncSessionStore } from './service'

let guardsCreated = 0

export interface GuardOptions {
  sessions: SessionStore
  clock: Clock
  /** Sliding sessions: a request in the second half of a session's life renews it for this long. */
  slidingTtlSeconds?: number
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

/**
 * The one skey check. Routes opt in with `{ auth: true }` and receive `user` and `session`.
 * Missing → 401 SKEY_MISSING; unknown, logged out or expired → 401 SKEY_INVALID.
 */
export function createGuard({ sessions, clock, slidingTtlSeconds }: GuardOptions) {
  const ttlMs = (slidingTtlSeconds ?? 0) * 1000
  /** At most one write per session per half-TTL: only a session past its half-life is renewed. */
  const needsSlide = (found: SessionWithUser, nowMs: number) => ttlMs > 0 && found.session.expiresAt - nowMs < ttlMs / 2

  function requireSkey(headers: Headers): string {
    const skey = readSkey(headers)
    if (!skey) throw new AppError(401, 'SKEY_MISSING', 'send the skey in the skey header or as Authorization: Bearer')
    return skey
  }

  // SQLite answers in the same tick, so its guard never awaits (an awaited hook costs every protected
  // request). Never `return slide(…)` in it: Elysia reads "return f(" in a hook's source as async and
  // would await it anyway. Bun folds a temporary back into that form, so return a fresh object.
  const local = sessions as SyncSessionStore
  const resolveInSameTick = function resolveSession({ request }: { request: Request }) {
    const nowMs = clock()
    let found = local.validate(requireSkey(request.headers), nowMs)
    if (!found) throw skeyInvalid()
    if (needsSlide(found, nowMs))
      found = { user: found.user, session: local.extend(found.session, nowMs + ttlMs, nowMs) }
    const { user, session } = found
    return { user, session }
  }

  const resolveRemote = async function resolveSessionRemote({ request }: { request: Request }) {
    const nowMs = clock()
    const found = await sessions.validate(requireSkey(request.headers), nowMs)
    if (!found) throw skeyInvalid()
    if (!needsSlide(found, nowMs)) return found
    return { user: found.user, session: await sessions.extend(found.session, nowMs + ttlMs, nowMs) }
  }

  return new Elysia({ name: 'wxauth.guard', seed: ++guardsCreated }).macro({
    auth: { resolve: sessions.synchronous ? resolveInSameTick : resolveRemote },
  })
}

export type Guard = ReturnType<typeof createGuard>
