import { type TSchema, t } from 'elysia'
import type { DocumentDecoration } from 'elysia/types'

type Responses = NonNullable<DocumentDecoration['responses']>
type MediaType = NonNullable<Exclude<Responses[string], { $ref: string }>['content']>[string]
type OpenApiSchema = NonNullable<MediaType['schema']>

/** TypeBox schemas are JSON Schema already; a JSON round trip drops their symbols. */
export function toJsonSchema(schema: TSchema): OpenApiSchema {
  return JSON.parse(JSON.stringify(schema)) as OpenApiSchema
}

const jsonContent = (schema: TSchema) => ({ 'application/json': { schema: toJsonSchema(schema) } })

/** Error codes a route can answer, by HTTP status. */
export type ErrorCodes = Partial<Record<number, readonly string[]>>

export interface RouteDocOptions {
  summary: string
  description?: string
  tag: string
  /** Needs an skey (or the web-login cookie): adds the security requirements and the guard's 401s, 403 and 503. */
  auth?: boolean
  /** Reads a JSON body: adds 400 VALIDATION and 413 PAYLOAD_TOO_LARGE. */
  body?: boolean
  errors?: ErrorCodes
  /** Success responses the route has no runtime `response` schema for (e.g. a 204); JSON unless `mediaType` says otherwise. */
  success?: Record<number, { description: string; schema?: TSchema; headers?: HeaderDocs; mediaType?: string }>
}

type HeaderDocs = Record<
  string,
  { description: string; required?: boolean; schema: { type: 'string' | 'integer'; format?: string } }
>

/** What GET /auth/verify answers a live skey with, for the proxy to pass on to the backend. */
export const FORWARD_AUTH_HEADERS: HeaderDocs = {
  'X-Wxauth-User-Id': { description: "the user's id", required: true, schema: { type: 'integer' } },
  'X-Wxauth-Openid': { description: "the user's openid", required: true, schema: { type: 'string' } },
  'X-Wxauth-Unionid': { description: "the user's unionid, only when they have one", schema: { type: 'string' } },
  'X-Wxauth-Expires-At': {
    description: 'when this session expires (ISO 8601)',
    required: true,
    schema: { type: 'string', format: 'date-time' },
  },
}

export const SECURITY_SCHEMES = {
  skey: { type: 'apiKey', in: 'header', name: 'skey', description: 'the skey from POST /auth/login' },
  bearer: { type: 'http', scheme: 'bearer', description: 'the skey as Authorization: Bearer <skey>' },
  webSession: {
    type: 'apiKey',
    in: 'cookie',
    name: 'wxauth_session',
    description: 'a web session from the web login (WEB_LOGIN=true), used when no skey header is sent',
  },
} as const

/** Response headers some errors carry. */
const ERROR_HEADERS: Record<number, HeaderDocs> = {
  401: {
    'WWW-Authenticate': {
      description: 'Bearer realm="wxauth" (RFC 6750), with error="invalid_token" for SKEY_INVALID',
      schema: { type: 'string' },
    },
  },
  429: {
    'Retry-After': {
      description: 'seconds until this address may log in again (RATE_LIMITED only)',
      schema: { type: 'integer' },
    },
  },
}

const AUTH_ERRORS: ErrorCodes = {
  401: ['SKEY_MISSING', 'SKEY_INVALID'],
  // A write signed in by the web-login cookie from an origin that is not allowed.
  403: ['CSRF_REJECTED'],
  503: ['STORE_UNAVAILABLE'],
}
const BODY_ERRORS: ErrorCodes = { 400: ['VALIDATION'], 413: ['PAYLOAD_TOO_LARGE'] }
const ALWAYS: ErrorCodes = { 500: ['INTERNAL'] }

function mergeErrorCodes(...lists: ErrorCodes[]): Map<number, string[]> {
  const merged = new Map<number, string[]>()
  for (const list of lists) {
    for (const [status, codes] of Object.entries(list)) {
      const known = merged.get(Number(status)) ?? []
      merged.set(Number(status), [...new Set([...known, ...(codes ?? [])])])
    }
  }
  return merged
}

/** The `{ code, msg }` body of a status, `code` limited to the listed values, with the headers that go with it. */
export function errorResponse(status: number, codes: string[]) {
  const schema = t.Object({
    code: t.Union(codes.map((code) => t.Literal(code))),
    msg: t.String({ description: 'for humans; switch on code' }),
    errcode: t.Optional(t.Integer({ description: "WeChat's errcode, when WeChat gave one" })),
  })
  const headers = ERROR_HEADERS[status]
  return { description: codes.join(', '), content: jsonContent(schema), ...(headers ? { headers } : {}) }
}

/** A route's `detail`: summary, tag, security and every error response with its codes. */
export function routeDoc({
  summary,
  description,
  tag,
  auth,
  body,
  errors = {},
  success = {},
}: RouteDocOptions): DocumentDecoration {
  const responses: NonNullable<DocumentDecoration['responses']> = {}
  for (const [status, { description: text, schema, headers, mediaType = 'application/json' }] of Object.entries(
    success,
  )) {
    responses[status] = {
      description: text,
      ...(schema ? { content: { [mediaType]: { schema } } } : {}),
      ...(headers ? { headers } : {}),
    }
  }
  const codes = mergeErrorCodes(auth ? AUTH_ERRORS : {}, body ? BODY_ERRORS : {}, errors, ALWAYS)
  for (const [status, list] of codes) responses[String(status)] = errorResponse(status, list)
  return {
    summary,
    description,
    tags: [tag],
    // An empty list says "public" (no skey), rather than leaving it unsaid.
    security: auth ? [{ skey: [] }, { bearer: [] }, { webSession: [] }] : [],
    responses,
  }
}
