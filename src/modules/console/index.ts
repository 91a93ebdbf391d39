import { Elysia } from 'elysia'
import { bodyLimit } from '../../libs/body-limit'
import { AppError, errors } from '../../libs/errors'
import { htmlPage, servePage } from '../../libs/html-page'
import { type RouteDocOptions, routeDoc } from '../../libs/openapi'
import { requestPlace } from '../../libs/origin'
import { noteUserId } from '../../libs/request-facts'
import { csrfRejected, type Guard } from '../sessions'
import type { User } from '../users/model'
import { sessionCookie } from '../web-login/cookies'
import linkFile from './link.html' with { type: 'text' }
import { ConsoleModel, DEFAULT_PAGE } from './model'
import pageFile from './page.html' with { type: 'text' }
import { adminOnly, type ConsoleService } from './service'

const CONSOLE_PAGE = htmlPage(pageFile, 'console page.html')
const LINK_PAGE = htmlPage(linkFile, 'console link.html')

export interface ConsoleRoutesOptions {
  service: ConsoleService
  guard: Guard
  /** The CSRF rule of cookie-signed writes (the guard applies it to /admin/api; the link POST checks it here). */
  isAllowedOrigin(request: Request): boolean
  trustProxy: boolean
  sessionTtlSeconds: number
}

const ADMIN_ERRORS = { 403: ['ADMIN_ONLY'] } as const
const sessionNotFound = () => new AppError(404, 'SESSION_NOT_FOUND', 'this user has no live session by that id')

/** An admin API route's options: the session (cookie or skey) of an admin. */
function adminRoute(summary: string, more: Partial<RouteDocOptions> = {}) {
  return {
    auth: true,
    detail: routeDoc({
      summary,
      tag: 'admin',
      auth: true,
      ...more,
      errors: { ...ADMIN_ERRORS, ...more.errors },
    }),
  } as const
}

/**
 * The admin console (ADMIN_OPENIDS): its pages at /admin, the one-time sign-in links of
 * `wxauth admin-link`, and the JSON API under /admin/api/ for the openids in ADMIN_OPENIDS only.
 */
export function createConsoleRoutes({
  service,
  guard,
  isAllowedOrigin,
  trustProxy,
  sessionTtlSeconds,
}: ConsoleRoutesOptions) {
  function requireAdmin(user: User): void {
    if (!service.isAdmin(user)) throw adminOnly()
  }
  return new Elysia({ name: 'wxauth.console' })
    .use(errors())
    .use(bodyLimit())
    .use(guard)
    .get('/admin', () => servePage(CONSOLE_PAGE), {
      detail: routeDoc({
        summary: 'The admin console (HTML): sign in with the web login, then overview, users, sessions, logins',
        tag: 'admin',
        success: { 200: { description: 'the page', mediaType: 'text/html', schema: ConsoleModel.page } },
      }),
    })
    .get('/admin/link/:id', () => servePage(LINK_PAGE), {
      params: ConsoleModel.linkParams,
      detail: routeDoc({
        summary: 'The page of a one-time admin link: a button that signs in (opening the link alone uses nothing up)',
        tag: 'admin',
        success: { 200: { description: 'the page', mediaType: 'text/html', schema: ConsoleModel.page } },
      }),
    })
    .post(
      '/admin/link/:id',
      async function useAdminLink({ params, body, request, set }) {
        // A browser's POST always carries its Origin: this one must be the console's own.
        if (!isAllowedOrigin(request)) throw csrfRejected()
        const { user, token } = await service.useLink(params.id, body.secret)
        noteUserId(request, user.id)
        set.headers['set-cookie'] = sessionCookie(token, sessionTtlSeconds, requestPlace(request, trustProxy))
        set.headers['cache-control'] = 'no-store'
        set.status = 204
      },
      {
        params: ConsoleModel.linkParams,
        body: ConsoleModel.linkBody,
        detail: routeDoc({
          summary: 'Sign in with a one-time admin link (wxauth admin-link): sets the wxauth_session cookie',
          body: true,
          tag: 'admin',
          success: { 204: { description: 'signed in: the session cookie is set' } },
          errors: { 403: ['ADMIN_ONLY', 'CSRF_REJECTED'], 404: ['LINK_INVALID'], 410: ['LINK_EXPIRED'] },
        }),
      },
    )
    .get(
      '/admin/api/overview',
      ({ user }) => {
        requireAdmin(user)
        return service.overview()
      },
      {
        ...adminRoute('Users, live sessions, logins per hour (48 h) and failure reasons (24 h)'),
        response: { 200: ConsoleModel.overview },
      },
    )
    .get(
      '/admin/api/users',
      ({ user, query }) => {
        requireAdmin(user)
        return service.users(query.q ?? '', query.limit ?? DEFAULT_PAGE, query.before)
      },
      {
        ...adminRoute('Users, newest first: search by id, or the start of an openid or unionid'),
        query: ConsoleModel.usersQuery,
        response: { 200: ConsoleModel.users },
      },
    )
    .get(
      '/admin/api/users/:id',
      ({ user, params }) => {
        requireAdmin(user)
        return service.user(params.id)
      },
      {
        ...adminRoute('One user and their live sessions', { errors: { 404: ['USER_NOT_FOUND'] } }),
        params: ConsoleModel.userParams,
        response: { 200: ConsoleModel.user },
      },
    )
    .delete(
      '/admin/api/users/:id/sessions/:sessionId',
      async ({ user, params, set }) => {
        requireAdmin(user)
        if (!(await service.revokeSession(params.id, params.sessionId))) throw sessionNotFound()
        set.status = 204
      },
      {
        ...adminRoute('End one session of the user', {
          success: { 204: { description: 'the session is over' } },
          errors: { 404: ['USER_NOT_FOUND', 'SESSION_NOT_FOUND'] },
        }),
        params: ConsoleModel.sessionParams,
      },
    )
    .delete(
      '/admin/api/users/:id/sessions',
      async ({ user, params }) => {
        requireAdmin(user)
        return { revoked: await service.revokeAll(params.id) }
      },
      {
        ...adminRoute('End every session of the user', { errors: { 404: ['USER_NOT_FOUND'] } }),
        params: ConsoleModel.userParams,
        response: { 200: ConsoleModel.revoked },
      },
    )
    .get(
      '/admin/api/logins',
      ({ user, query }) => {
        requireAdmin(user)
        return service.logins(query.limit ?? DEFAULT_PAGE, query.before)
      },
      {
        ...adminRoute('Login attempts, newest first: outcome, user when known, the address only as its /24 or /48'),
        query: ConsoleModel.loginsQuery,
        response: { 200: ConsoleModel.logins },
      },
    )
}
