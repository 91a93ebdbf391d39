import { t, type UnwrapSchema } from 'elysia'
import type { MaybePromise } from '../store/model'
import { UserModel } from '../users/model'

export const TICKET_STATUSES = ['waiting', 'scanned', 'confirmed', 'denied', 'expired'] as const
/** What a browser sees; `expired` is never stored: a ticket is expired once the clock passes expiresAt. */
export type TicketStatus = (typeof TICKET_STATUSES)[number]
export type StoredTicketStatus = Exclude<TicketStatus, 'expired'>

/** A web-login ticket as the stores keep it. The browser's binding secret is kept only as its SHA-256. */
export interface Ticket {
  /** The public id: 16 random bytes as base64url (22 characters). It travels as the mini program code's `scene`. */
  id: string
  secretHash: Uint8Array
  status: StoredTicketStatus
  /** The user who scanned (and then confirmed or denied); null while waiting. */
  userId: number | null
  /** The browser's address as the rate limiter saw it; null when unknown. */
  ip: string | null
  /** The browser's User-Agent, at most USER_AGENT_MAX_CHARS. */
  userAgent: string
  createdAt: number
  expiresAt: number
}

/** The part of a ticket a compare-and-set looks at and changes. */
export interface TicketState {
  status: StoredTicketStatus
  userId: number | null
}

/**
 * Web-login tickets, in the store that holds sessions: SQLite, PostgreSQL or Redis. Every instance
 * sees every ticket, so a confirm on one wakes a browser waiting on another (the waiter polls).
 */
export interface TicketStore {
  create(ticket: Ticket): MaybePromise<void>
  /** The ticket, expired or not; null when unknown, used up or swept. */
  get(id: string): MaybePromise<Ticket | null>
  /** Moves the ticket from `from` to `to` only if it is still exactly `from`; true when it moved. */
  update(id: string, from: TicketState, to: TicketState): MaybePromise<boolean>
  /** Deletes a confirmed ticket and returns it; exactly one of several concurrent callers gets it, the others null. */
  takeConfirmed(id: string): MaybePromise<Ticket | null>
  /** Deletes at most `limit` tickets that expired before `beforeMs`; returns how many went. */
  deleteExpired(beforeMs: number, limit: number): MaybePromise<number>
}

export const TICKET_ID_BYTES = 16
export const TICKET_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/
export const USER_AGENT_MAX_CHARS = 256
/** An expired ticket is kept this long, so a browser still sees `expired` rather than 404. */
export const EXPIRED_TICKET_GRACE_MS = 10 * 60 * 1000
/** How often a waiting browser's request looks at the store for a change made by another instance. */
export const TICKET_POLL_MS = 250
export const MAX_WAIT_SECONDS = 25
/** Tickets one browser can wait on at once (tabs): its binding cookie keeps this many secrets. */
export const MAX_TICKETS_PER_BROWSER = 4
/** Codes (images) kept per instance, so a ticket's code is asked of WeChat once: ~30 KB each. */
export const CODE_CACHE_ENTRIES = 256
/** Tickets the store deletes per new ticket: rows only grow through creation, so this keeps them bounded. */
export const SWEEP_TICKETS_PER_CREATE = 100

export const TICKET_COOKIE = 'wxauth_web_ticket'
export const TICKET_COOKIE_PATH = '/web/login'
export const SESSION_COOKIE = 'wxauth_session'

/** A mini program page path as WeChat takes it: segments of letters, digits, _ and -, no leading slash. */
export const PAGE_PATH = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/

export const WEB_LOGIN_ENVS = ['release', 'trial', 'develop'] as const
export type WebLoginEnv = (typeof WEB_LOGIN_ENVS)[number]

const isoTime = t.String({ format: 'date-time' })

export const WebLoginModel = {
  ticketParams: t.Object({ ticket: t.String({ maxLength: 64, description: 'the ticket (the code’s scene)' }) }),
  statusQuery: t.Object({
    wait: t.Optional(t.Numeric({ minimum: 0, maximum: MAX_WAIT_SECONDS, description: 'seconds to wait for a change' })),
  }),
  created: t.Object({
    ticket: t.String({ description: 'the code’s scene; the mini program posts it back' }),
    qrcodeUrl: t.String({ description: 'the code’s image, a path on this server' }),
    expiresAt: isoTime,
    status: t.Literal('waiting'),
  }),
  status: t.Object({
    status: t.UnionEnum(TICKET_STATUSES),
    expiresAt: isoTime,
    user: t.Optional(UserModel.user),
  }),
  scanned: t.Object({
    browser: t.Object({
      ip: t.Union([t.String(), t.Null()]),
      userAgent: t.String(),
      createdAt: isoTime,
    }),
    expiresAt: isoTime,
  }),
  image: t.String({ format: 'binary' }),
  page: t.String(),
} as const
export type WebLoginModel = { [K in keyof typeof WebLoginModel]: UnwrapSchema<(typeof WebLoginModel)[K]> }
