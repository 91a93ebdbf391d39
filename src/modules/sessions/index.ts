import { Elysia } from 'elysia'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import type { SessionWithUser } from './model'
import type { SessionStore } from './service'

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
  function slide(found: SessionWithUser, nowMs: number): SessionWithUser {
    if (ttlMs === 0 || found.session.expiresAt - nowMs >= ttlMs / 2) return found
    return { user: found.user, session: sessions.extend(found.session, nowMs + ttlMs) }
  }

  return new Elysia({ name: 'wxauth.guard', seed: ++guardsCreated }).macro({
    auth: {
      resolve: function resolveSession({ request }) {
        const skey = readSkey(request.headers)
        if (!skey)
          throw new AppError(401, 'SKEY_MISSING', 'send the skey in the skey header or as Authorization: Bearer')
        const nowMs = clock()
        const found = sessions.validate(skey, nowMs)
        if (!found) throw skeyInvalid()
        // Never `return slide(…)`: Elysia reads "return f(" in a hook's source as async and would
        // await the guard on every protected request. Bun folds a temporary back into that form, so
        // return a fresh object.
        const { user, session } = slide(found, nowMs)
        return { user, session }
      },
    },
  })
}

export type Guard = ReturnType<typeof createGuard>
