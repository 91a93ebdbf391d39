import { t } from 'elysia'

const isoTime = t.String({ format: 'date-time' })

/** How long an admin link (`wxauth admin-link`) signs in, once. */
export const ADMIN_LINK_TTL_MS = 10 * 60 * 1000
/** The User-Agent an admin link's ticket shows (the console's session list of that admin, logs). */
export const ADMIN_LINK_AGENT = 'wxauth admin-link'
/**
 * An admin link's ticket id: 18 random bytes, 24 base64url characters. A web login's ticket has 22, so
 * neither route takes the other's tickets (web-login/model.ts TICKET_ID_PATTERN).
 */
export const ADMIN_LINK_ID_BYTES = 18
export const ADMIN_LINK_ID_PATTERN = /^[A-Za-z0-9_-]{24}$/
export const OVERVIEW_HOURS = 48
export const FAILURES_HOURS = 24
export const MAX_PAGE = 100
export const DEFAULT_PAGE = 20

const userId = t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })

const userSummary = t.Object({
  id: t.Integer(),
  openid: t.String(),
  unionid: t.Union([t.String(), t.Null()]),
  createdAt: isoTime,
  lastLoginAt: isoTime,
  liveSessions: t.Integer(),
})

const paging = {
  limit: t.Optional(
    t.Integer({ minimum: 1, maximum: MAX_PAGE, description: `at most this many (default ${DEFAULT_PAGE})` }),
  ),
  before: t.Optional(
    t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the `next` of the previous page' }),
  ),
}

export const ConsoleModel = {
  overview: t.Object({
    users: t.Integer(),
    liveSessions: t.Integer(),
    loginsPerHour: t.Array(t.Object({ hourStart: isoTime, outcome: t.String(), count: t.Integer() }), {
      description: `login attempts per hour and outcome, the last ${OVERVIEW_HOURS} hours (hours without any are left out)`,
    }),
    failures24h: t.Array(t.Object({ outcome: t.String(), count: t.Integer() }), {
      description: `attempts that did not log in, the last ${FAILURES_HOURS} hours, by outcome, the most first`,
    }),
    generatedAt: isoTime,
  }),
  usersQuery: t.Object({
    q: t.Optional(t.String({ maxLength: 128, description: 'an exact user id, or the start of an openid or unionid' })),
    ...paging,
  }),
  users: t.Object({ users: t.Array(userSummary), next: t.Union([t.Integer(), t.Null()]) }),
  userParams: t.Object({ id: userId }),
  sessionParams: t.Object({ id: userId, sessionId: t.String({ maxLength: 64 }) }),
  user: t.Object({
    user: userSummary,
    sessions: t.Array(
      t.Object({
        id: t.String({ description: 'names the session for revoking; not a credential' }),
        createdAt: isoTime,
        expiresAt: isoTime,
        kind: t.UnionEnum(['miniprogram', 'web']),
      }),
    ),
  }),
  revoked: t.Object({ revoked: t.Integer() }),
  loginsQuery: t.Object(paging),
  logins: t.Object({
    events: t.Array(
      t.Object({
        id: t.Integer(),
        at: isoTime,
        outcome: t.String(),
        userId: t.Union([t.Integer(), t.Null()]),
        ipPrefix: t.Union([t.String(), t.Null()]),
      }),
    ),
    next: t.Union([t.Integer(), t.Null()]),
  }),
  linkParams: t.Object({ id: t.String({ maxLength: 64, description: 'the link’s id (its path)' }) }),
  linkBody: t.Object({
    secret: t.String({ maxLength: 64, description: 'the link’s #fragment: browsers never send it in the URL' }),
  }),
  page: t.String(),
} as const
