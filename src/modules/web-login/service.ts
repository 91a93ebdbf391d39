import { timingSafeEqual } from 'node:crypto'
import { BoundedMap } from '../../libs/bounded-map'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import type { AccessTokenManager } from '../access-token/service'
import type { WebLoginConfig } from '../config/model'
import { WEB_SESSION_KEY } from '../sessions/model'
import { generateSessionToken, hashSessionToken, isWellFormedToken, randomToken } from '../sessions/service'
import type { Stores } from '../store/service'
import type { User } from '../users/model'
import type { WechatClient, WxaCodeImage } from '../wechat/model'
import {
  CODE_CACHE_ENTRIES,
  EXPIRED_TICKET_GRACE_MS,
  MAX_TICKETS_PER_BROWSER,
  SWEEP_TICKETS_PER_CREATE,
  TICKET_ID_BYTES,
  TICKET_ID_PATTERN,
  TICKET_POLL_MS,
  type Ticket,
  type TicketStatus,
  USER_AGENT_MAX_CHARS,
} from './model'

export const ticketInvalid = () =>
  new AppError(404, 'TICKET_INVALID', 'no such web-login ticket: it is unknown or already used; start again')
const ticketExpired = () => new AppError(410, 'TICKET_EXPIRED', 'this web-login code has expired; show a new one')
const ticketClaimed = () =>
  new AppError(409, 'TICKET_CLAIMED', 'this web-login code was already answered, or scanned by another user')
const ticketForeign = () =>
  new AppError(403, 'TICKET_FOREIGN', 'this web-login ticket belongs to another browser (its cookie is missing)')

/**
 * What the browser is told. `expired` is computed: stored tickets never say it. A confirmed ticket stays
 * confirmed past its expiry (the confirm was checked against it) until its browser collects it.
 */
export function statusOf(ticket: Ticket, nowMs: number): TicketStatus {
  return nowMs >= ticket.expiresAt && ticket.status !== 'confirmed' ? 'expired' : ticket.status
}

/**
 * The binding cookie's value: the secrets of this browser's latest tickets, newest last, joined by '.'
 * (not a base64url character). Each new ticket gets a fresh secret, so a cookie planted by someone else
 * never binds a new ticket to a secret they know; keeping the previous ones lets tabs share the cookie.
 */
function secretsIn(cookie: string | null): string[] {
  return (cookie ?? '').split('.').filter(isWellFormedToken)
}

/** Nothing more will happen to these: a waiting browser is answered at once. */
const SETTLED: ReadonlySet<TicketStatus> = new Set(['confirmed', 'denied', 'expired'])

export interface BrowserFacts {
  ip: string | null
  userAgent: string
}

export interface SignedIn {
  user: User
  token: string
  expiresAt: number
}

export interface StatusAnswer {
  status: TicketStatus
  expiresAt: number
  /** Only on the one answer that collects a confirmed ticket: the new web session. */
  signedIn?: SignedIn
}

/** A web session (no session_key) for the user, under the same cap as mini program logins; null when the user is gone. */
export async function startWebSession(
  stores: Stores,
  userId: number,
  {
    nowMs,
    sessionTtlSeconds,
    maxSessionsPerUser,
  }: { nowMs: number; sessionTtlSeconds: number; maxSessionsPerUser: number },
): Promise<SignedIn | null> {
  const user = await stores.users.byId(userId)
  if (!user) return null
  const session = await stores.sessions.create({
    userId,
    sessionKey: WEB_SESSION_KEY,
    nowMs,
    ttlSeconds: sessionTtlSeconds,
  })
  await stores.sessions.trimForUser(userId, maxSessionsPerUser, session.tokenHash)
  return { user, token: session.token, expiresAt: session.expiresAt }
}

export interface WebLoginServiceOptions {
  stores: Stores
  tokens: AccessTokenManager
  wechat: WechatClient
  clock: Clock
  config: WebLoginConfig
  sessionTtlSeconds: number
  maxSessionsPerUser: number
}

/**
 * Browser and mini program meet on a ticket: the browser holds its secret (a cookie), the mini program
 * scans its id (the code's scene) and answers. Tickets live with the sessions, so any instance can serve
 * any step; a waiting browser is woken at once by a change on this instance, within TICKET_POLL_MS by one elsewhere.
 */
export function createWebLoginService({
  stores,
  tokens,
  wechat,
  clock,
  config,
  sessionTtlSeconds,
  maxSessionsPerUser,
}: WebLoginServiceOptions) {
  const { tickets } = stores
  const waiters = new Map<string, Set<() => void>>()
  const codes = new BoundedMap<string, Promise<WxaCodeImage>>(CODE_CACHE_ENTRIES)

  function wake(id: string): void {
    for (const resolve of waiters.get(id) ?? []) resolve()
  }

  /** Resolves after `ms`, or sooner when this instance changes the ticket. */
  function changeOrTimeout(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = waiters.get(id) ?? new Set()
      waiters.set(id, set)
      const done = () => {
        clearTimeout(timer)
        set.delete(done)
        if (set.size === 0) waiters.delete(id)
        resolve()
      }
      const timer = setTimeout(done, ms)
      set.add(done)
    })
  }

  async function find(id: string): Promise<Ticket> {
    const ticket = TICKET_ID_PATTERN.test(id) ? await tickets.get(id) : null
    if (!ticket) throw ticketInvalid()
    return ticket
  }

  /** The ticket, if this browser holds its secret (in its binding cookie). */
  async function findOwned(id: string, cookie: string | null): Promise<Ticket> {
    const ticket = await find(id)
    const owned = secretsIn(cookie).some((secret) => timingSafeEqual(hashSessionToken(secret), ticket.secretHash))
    if (!owned) throw ticketForeign()
    return ticket
  }

  /** A new web session for the user of a confirmed ticket, under the same cap as mini program logins. */
  async function signIn(userId: number): Promise<SignedIn> {
    const signedIn = await startWebSession(stores, userId, { nowMs: clock(), sessionTtlSeconds, maxSessionsPerUser })
    if (!signedIn) throw ticketInvalid()
    return signedIn
  }

  /** The one answer that gets the session: a concurrent second request finds the ticket gone (404). */
  async function collect(ticket: Ticket): Promise<StatusAnswer> {
    const taken = await tickets.takeConfirmed(ticket.id)
    if (!taken || taken.userId === null) throw ticketInvalid()
    return { status: 'confirmed', expiresAt: taken.expiresAt, signedIn: await signIn(taken.userId) }
  }

  /**
   * Moves a live ticket on for `userId`: `decide` says from the ticket as it is now whether it may move
   * (and to what), or throws. A compare-and-set; if another request moved it first, decides again.
   */
  async function advance(id: string, userId: number, next: (ticket: Ticket) => Ticket['status']): Promise<Ticket> {
    for (;;) {
      const ticket = await find(id)
      if (statusOf(ticket, clock()) === 'expired') throw ticketExpired()
      const status = next(ticket)
      if (status === ticket.status && ticket.userId === userId) return ticket
      const from = { status: ticket.status, userId: ticket.userId }
      if (await tickets.update(id, from, { status, userId })) {
        wake(id)
        return { ...ticket, status, userId }
      }
    }
  }

  /** Whether `userId` may still act on the ticket: nobody has, or they scanned it and have not answered. */
  const openTo = (ticket: Ticket, userId: number) =>
    ticket.status === 'waiting' || (ticket.status === 'scanned' && ticket.userId === userId)

  return {
    /**
     * A new ticket for a browser, and the binding cookie's new value: the ticket's fresh secret (stored
     * only hashed) after those of the browser's latest other tickets.
     */
    async start(browser: BrowserFacts, cookie: string | null): Promise<{ ticket: Ticket; cookie: string }> {
      const nowMs = clock()
      const secret = generateSessionToken()
      const ticket: Ticket = {
        id: randomToken(TICKET_ID_BYTES),
        secretHash: hashSessionToken(secret),
        status: 'waiting',
        userId: null,
        ip: browser.ip,
        userAgent: browser.userAgent.slice(0, USER_AGENT_MAX_CHARS),
        createdAt: nowMs,
        expiresAt: nowMs + config.ttlSeconds * 1000,
      }
      await tickets.create(ticket)
      await tickets.deleteExpired(nowMs - EXPIRED_TICKET_GRACE_MS, SWEEP_TICKETS_PER_CREATE)
      const kept = secretsIn(cookie).slice(1 - MAX_TICKETS_PER_BROWSER)
      return { ticket, cookie: [...kept, secret].join('.') }
    },

    /**
     * The mini program code that opens config.page with the ticket as its scene. Asked of WeChat once per
     * ticket on this instance (its API has a per-app rate cap): reloads and concurrent requests share it.
     */
    async qrcode(id: string, cookie: string | null): Promise<WxaCodeImage> {
      const ticket = await findOwned(id, cookie)
      if (statusOf(ticket, clock()) === 'expired') throw ticketExpired()
      const known = codes.get(id)
      if (known) return known
      const request = {
        scene: ticket.id,
        page: config.page,
        // WeChat checks that the page exists only in the released version; trial and develop need false.
        checkPath: config.envVersion === 'release',
        envVersion: config.envVersion,
      }
      const image = tokens.withToken((accessToken) => wechat.getUnlimitedWxaCode(accessToken, request))
      codes.set(id, image)
      // A failure is not kept: the next request asks again.
      image.catch(() => codes.delete(id))
      return image
    },

    /**
     * The ticket's status, after waiting up to `waitSeconds` for it to change from what it is now.
     * A confirmed ticket is collected by this answer: it carries the new web session.
     */
    async status(id: string, cookie: string | null, waitSeconds: number, gone?: AbortSignal): Promise<StatusAnswer> {
      let ticket = await findOwned(id, cookie)
      const arrived = statusOf(ticket, clock())
      const giveUpAt = performance.now() + waitSeconds * 1000
      let status = arrived
      while (status === arrived && !SETTLED.has(status) && !gone?.aborted) {
        const leftMs = Math.min(giveUpAt - performance.now(), ticket.expiresAt - clock())
        if (leftMs <= 0) break
        await changeOrTimeout(id, Math.min(TICKET_POLL_MS, leftMs))
        ticket = await find(id)
        status = statusOf(ticket, clock())
      }
      status = statusOf(ticket, clock())
      // A browser that has gone away (a closed tab, an aborted poll) leaves the ticket for its next request.
      if (status === 'confirmed' && !gone?.aborted) return collect(ticket)
      return { status, expiresAt: ticket.expiresAt }
    },

    /** The mini program scanned the code: the ticket is now this user's to answer. */
    scan: (id: string, userId: number): Promise<Ticket> =>
      advance(id, userId, (ticket) => {
        if (!openTo(ticket, userId)) throw ticketClaimed()
        return 'scanned'
      }),

    /** The user confirmed (the browser gets a session) or denied on their phone. */
    async answer(id: string, userId: number, answer: 'confirmed' | 'denied'): Promise<void> {
      await advance(id, userId, (ticket) => {
        if (!openTo(ticket, userId)) throw ticketClaimed()
        return answer
      })
    },
  }
}

export type WebLoginService = ReturnType<typeof createWebLoginService>
