import { Elysia } from 'elysia'
import { errorCodeOf } from '../../libs/errors'
import type { Logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import { REQUEST_ID_PATTERN } from './model'
import type { Metrics } from './service'

interface InFlight {
  id: string
  started: number
}

export interface TelemetryOptions {
  logger: Logger
  /** Counts requests and serves GET /metrics when given. */
  metrics?: Metrics
}

/** The signed-in user, or for a login the user it just signed in (read from the answer, never its skey). */
function userIdOf(context: object): number | undefined {
  const { user, responseValue } = context as { user?: { id?: number }; responseValue?: { user?: { id?: unknown } } }
  if (user?.id !== undefined) return user.id
  const loggedIn = responseValue?.user?.id
  return typeof loggedIn === 'number' ? loggedIn : undefined
}

const requestIdOf = (incoming: string | null) =>
  incoming !== null && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID()

/**
 * Every request gets an id (the caller's x-request-id when sane), echoed in the response. When it
 * ends: one JSON log line (time, id, method, path without query, status, duration, user id) and the
 * request metrics. Only the path is logged: the query string and headers never reach a log line.
 */
export function createTelemetry({ logger, metrics }: TelemetryOptions) {
  const inFlight = new WeakMap<Request, InFlight>()
  const logRequests = logger.enabled('info')

  const tagged = new Elysia({ name: 'wxauth.telemetry' }).onRequest(function tagRequest({ request, set }) {
    const id = requestIdOf(request.headers.get('x-request-id'))
    set.headers['x-request-id'] = id
    inFlight.set(request, { id, started: performance.now() })
  })
  // With neither request lines nor metrics wanted, requests skip the after-response hook entirely.
  if (!logRequests && !metrics) return tagged

  const app = tagged.onAfterResponse({ as: 'global' }, function recordRequest(context) {
    const { request, set, path } = context
    const started = inFlight.get(request)
    const status = typeof set.status === 'number' ? set.status : 200
    const route = (context as { route?: string }).route ?? 'unmatched'
    const code = errorCodeOf.get(request)
    if (metrics) {
      metrics.request(route, request.method, status)
      if (route === '/auth/login' && request.method === 'POST') metrics.login(code ?? 'OK')
    }
    if (!logRequests) return
    const userId = userIdOf(context)
    // Built by hand: this runs for every request. The id is a UUID or matched REQUEST_ID_PATTERN,
    // codes are our own upper-case names; method and path are escaped.
    const fields =
      `"requestId":"${started?.id ?? ''}","method":${JSON.stringify(request.method)},"path":${JSON.stringify(path)},` +
      `"status":${status},"durationMs":${started ? Math.round((performance.now() - started.started) * 100) / 100 : 0}` +
      (userId === undefined ? '' : `,"userId":${userId}`) +
      (code === undefined ? '' : `,"code":"${code}"`)
    logger.preformatted('info', 'request', fields)
  })

  if (!metrics) return app
  return app.get(
    '/metrics',
    ({ set }) => {
      set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8'
      return metrics.render()
    },
    {
      detail: routeDoc({
        summary: 'Prometheus metrics (only with METRICS=true)',
        tag: 'health',
        success: { 200: { description: 'Prometheus text exposition format 0.0.4' } },
      }),
    },
  )
}
