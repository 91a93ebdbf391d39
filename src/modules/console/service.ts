import { timingSafeEqual } from 'node:crypto'
import { type Clock, isoTime } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import type { UserSummary } from '../admin/model'
import { HOUR_MS } from '../login-events/model'
import type { LoginEventLog } from '../login-events/service'
import { generateSessionToken, hashSessionToken, isWellFormedToken, randomToken } from '../sessions/service'
import type { Stores } from '../store/service'
import type { User, UserWithLogin } from '../users/model'
import { type SignedIn, startWebSession } from '../web-login/service'
import {
  ADMIN_LINK_AGENT,
  ADMIN_LINK_ID_BYTES,
  ADMIN_LINK_ID_PATTERN,
  ADMIN_LINK_TTL_MS,
  FAILURES_HOURS,
  OVERVIEW_HOURS,
} from './model'

/** A user as the admin commands and the console show them. */
export const toSummary = (user: UserWithLogin, liveSessions: number): UserSummary => ({
  id: user.id,
  openid: user.openid,
  unionid: user.unionid,
  createdAt: isoTime(user.createdAt),
  lastLoginAt: isoTime(user.lastLoginAt),
  liveSessions,
})

export const adminOnly = () =>
  new AppError(403, 'ADMIN_ONLY', 'the console is for the openids in ADMIN_OPENIDS; this account is not one of them')
const userNotFound = () => new AppError(404, 'USER_NOT_FOUND', 'no user with this id')
const linkInvalid = () =>
  new AppError(404, 'LINK_INVALID', 'this admin link is unknown or already used; make a new one with wxauth admin-link')
const linkExpired = () =>
  new AppError(410, 'LINK_EXPIRED', 'this admin link has expired (10 minutes); make a new one with wxauth admin-link')

export interface ConsoleServiceOptions {
  stores: Stores
  loginEvents: LoginEventLog
  clock: Clock
  adminOpenids: readonly string[]
  sessionTtlSeconds: number
  maxSessionsPerUser: number
}

/**
 * What the admin console reads and changes, over the server's own stores. Sessions are named by the
 * base64url of their token hash: enough to revoke one, useless as a credential.
 */
export function createConsoleService({
  stores,
  loginEvents,
  clock,
  adminOpenids,
  sessionTtlSeconds,
  maxSessionsPerUser,
}: ConsoleServiceOptions) {
  const admins = new Set(adminOpenids)
  const { users, sessions } = stores

  const summaryOf = async (user: UserWithLogin) =>
    toSummary(user, (await sessions.listForUser(user.id, clock())).length)

  async function userWithLogin(id: number): Promise<UserWithLogin> {
    const user = await users.byId(id)
    const withLogin = user && (await users.byOpenid(user.openid))
    if (!withLogin) throw userNotFound()
    return withLogin
  }

  return {
    isAdmin: (user: User) => admins.has(user.openid),

    async overview() {
      await loginEvents.flush()
      const nowMs = clock()
      const thisHour = Math.floor(nowMs / HOUR_MS) * HOUR_MS
      const perHour = await stores.loginEvents.perHour(thisHour - (OVERVIEW_HOURS - 1) * HOUR_MS)
      const outcomes = await stores.loginEvents.byOutcome(nowMs - FAILURES_HOURS * HOUR_MS)
      return {
        users: await users.count(),
        liveSessions: await sessions.countLive(nowMs),
        loginsPerHour: perHour.map((row) => ({ ...row, hourStart: isoTime(row.hourStart) })),
        failures24h: outcomes.filter((row) => row.outcome !== 'OK'),
        generatedAt: isoTime(nowMs),
      }
    },

    /** Newest first; `next` is the `before` of the following page. */
    async users(query: string, limit: number, before?: number) {
      const found = await users.search(query, limit + 1, before)
      const page = found.slice(0, limit)
      const next = found.length > limit ? (page.at(-1)?.id ?? null) : null
      return { users: await Promise.all(page.map(summaryOf)), next }
    },

    async user(id: number) {
      const user = await userWithLogin(id)
      const live = await sessions.listForUser(user.id, clock())
      return {
        user: await summaryOf(user),
        sessions: live.map((session) => ({
          id: session.id,
          createdAt: isoTime(session.createdAt),
          expiresAt: isoTime(session.expiresAt),
          kind: session.kind,
        })),
      }
    },

    /** Ends one of the user's sessions; false when the user has no live session by that id. */
    async revokeSession(userId: number, sessionId: string): Promise<boolean> {
      const user = await userWithLogin(userId)
      const live = await sessions.listForUser(user.id, clock())
      if (!live.some((session) => session.id === sessionId)) return false
      await sessions.delete(Buffer.from(sessionId, 'base64url'))
      return true
    },

    async revokeAll(userId: number): Promise<number> {
      const user = await userWithLogin(userId)
      return sessions.deleteForUser(user.id)
    },

    async logins(limit: number, before?: number) {
      await loginEvents.flush()
      const found = await stores.loginEvents.recent(limit + 1, before)
      const page = found.slice(0, limit)
      return {
        events: page.map((event) => ({ ...event, at: isoTime(event.at) })),
        next: found.length > limit ? (page.at(-1)?.id ?? null) : null,
      }
    },

    /** Signs the link's admin in once: a web session, as the web login makes. An expired link is deleted. */
    async useLink(id: string, secret: string): Promise<SignedIn> {
      const wellFormed = ADMIN_LINK_ID_PATTERN.test(id) && isWellFormedToken(secret)
      const ticket = wellFormed ? await stores.tickets.get(id) : null
      if (ticket?.status !== 'confirmed' || !timingSafeEqual(hashSessionToken(secret), ticket.secretHash)) {
        throw linkInvalid()
      }
      const taken = await stores.tickets.takeConfirmed(id)
      if (!taken || taken.userId === null) throw linkInvalid()
      if (clock() >= taken.expiresAt) throw linkExpired()
      const user = await users.byId(taken.userId)
      if (!user) throw linkInvalid()
      if (!admins.has(user.openid)) throw adminOnly()
      const signedIn = await startWebSession(stores, user.id, { nowMs: clock(), sessionTtlSeconds, maxSessionsPerUser })
      if (!signedIn) throw linkInvalid()
      return signedIn
    },
  }
}

export type ConsoleService = ReturnType<typeof createConsoleService>

/** Why an admin link cannot be made; the CLI prints it. */
export class AdminLinkError extends Error {}

/**
 * A one-time sign-in link for an admin (`wxauth admin-link <openid>`), valid ADMIN_LINK_TTL_MS: a ticket
 * already confirmed for the admin, with an id no web login has (24 characters), whose secret travels in
 * the link's #fragment (never sent to a server, so no access log holds it). Returns the path and fragment.
 */
export async function createAdminLink(
  stores: Stores,
  openid: string,
  { adminOpenids, nowMs }: { adminOpenids: readonly string[]; nowMs: number },
): Promise<{ path: string; expiresAt: number }> {
  if (!adminOpenids.includes(openid)) throw new AdminLinkError(`${openid} is not in ADMIN_OPENIDS`)
  const user = await stores.users.byOpenid(openid)
  if (!user) throw new AdminLinkError(`no user with openid ${openid}: log in once with the mini program first`)
  const id = randomToken(ADMIN_LINK_ID_BYTES)
  const secret = generateSessionToken()
  const expiresAt = nowMs + ADMIN_LINK_TTL_MS
  await stores.tickets.create({
    id,
    secretHash: hashSessionToken(secret),
    status: 'confirmed',
    userId: user.id,
    ip: null,
    userAgent: ADMIN_LINK_AGENT,
    createdAt: nowMs,
    expiresAt,
  })
  return { path: `/admin/link/${id}#${secret}`, expiresAt }
}
