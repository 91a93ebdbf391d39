import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { toOpenApiMethod, toOpenApiPath } from '../../../src/modules/docs'
import { ASSETS, ASSETS_PATH, acceptsGzip, SWAGGER_UI_VERSION } from '../../../src/modules/docs/reference'
import { jsonRequest, testApp } from '../../helpers'

interface Operation {
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  requestBody?: { content: Record<string, { schema: { type?: string; properties?: object } }> }
  responses: Record<string, { content?: Record<string, { schema: ErrorSchema }>; headers?: Record<string, unknown> }>
}
interface ErrorSchema {
  required?: string[]
  properties?: { code?: { const?: string; anyOf?: { const: string }[] }; msg?: object }
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, unknown> }
}

async function openApiDocument(
  config: Parameters<typeof testApp>[0] = {},
): Promise<{ doc: Document; routes: { method: string; path: string }[] }> {
  const { app } = await testApp(config)
  const response = await app.handle(new Request('http://localhost/openapi/json'))
  expect(response.status).toBe(200)
  return { doc: (await response.json()) as Document, routes: app.routes }
}

const ASSET_ROUTES = Object.values(ASSETS).map((asset) => `${ASSETS_PATH}/${asset.name}`)
/** The reference page, its viewer's files and the document itself: not operations of the API. */
const DOC_ROUTES = new Set(['/openapi', '/openapi/json', ...ASSET_ROUTES])
/** Routes anyone may call: the browser's side of the web login has no session yet. */
const PUBLIC_PATHS = new Set([
  '/auth/login',
  '/healthz',
  '/web',
  '/web/login',
  '/web/login/{ticket}',
  '/web/login/{ticket}/qrcode.png',
  '/admin',
  '/admin/link/{id}',
])
const WEB_LOGIN = { page: 'pages/web-login/index', envVersion: 'release', ttlSeconds: 120, origins: [] } as const
const codesOf = (schema: ErrorSchema) =>
  schema.properties?.code?.const !== undefined
    ? [schema.properties.code.const]
    : (schema.properties?.code?.anyOf ?? []).map((option) => option.const)

describe('OpenAPI document', () => {
  test.each([
    ['default', {}],
    ['WEB_LOGIN=true', { webLogin: WEB_LOGIN }],
    ['ADMIN_OPENIDS', { webLogin: WEB_LOGIN, adminOpenids: ['o-admin'] }],
  ])('is valid OpenAPI according to a real validator (%s)', async (_, config) => {
    const { doc } = await openApiDocument(config)
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  test.each([
    ['default', {}],
    ['METRICS=true', { metrics: true }],
    ['WEB_LOGIN=true', { webLogin: WEB_LOGIN }],
    ['ADMIN_OPENIDS', { webLogin: WEB_LOGIN, adminOpenids: ['o-admin'] }],
  ])('lists every route the app serves, with a summary and a success response (%s)', async (_, config) => {
    const { doc, routes } = await openApiDocument(config)
    const served = routes.filter((route) => !DOC_ROUTES.has(route.path))
    expect(served.length).toBeGreaterThanOrEqual(11)
    for (const route of served) {
      const operation = doc.paths[toOpenApiPath(route.path)]?.[toOpenApiMethod(route.method)]
      expect(operation, `${route.method} ${route.path}`).toBeDefined()
      expect(operation?.summary, `${route.method} ${route.path}`).toBeString()
      const statuses = Object.keys(operation?.responses ?? {})
      expect(
        statuses.some((status) => status.startsWith('2')),
        `${route.method} ${route.path}`,
      ).toBe(true)
    }
  })

  test.each([
    ['default', {}],
    ['WEB_LOGIN=true, ADMIN_OPENIDS', { webLogin: WEB_LOGIN, adminOpenids: ['o-admin'] }],
  ])(
    'every error response is { code, msg } listing its codes; protected routes carry the skey scheme and 401s (%s)',
    async (_, config) => {
      const { doc } = await openApiDocument(config)
      expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearer', 'skey', 'webSession'])
      for (const [path, methods] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(methods)) {
          const where = `${method.toUpperCase()} ${path}`
          for (const [status, response] of Object.entries(operation.responses)) {
            if (Number(status) < 400) continue
            const schema = response.content?.['application/json']?.schema
            expect(schema?.required, where).toEqual(['code', 'msg'])
            expect(codesOf(schema as ErrorSchema).length, `${where} ${status}`).toBeGreaterThan(0)
          }
          const isPublic = PUBLIC_PATHS.has(path)
          if (isPublic) {
            expect(operation.security, where).toEqual([])
            continue
          }
          expect(operation.security, where).toEqual([{ skey: [] }, { bearer: [] }, { webSession: [] }])
          const unauthorized = operation.responses['401']?.content?.['application/json']?.schema as ErrorSchema
          expect(codesOf(unauthorized), where).toEqual(expect.arrayContaining(['SKEY_MISSING', 'SKEY_INVALID']))
          const storeLost = operation.responses['503']?.content?.['application/json']?.schema as ErrorSchema
          expect(codesOf(storeLost), where).toEqual(['STORE_UNAVAILABLE'])
        }
      }
    },
  )

  test('request bodies carry their JSON schema; login lists the WeChat errors', async () => {
    const { doc } = await openApiDocument()
    const login = doc.paths['/auth/login']?.post
    expect(login?.requestBody?.content['application/json']?.schema.properties).toHaveProperty('code')
    expect(
      doc.paths['/wechat/decrypt']?.post?.requestBody?.content['application/json']?.schema.properties,
    ).toHaveProperty('encryptedData')
    const codes = Object.values(login?.responses ?? {}).flatMap((response) => {
      const schema = response.content?.['application/json']?.schema
      return schema ? codesOf(schema) : []
    })
    expect(codes).toEqual(
      expect.arrayContaining([
        'VALIDATION',
        'WECHAT_CODE_INVALID',
        'WECHAT_USER_BLOCKED',
        'WECHAT_RATE_LIMITED',
        'WECHAT_UNAVAILABLE',
        'STORE_UNAVAILABLE',
      ]),
    )
  })

  test("passes @redocly/cli's recommended ruleset with no errors (warnings: only /healthz, /metrics and /web, which answer no 4xx)", async () => {
    const { doc } = await openApiDocument({ metrics: true, webLogin: WEB_LOGIN })
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-openapi-'))
    try {
      const file = join(dir, 'openapi.json')
      await Bun.write(file, JSON.stringify(doc))
      const lint = Bun.spawnSync(
        ['bun', '--bun', join(import.meta.dir, '../../../node_modules/.bin/redocly'), 'lint', file, '--format=json'],
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
      )
      const report = JSON.parse(lint.stdout.toString()) as {
        totals: { errors: number }
        problems: { ruleId: string; severity: string; location: { pointer: string }[] }[]
      }
      expect(report.problems.filter((problem) => problem.severity === 'error')).toEqual([])
      expect(report.totals.errors).toBe(0)
      expect(report.problems.map((problem) => `${problem.ruleId} ${problem.location[0]?.pointer}`).sort()).toEqual([
        'operation-4xx-response #/paths/~1healthz/get/responses',
        'operation-4xx-response #/paths/~1metrics/get/responses',
        'operation-4xx-response #/paths/~1web/get/responses',
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('documents the headers: X-Request-Id on every response, WWW-Authenticate on 401, Retry-After on login 429', async () => {
    const { doc } = await openApiDocument()
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const where = `${method.toUpperCase()} ${path} ${status}`
          expect(response.headers?.['X-Request-Id'], where).toEqual({ $ref: '#/components/headers/RequestId' })
          if (status === '401') expect(response.headers?.['WWW-Authenticate'], where).toBeDefined()
        }
      }
    }
    expect(doc.paths['/auth/login']?.post?.responses['429']?.headers?.['Retry-After']).toBeDefined()
  })

  test('every route but a GET documents 400 and 413, and answers them for a malformed or oversized body', async () => {
    const { doc, routes } = await openApiDocument()
    const ctx = await testApp()
    const login = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('doc') }))
    const { skey } = (await login.json()) as { skey: string }
    for (const route of routes) {
      if (route.method === 'GET' || route.method === 'ALL' || DOC_ROUTES.has(route.path)) continue
      const where = `${route.method} ${route.path}`
      const responses = doc.paths[toOpenApiPath(route.path)]?.[toOpenApiMethod(route.method)]?.responses ?? {}
      expect(Object.keys(responses), where).toEqual(expect.arrayContaining(['400', '413']))
      const send = (body: string) =>
        ctx.app.handle(
          new Request(`http://localhost${route.path.replace(':id', '1')}`, {
            method: route.method,
            headers: { 'content-type': 'application/json', skey },
            body,
          }),
        )
      expect((await send('{')).status, where).toBe(400)
      expect((await send('x'.repeat(70_000))).status, where).toBe(413)
    }
  })

  test('leaves the reference page and its assets out of the document', async () => {
    const { doc } = await openApiDocument()
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/openapi'))).toEqual([])
  })
})

describe('GET /openapi: the reference page, served entirely by wxauth', () => {
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const { app } = await testApp()
    return app.handle(new Request(`http://localhost${path}`, { headers }))
  }

  test('references only its own assets and /openapi/json: no http:// or https:// URL at all', async () => {
    const response = await get('/openapi')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(response.headers.get('cache-control')).toBe('no-cache')
    const html = await response.text()
    expect(html).not.toMatch(/https?:/i)
    expect(html).not.toContain('//')
    const urls = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1])
    expect(urls.sort()).toEqual(['data:,', ...ASSET_ROUTES.map((route) => route.slice(1))].sort())
    expect(html).toContain(`url: "openapi/json"`)
    expect(html).toContain('validatorUrl: null')
  })

  test('a Content-Security-Policy allows this origin only, and the one inline script by its hash', async () => {
    const response = await get('/openapi')
    const csp = response.headers.get('content-security-policy') ?? ''
    const directives = new Map(
      csp.split(';').map((directive) => {
        const [name = '', ...values] = directive.trim().split(/\s+/)
        return [name, values]
      }),
    )
    expect(directives.get('default-src')).toEqual(["'self'"])
    expect(directives.get('style-src')).toEqual(["'self'"])
    expect(directives.get('img-src')).toEqual(["'self'", 'data:'])
    expect(directives.get('frame-ancestors')).toEqual(["'none'"])
    const html = await response.text()
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1] ?? '')
    expect(inline).toHaveLength(1)
    expect(directives.get('script-src')).toEqual(["'self'", `'sha256-${Bun.SHA256.hash(inline[0] ?? '', 'base64')}'`])
    for (const values of directives.values()) {
      for (const value of values) expect(value).not.toMatch(/^(https?:|\*)/)
    }
  })

  test('/openapi/ sends the browser to /openapi, where the relative URLs resolve', async () => {
    const response = await get('/openapi/')
    expect(response.status).toBe(308)
    expect(new URL(response.headers.get('location') ?? '', 'http://localhost/openapi/').pathname).toBe('/openapi')
  })

  test.each(Object.values(ASSETS).map((asset) => [asset.name, asset] as const))(
    '%s: 200, its type, cached for a year under a versioned URL, gzip when asked',
    async (name, asset) => {
      const path = `/openapi/assets/${SWAGGER_UI_VERSION}/${name}`
      const original = new Uint8Array(await Bun.file(asset.path).arrayBuffer())
      const plain = await get(path)
      expect(plain.status).toBe(200)
      expect(plain.headers.get('content-type')).toBe(asset.contentType)
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(plain.headers.get('content-encoding')).toBeNull()
      expect(new Uint8Array(await plain.arrayBuffer())).toEqual(original)

      const gzipped = await get(path, { 'accept-encoding': 'gzip, deflate, br' })
      expect(gzipped.status).toBe(200)
      expect(gzipped.headers.get('content-type')).toBe(asset.contentType)
      expect(gzipped.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(gzipped.headers.get('content-encoding')).toBe('gzip')
      expect(gzipped.headers.get('vary')).toBe('Accept-Encoding')
      const body = new Uint8Array(await gzipped.arrayBuffer())
      expect(body.length).toBeLessThan(original.length / 3)
      expect(Bun.gunzipSync(body)).toEqual(original)
    },
  )

  test('only the fixed names under the current version: anything else is 404', async () => {
    for (const path of [
      `${ASSETS_PATH}/swagger-ui-standalone-preset.js`,
      `${ASSETS_PATH}/index.html`,
      `${ASSETS_PATH}/package.json`,
      `${ASSETS_PATH}/../../../package.json`,
      `${ASSETS_PATH}/..%2F..%2F..%2Fpackage.json`,
      `${ASSETS_PATH}/%2e%2e/swagger-ui.css`,
      '/openapi/assets/0.0.1/swagger-ui-bundle.js',
      '/openapi/assets/swagger-ui-bundle.js',
      `${ASSETS_PATH}/`,
    ]) {
      const response = await get(path)
      expect(response.status, path).toBe(404)
    }
  })

  test('Accept-Encoding: gzip by name or *, not with q=0', () => {
    expect(acceptsGzip('gzip')).toBe(true)
    expect(acceptsGzip('br, GZIP;q=0.5')).toBe(true)
    expect(acceptsGzip('*')).toBe(true)
    expect(acceptsGzip('gzip;q=0')).toBe(false)
    expect(acceptsGzip('br, deflate')).toBe(false)
    expect(acceptsGzip('identity')).toBe(false)
    expect(acceptsGzip(null)).toBe(false)
  })
})
