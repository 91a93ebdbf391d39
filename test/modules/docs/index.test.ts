import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { toOpenApiMethod, toOpenApiPath } from '../../../src/modules/docs'
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

const DOC_ROUTES = new Set(['/openapi', '/openapi/json'])
/** Routes anyone may call: the browser's side of the web login has no session yet. */
const PUBLIC_PATHS = new Set([
  '/auth/login',
  '/healthz',
  '/web',
  '/web/login',
  '/web/login/{ticket}',
  '/web/login/{ticket}/qrcode.png',
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

  test('every error response is { code, msg } listing its codes; protected routes carry the skey scheme and 401s', async () => {
    const { doc } = await openApiDocument()
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
  })

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

  test('GET /openapi serves the reference page', async () => {
    const { app } = await testApp()
    const response = await app.handle(new Request('http://localhost/openapi'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    expect(await response.text()).toContain('openapi/json')
  })
})
