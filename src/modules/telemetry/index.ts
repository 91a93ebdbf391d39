import { type AnyElysia, Elysia, t } from 'elysia'
import { createBunRouteHandler } from 'elysia/adapter/bun/compose'
import { AppError, errors, respondWithError } from '../../libs/errors'
import type { Logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import { plainAnswerOf } from '../../libs/plain-route'
import { beginHandlerCall, endHandlerCall, errorCodeOf, type HandlerCall, userIdNoted } from '../../libs/request-facts'
import { REQUEST_ID_PATTERN } from './model'
import type { Metrics } from './service'

type Answer = Response | Promise<Response>
type Handler = (request: Request) => Answer

export interface TelemetryOptions {
  logger: Logger
  /** Counts requests by route when given (GET /metrics serves them: see createMetricsRoute). */
  metrics?: Metrics
}

const requestIdOf = (incoming: string | null) =>
  incoming !== null && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID()

/** The path of a request URL without its query string (the URL is the bare path when Bun found no valid Host). */
function pathOf(url: string): string {
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2)
  if (start === -1) return '/'
  const query = url.indexOf('?', start)
  return query === -1 ? url.slice(start) : url.slice(start, query)
}

/** The route pattern (`/notes/:id`) a method and path were served by, for metric labels. */
function routeMatcher(routes: readonly { method: string; path: string }[]) {
  const exact = new Set<string>()
  const patterns: { method: string; path: string; regex: RegExp }[] = []
  for (const { method, path } of routes) {
    if (!path.includes(':')) exact.add(`${method} ${path}`)
    else patterns.push({ method, path, regex: new RegExp(`^${path.replace(/:[^/]+/g, '[^/]+')}$`) })
  }
  return (method: string, path: string): string => {
    if (exact.has(`${method} ${path}`) || exact.has(`ALL ${path}`)) return path
    const found = patterns.find(
      (route) => (route.method === method || route.method === 'ALL') && route.regex.test(path),
    )
    return found?.path ?? 'unmatched'
  }
}

type Routed = { fetch: Handler; routes: readonly { method: string; path: string }[] }

/**
 * Wraps a request handler once, outside Elysia's hook chain (a global hook makes Elysia compile a
 * slower handler for every route). Every request gets an id (the caller's x-request-id when sane),
 * echoed in the response; once answered, one JSON log line (time, id, method, path without query,
 * status, duration, user id, error code) and the request metrics. Only the path is logged: the
 * query string and headers never reach a log line.
 */
function createObserver(app: Routed, { logger, metrics }: TelemetryOptions) {
  const logRequests = logger.enabled('info')
  const routeOf = metrics ? routeMatcher(app.routes) : null

  /** The method and path of the log line (the path escaped), and the route of the metrics. */
  const placeOf = (method: string, path: string) => ({
    method,
    route: routeOf ? routeOf(method, path) : '',
    logged: `"method":${JSON.stringify(method)},"path":${JSON.stringify(path)}`,
  })
  type Place = ReturnType<typeof placeOf>

  function record(call: HandlerCall, response: Response, id: string, started: number, known?: Place): Response {
    const { request } = call
    response.headers.set('x-request-id', id)
    if (!metrics && !logRequests) return response
    const { status } = response
    const code = errorCodeOf.get(request)
    // A GET entry in Bun's routes also answers HEAD: the method is the request's own.
    const place = known?.method === request.method ? known : placeOf(request.method, pathOf(request.url))
    if (metrics) {
      metrics.request(place.route, place.method, status)
      if (place.route === '/auth/login' && place.method === 'POST') metrics.login(code ?? 'OK')
    }
    if (!logRequests) return response
    const userId = userIdNoted(call)
    // Built by hand: this runs for every request. The id is a UUID or matched REQUEST_ID_PATTERN,
    // codes are our own upper-case names; method and path are escaped by placeOf.
    const fields =
      `"requestId":"${id}",${place.logged},` +
      `"status":${status},"durationMs":${Math.round((performance.now() - started) * 100) / 100}` +
      (userId === undefined ? '' : `,"userId":${userId}`) +
      (code === undefined ? '' : `,"code":"${code}"`)
    logger.preformatted('info', 'request', fields)
    return response
  }

  /** `handle` observed; `route`, for a handler that serves one method and fixed path, spares reading the URL. */
  return (handle: Handler, route?: { method: string; path: string }): Handler => {
    const known = route ? placeOf(route.method, route.path) : undefined
    return function observed(request: Request): Answer {
      const started = logRequests ? performance.now() : 0
      const id = requestIdOf(request.headers.get('x-request-id'))
      const call = beginHandlerCall(request)
      let answer: Answer
      try {
        answer = handle(request)
      } finally {
        endHandlerCall(call)
      }
      if (answer instanceof Promise) return answer.then((response) => record(call, response, id, started, known))
      return record(call, answer, id, started, known)
    }
  }
}

/** The app's fetch with the request id, access log and metrics: for tests and any Request-in, Response-out host. */
export function withTelemetry(app: Routed, options: TelemetryOptions): Handler {
  // Looked up on every call: Elysia's first fetch compiles the router and replaces itself.
  return createObserver(app, options)((request) => app.fetch(request))
}

const NATIVE_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])

type Route = AnyElysia['router']['history'][number]

const hasAny = (value: unknown) => value !== undefined && !(Array.isArray(value) && value.length === 0)

/**
 * Whether Elysia would add nothing around this route's handler: no hook of the route (detail is only
 * documentation), and no onRequest, trace, wrap or default headers on the app.
 */
function runsBare(app: AnyElysia, route: Route): boolean {
  const { detail: _, ...hooks } = route.hooks as Record<string, unknown>
  const extender = Reflect.get(app, 'extender') as { higherOrderFunctions?: unknown[] } | undefined
  return (
    !Object.values(hooks).some(hasAny) &&
    !hasAny(app.event.request) &&
    !hasAny(app.event.trace) &&
    !hasAny(extender?.higherOrderFunctions) &&
    Object.keys(Reflect.get(app, 'setHeaders') ?? {}).length === 0
  )
}

/** How Bun's native routes run a route: its plain answer when Elysia adds nothing to it, else Elysia's compiled handler. */
function nativeHandlerOf(app: AnyElysia, route: Route): Handler {
  const plain = plainAnswerOf(route.handler)
  return plain && runsBare(app, route) ? plain : createBunRouteHandler(app, route)
}

/**
 * `Bun.serve` options for the app, as `app.listen()` would build them but observed: each route with
 * a fixed path gets its own entry in Bun's native `routes` (no router lookup): Elysia's per-route
 * compiled handler, or a plainRoute's answer itself where Elysia would add nothing to it (no context
 * object per request). Everything else goes through the app's fetch. All through withTelemetry's
 * observer.
 */
export function servedWithTelemetry(app: AnyElysia, options: TelemetryOptions) {
  // As app.listen() does: the per-route handlers then share the compiled error handler. Before any
  // server is attached, since compile() reloads an attached server with the app's own fetch.
  app.compile()
  const observe = createObserver(app, options)
  const routes: Record<string, Record<string, Handler>> = {}
  for (const route of app.router.history) {
    if (!NATIVE_METHODS.has(route.method) || /[:*]/.test(route.path)) continue
    routes[route.path] = { ...routes[route.path], [route.method]: observe(nativeHandlerOf(app, route), route) }
  }
  return { routes, fetch: observe((request) => (hasHost(request) ? app.fetch(request) : answerHostless(request))) }
}

/**
 * Bun gives the bare path as request.url when the Host header is absent (HTTP/1.0), empty or malformed,
 * and Elysia would look for the route at the wrong place in it. Bun's native routes match the real
 * path and still answer; the rest get 400 (an http URI with no host is invalid, RFC 9110 §4.2.1).
 * Not rebuilt with a full URL: Bun knows no client address for a rebuilt request, and the login rate
 * limit asks for it (`POST /auth/login/` comes through here).
 */
const hasHost = (request: Request) => !request.url.startsWith('/')

const answerHostless = (request: Request) =>
  respondWithError(request, new AppError(400, 'VALIDATION', 'the Host header is missing, empty or malformed'))

/** GET /metrics, in Prometheus' text format (only with METRICS=true). */
export function createMetricsRoute(metrics: Metrics) {
  return new Elysia({ name: 'wxauth.metrics' }).use(errors()).get(
    '/metrics',
    ({ set }) => {
      set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8'
      return metrics.render()
    },
    {
      detail: routeDoc({
        summary: 'Prometheus metrics (only with METRICS=true)',
        tag: 'health',
        success: {
          200: { description: 'Prometheus text exposition format 0.0.4', mediaType: 'text/plain', schema: t.String() },
        },
      }),
    },
  )
}
