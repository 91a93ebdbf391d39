import { Elysia } from 'elysia'
import { isoTime } from '../../libs/clock'
import { htmlPage, servePage } from '../../libs/html-page'
import { type RouteDocOptions, routeDoc } from '../../libs/openapi'
import { cookieOf, requestPlace } from '../../libs/origin'
import { clientAddress } from '../../libs/rate-limit'
import { noteUserId } from '../../libs/request-facts'
import type { IpLimit } from '../auth/shared-rate-limit'
import { csrfRejected, type Guard, miniProgramSessionKey } from '../sessions'
import type { Session } from '../sessions/model'
import type { SessionStore } from '../sessions/service'
import type { User } from '../users/model'
import { toPublicUser } from '../users/service'
import { cookieHeader, sessionCookie } from './cookies'
import { EXPIRED_TICKET_GRACE_MS, TICKET_COOKIE, TICKET_COOKIE_PATH, WebLoginModel } from './model'
import webLoginPage from './page.html' with { type: 'text' }
import type { WebLoginService } from './service'

const PAGE = htmlPage(webLoginPage, 'web-login page.html')

const NO_STORE = 'no-store'

export interface WebLoginRoutesOptions {
  service: WebLoginService
  guard: Guard
  sessions: SessionStore
  ttlSeconds: number
  sessionTtlSeconds: number
  /** The CSRF rule the guard applies to cookie-signed writes: Origin is this server's own or in WEB_ORIGINS. */
  isAllowedOrigin(request: Request): boolean
  trustProxy: boolean
  /** The per-IP limit POST /auth/login has, with a bucket of its own. */
  limitPerIp: IpLimit
}

/**
 * Scan to log in on the web. The browser: GET /web (the example page), POST /web/login, the code's
 * image and a long poll on the ticket. The mini program (skey): scan, confirm, deny.
 */
export function createWebLoginRoutes({
  service,
  guard,
  sessions,
  ttlSeconds,
  sessionTtlSeconds,
  isAllowedOrigin,
  trustProxy,
  limitPerIp,
}: WebLoginRoutesOptions) {
  // The binding cookie outlives its ticket by the grace period, so the browser is told `expired`, not 403.
  const bindingMaxAgeSeconds = ttlSeconds + EXPIRED_TICKET_GRACE_MS / 1000
  /** Only a mini program's session may sign a browser in: a web session cannot pass itself on. */
  async function miniProgramUser({ user, session }: { user: User; session: Session }): Promise<number> {
    await miniProgramSessionKey(sessions, session)
    return user.id
  }
  return new Elysia({ name: 'wxauth.web-login' })
    .use(guard)
    .get('/web', () => servePage(PAGE), {
      detail: routeDoc({
        summary: 'The example web-login page: shows the code, then the signed-in user (HTML, no external assets)',
        tag: 'web-login',
        success: { 200: { description: 'the page', mediaType: 'text/html', schema: WebLoginModel.page } },
      }),
    })
    .post(
      '/web/login',
      async function startWebLogin({ request, server, set }) {
        // A page on another site may not start logins in this browser (login CSRF); curl sends no Origin.
        if (request.headers.has('origin') && !isAllowedOrigin(request)) throw csrfRejected()
        const browser = {
          ip: clientAddress(request, server, trustProxy),
          userAgent: request.headers.get('user-agent') ?? '',
        }
        const { ticket, cookie } = await service.start(browser, cookieOf(request, TICKET_COOKIE))
        const place = requestPlace(request, trustProxy)
        set.status = 201
        set.headers['cache-control'] = NO_STORE
        set.headers['set-cookie'] = cookieHeader(
          TICKET_COOKIE,
          cookie,
          { path: TICKET_COOKIE_PATH, maxAgeSeconds: bindingMaxAgeSeconds },
          place,
        )
        return {
          ticket: ticket.id,
          qrcodeUrl: `/web/login/${ticket.id}/qrcode.png`,
          expiresAt: isoTime(ticket.expiresAt),
          status: 'waiting' as const,
        }
      },
      {
        beforeHandle: ({ request, server, set }) => limitPerIp(request, server, set),
        response: { 201: WebLoginModel.created },
        detail: routeDoc({
          summary: 'Start a web login: a ticket, its code and the cookie that binds it to this browser',
          tag: 'web-login',
          errors: { 403: ['CSRF_REJECTED'], 429: ['RATE_LIMITED'], 503: ['STORE_UNAVAILABLE'] },
        }),
      },
    )
    .get(
      '/web/login/:ticket/qrcode.png',
      async function webLoginCode({ params, request }) {
        const image = await service.qrcode(params.ticket, cookieOf(request, TICKET_COOKIE))
        return new Response(image.bytes, {
          headers: { 'content-type': image.contentType, 'cache-control': `private, max-age=${ttlSeconds}` },
        })
      },
      {
        params: WebLoginModel.ticketParams,
        detail: routeDoc({
          summary: "The mini program code for this ticket (WeChat's getwxacodeunlimit; scene = the ticket)",
          tag: 'web-login',
          success: { 200: { description: 'the image', mediaType: 'image/png', schema: WebLoginModel.image } },
          errors: {
            403: ['TICKET_FOREIGN'],
            404: ['TICKET_INVALID'],
            410: ['TICKET_EXPIRED'],
            502: ['WECHAT_UNAVAILABLE'],
            503: ['STORE_UNAVAILABLE'],
          },
        }),
      },
    )
    .get(
      '/web/login/:ticket',
      async function webLoginStatus({ params, query, request, set }) {
        const binding = cookieOf(request, TICKET_COOKIE)
        const answer = await service.status(params.ticket, binding, query.wait ?? 0, request.signal)
        set.headers['cache-control'] = NO_STORE
        const body = { status: answer.status, expiresAt: isoTime(answer.expiresAt) }
        if (!answer.signedIn) return body
        const { user, token } = answer.signedIn
        noteUserId(request, user.id)
        set.headers['set-cookie'] = sessionCookie(token, sessionTtlSeconds, requestPlace(request, trustProxy))
        return { ...body, user: toPublicUser(user) }
      },
      {
        params: WebLoginModel.ticketParams,
        query: WebLoginModel.statusQuery,
        response: { 200: WebLoginModel.status },
        detail: routeDoc({
          summary: "This browser's ticket: its status, after waiting up to `wait` seconds for a change",
          description:
            'Needs the binding cookie. The first answer with `confirmed` carries the user and sets the wxauth_session cookie; the ticket is then used up (404).',
          tag: 'web-login',
          errors: { 400: ['VALIDATION'], 403: ['TICKET_FOREIGN'], 404: ['TICKET_INVALID'], 503: ['STORE_UNAVAILABLE'] },
        }),
      },
    )
    .post(
      '/web/login/:ticket/scan',
      async function scanWebLogin(context) {
        const ticket = await service.scan(context.params.ticket, await miniProgramUser(context))
        return {
          browser: { ip: ticket.ip, userAgent: ticket.userAgent, createdAt: isoTime(ticket.createdAt) },
          expiresAt: isoTime(ticket.expiresAt),
        }
      },
      {
        ...miniProgramStep(
          'The mini program scanned the code: which browser is asking',
          {},
          'Show the browser to the user before they confirm: someone may show them a code from their own browser.',
        ),
        response: { 200: WebLoginModel.scanned },
      },
    )
    .post(
      '/web/login/:ticket/confirm',
      async function confirmWebLogin(context) {
        await service.answer(context.params.ticket, await miniProgramUser(context), 'confirmed')
        context.set.status = 204
      },
      miniProgramStep('The user signs the browser in', {
        204: { description: 'confirmed: the waiting browser is signed in' },
      }),
    )
    .post(
      '/web/login/:ticket/deny',
      async function denyWebLogin(context) {
        await service.answer(context.params.ticket, await miniProgramUser(context), 'denied')
        context.set.status = 204
      },
      miniProgramStep('The user refuses to sign the browser in', {
        204: { description: 'denied: the browser is told' },
      }),
    )
}

/** The options of the mini program's steps: an skey, the ticket, and the errors they share. */
function miniProgramStep(summary: string, success: RouteDocOptions['success'], description?: string) {
  return {
    auth: true,
    params: WebLoginModel.ticketParams,
    detail: routeDoc({ summary, description, tag: 'web-login', auth: true, success, errors: MINI_PROGRAM_ERRORS }),
  } as const
}

const MINI_PROGRAM_ERRORS = {
  403: ['MINIPROGRAM_SESSION_REQUIRED'],
  404: ['TICKET_INVALID'],
  409: ['TICKET_CLAIMED'],
  410: ['TICKET_EXPIRED'],
} as const
