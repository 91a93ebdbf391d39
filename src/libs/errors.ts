import { Elysia } from 'elysia'
import { logger } from './log'
import { errorCodeOf } from './request-facts'

/** The one error type of wxauth: becomes `{ code, msg }` with `status`. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** WeChat's errcode, passed on to the client when WeChat gave one. */
    readonly errcode?: number,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

/** The 503 for a request that needed a store which is not answering; the server recovers by itself. */
export function storeUnavailable(store: 'PostgreSQL' | 'Redis'): AppError {
  return new AppError(503, 'STORE_UNAVAILABLE', `${store} is not answering; retry shortly`)
}

const POSTGRES_OUTAGE_STATES = new Set(['57P01', '57P02', '57P03'])

/**
 * A lost or refused connection to PostgreSQL or Redis, as Bun reports it: error codes
 * ERR_POSTGRES_CONNECTION_* / ERR_REDIS_CONNECTION_*, or SQLSTATE class 08 and the shutdown states.
 */
export function storeOutageOf(error: unknown): 'PostgreSQL' | 'Redis' | null {
  if (error === null || typeof error !== 'object') return null
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  if (typeof code === 'string') {
    if (/^ERR_POSTGRES_(CONNECTION|.*TIMEOUT)/.test(code)) return 'PostgreSQL'
    if (code.startsWith('ERR_REDIS_CONNECTION')) return 'Redis'
  }
  if (typeof errno === 'string' && (errno.startsWith('08') || POSTGRES_OUTAGE_STATES.has(errno))) return 'PostgreSQL'
  return null
}

export interface ErrorBody {
  code: string
  msg: string
  errcode?: number
}

/** The WWW-Authenticate challenge (RFC 6750) that goes with each 401 of the skey check. */
const SKEY_CHALLENGE: Record<string, string> = {
  SKEY_MISSING: 'Bearer realm="wxauth"',
  SKEY_INVALID: 'Bearer realm="wxauth", error="invalid_token"',
}

/** Any failure as the AppError it is answered with; store outages and unexpected errors are logged. */
export function toAppError(code: string | number, error: unknown): AppError {
  if (error instanceof AppError) return error
  // Elysia wraps anything thrown while parsing the body in a ParseError.
  const cause = (error as { cause?: unknown } | null)?.cause
  if (cause instanceof AppError) return cause
  const store = storeOutageOf(error)
  if (store) {
    logger().warn('store unavailable', { store, error: error instanceof Error ? error.message : String(error) })
    return storeUnavailable(store)
  }
  switch (code) {
    case 'VALIDATION':
      return new AppError(400, 'VALIDATION', describeValidation(error))
    case 'PARSE':
      return new AppError(400, 'VALIDATION', 'request body is not valid JSON')
    case 'NOT_FOUND':
      return new AppError(404, 'NOT_FOUND', 'no such route')
    default:
      logger().error('unexpected error', {
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        stack: error instanceof Error ? error.stack : undefined,
      })
      return new AppError(500, 'INTERNAL', 'internal server error')
  }
}

function describeValidation(error: unknown): string {
  const all = (error as { all?: { summary?: string }[] }).all
  const summary = all?.[0]?.summary
  return summary ? `invalid request: ${summary}` : 'invalid request'
}

/** The `{ code, msg }` body (with WeChat's errcode when there is one). */
export function errorBody(appError: AppError): ErrorBody {
  const body: ErrorBody = { code: appError.code, msg: appError.message }
  if (appError.errcode !== undefined) body.errcode = appError.errcode
  return body
}

/** Remembers the error code a request is answered with (request log, metrics); adds the skey challenge to the 401s. */
export function noteErrorAnswer(
  request: Request,
  set: { headers: Record<string, string | number> },
  code: string,
): void {
  errorCodeOf.set(request, code)
  const challenge = SKEY_CHALLENGE[code]
  if (challenge) set.headers['www-authenticate'] = challenge
}

/**
 * An error as a Response of its own, for answers made outside Elysia (plain routes, the standalone
 * server): what Elysia makes of renderError's answer. `text` is the body when it was built once.
 */
export function respondWithError(
  request: Request,
  appError: AppError,
  text = JSON.stringify(errorBody(appError)),
): Response {
  const set = { headers: { 'content-type': 'application/json' } as Record<string, string> }
  noteErrorAnswer(request, set, appError.code)
  return new Response(text, { status: appError.status, headers: set.headers })
}

/** Turns any failure into `{ code, msg }` with its status; remembers the code for the request log. */
export function renderError({
  code,
  error,
  set,
  request,
}: {
  code: string | number
  error: unknown
  set: { status?: number | string; headers: Record<string, string | number> }
  request: Request
}): ErrorBody {
  const appError = toAppError(code, error)
  noteErrorAnswer(request, set, appError.code)
  set.status = appError.status
  return errorBody(appError)
}

/**
 * `{ code, msg }` errors for the routes of the plugin that uses this, and of nothing else: scoped,
 * so it reaches the routes of the instance that `.use()`s it but never a host app's routes.
 */
export const errors = () => new Elysia().onError({ as: 'scoped' }, renderError)
