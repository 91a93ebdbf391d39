import { describe, expect, test } from 'bun:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import { toOpenApiMethod, toOpenApiPath } from '../../../src/modules/docs'
import { testApp } from '../../helpers'

interface Operation {
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  requestBody?: { content: Record<string, { schema: { type?: string; properties?: object } }> }
  responses: Record<string, { content?: Record<string, { schema: ErrorSchema }> }>
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
const codesOf = (schema: ErrorSchema) =>
  schema.properties?.code?.const !== undefined
    ? [schema.properties.code.const]
    : (schema.properties?.code?.anyOf ?? []).map((option) => option.const)

describe('OpenAPI document', () => {
  test('is valid OpenAPI according to a real validator', async () => {
    const { doc } = await openApiDocument()
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  test.each([
    ['default', {}],
    ['METRICS=true', { metrics: true }],
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
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearer', 'skey'])
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400) continue
          const schema = response.content?.['application/json']?.schema
          expect(schema?.required, where).toEqual(['code', 'msg'])
          expect(codesOf(schema as ErrorSchema).length, `${where} ${status}`).toBeGreaterThan(0)
        }
        const isPublic = path === '/auth/login' || path === '/healthz'
        if (isPublic) {
          expect(operation.security, where).toBeUndefined()
          continue
        }
        expect(operation.security, where).toEqual([{ skey: [] }, { bearer: [] }])
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

  test('GET /openapi serves the reference page', async () => {
    const { app } = await testApp()
    const response = await app.handle(new Request('http://localhost/openapi'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    expect(await response.text()).toContain('openapi/json')
  })
})
