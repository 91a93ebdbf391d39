import { bearer } from '@elysiajs/bearer'
import { Elysia } from 'elysia'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import type { SessionStore } from './service'

let guardsCreated = 0

export interface GuardOptions {
  sessions: SessionStore
  clock: Clock
}

/** The skey comes from the `skey` header or `Authorization: Bearer`, never from the URL. */
function readSkey(headers: Record<string, string | undefined>, bearerToken: string | undefined): string | undefined {
  if (headers.skey) return headers.skey
  if (headers.authorization?.startsWith('Bearer ')) return bearerToken
  return undefined
}

/**
 * The one skey check. Routes opt in with `{ auth: true }` and receive `user` and `session`.
 * Missing → 401 SKEY_MISSING; unknown, logged out or expired → 401 SKEY_INVALID.
 */
export function createGuard({ sessions, clock }: GuardOptions) {
  return new Elysia({ name: 'wxauth.guard', seed: ++guardsCreated }).use(bearer()).macro({
    auth: {
      resolve: function resolveSession({ headers, bearer: bearerToken }) {
        const skey = readSkey(headers, bearerToken)
        if (!skey)
          throw new AppError(401, 'SKEY_MISSING', 'send the skey in the skey header or as Authorization: Bearer')
        const found = sessions.validate(skey, clock())
        if (!found) throw new AppError(401, 'SKEY_INVALID', 'the skey is unknown, logged out or expired; log in again')
        return found
      },
    },
  })
}

export type Guard = ReturnType<typeof createGuard>
