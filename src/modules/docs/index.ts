import { openapi, toOpenAPISchema } from '@elysiajs/openapi'
import { type AnyElysia, Elysia } from 'elysia'
import packageJson from '../../../package.json'
import { errorResponse, SECURITY_SCHEMES } from '../../libs/openapi'
import { createReferencePage } from './reference'

type JsonObject = Record<string, unknown>

interface RouteInfo {
  method: string
  path: string
  hooks?: { body?: unknown; parse?: unknown[]; detail?: { responses?: JsonObject } }
}

/** The standalone server answers every request with its id (see servedWithTelemetry). */
const REQUEST_ID_HEADER = {
  description: "the request's id: the caller's X-Request-Id when it is sane, else a fresh UUID; also in the log line",
  schema: { type: 'string' as const },
}

/**
 * Any route but a GET that parses bodies (wxauth's body limit) answers a malformed or oversized one
 * with 400 or 413, whether or not it reads a body: documented on those that list neither.
 */
function addBodyErrors(responses: JsonObject, route: RouteInfo): void {
  if (route.method === 'GET' || !route.hooks?.parse?.length) return
  responses['400'] ??= plainJson(errorResponse(400, ['VALIDATION']))
  responses['413'] ??= plainJson(errorResponse(413, ['PAYLOAD_TOO_LARGE']))
}

function addRequestIdHeader(responses: JsonObject): void {
  for (const response of Object.values(responses) as { headers?: JsonObject }[]) {
    response.headers = { ...response.headers, 'X-Request-Id': { $ref: '#/components/headers/RequestId' } }
  }
}

/** Elysia's `:id` becomes OpenAPI's `{id}`. */
export const toOpenApiPath = (path: string) => path.replace(/:([^/]+)/g, '{$1}')

/** The generator documents a route for any method (GET /auth/verify, which proxies call) as its GET. */
export const toOpenApiMethod = (method: string) => (method === 'ALL' ? 'get' : method.toLowerCase())

/**
 * TypeBox schemas carry symbols; the document wants plain JSON. Elysia's t.Integer also accepts a
 * numeric string on input and shows up as `anyOf: [string, integer]`: documented here as the integer it is.
 */
function plainJson(value: unknown): JsonObject {
  return JSON.parse(JSON.stringify(value), (_key, node: unknown) => {
    const anyOf = (node as { anyOf?: JsonObject[] } | null)?.anyOf
    const integer = anyOf?.length === 2 && anyOf[0]?.format === 'integer' ? anyOf[1] : undefined
    return integer?.type === 'integer' ? integer : node
  }) as JsonObject
}

/**
 * The generator replaces a route's documented responses with its runtime response schemas, and
 * emits no request schema when a global parser is installed (our body limit). Put both back.
 */
function completeOperation(operation: JsonObject, route: RouteInfo): void {
  const responses = plainJson({ ...(operation.responses as JsonObject), ...route.hooks?.detail?.responses })
  addBodyErrors(responses, route)
  addRequestIdHeader(responses)
  operation.responses = responses
  if (operation.parameters) operation.parameters = plainJson({ list: operation.parameters }).list
  const requestBody = operation.requestBody as { content?: JsonObject } | undefined
  if (requestBody && route.hooks?.body) {
    requestBody.content = { 'application/json': { schema: plainJson(route.hooks.body) } }
  }
}

/**
 * The OpenAPI document of every route `api` serves at /openapi/json, and the reference page at /openapi
 * with its viewer served from this server (see reference.ts).
 */
export function createApiDocs(api: AnyElysia) {
  const { paths, components } = toOpenAPISchema(api)
  const byPath = paths as Record<string, Record<string, JsonObject>>
  for (const route of api.routes as RouteInfo[]) {
    const operation = byPath[toOpenApiPath(route.path)]?.[toOpenApiMethod(route.method)]
    if (operation) completeOperation(operation, route)
  }
  const document = openapi({
    documentation: {
      info: {
        title: 'wxauth',
        version: packageJson.version,
        description:
          'Login server for WeChat Mini Programs: wx.login code → user → skey. Every error is `{ code, msg }`.',
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      // The server that serves this document: wxauth is self-hosted, its address is yours.
      servers: [{ url: '/', description: 'this wxauth server' }],
      tags: [
        { name: 'auth', description: 'log in, who am I, log out' },
        { name: 'wechat', description: "open data with the session's session_key" },
        { name: 'notes', description: 'the example protected resource' },
        { name: 'health', description: 'for load balancers' },
        { name: 'web-login', description: 'scan a mini program code to sign a browser in (WEB_LOGIN=true)' },
        { name: 'admin', description: 'the admin console and its API (ADMIN_OPENIDS)' },
      ],
      paths: byPath,
      components: {
        schemas: components.schemas,
        securitySchemes: SECURITY_SCHEMES,
        headers: { RequestId: REQUEST_ID_HEADER },
      },
    },
    // A path with a dot is taken for a static file and left out by default: the web-login code is a route.
    exclude: { staticFile: false },
    // The plugin's pages load their viewer from a CDN: wxauth serves its own.
    provider: null,
  })
  return new Elysia({ name: 'wxauth.docs' }).use(document).use(createReferencePage())
}
