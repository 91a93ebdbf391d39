import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createHealthRoutes } from '../../../src/server'
import { captureWarnings, jsonRequest, testApp } from '../../helpers'

// Some tests here provoke these on purpose; they are captured, not printed.
const warned = captureWarnings(['health check failed'])

describe('GET /healthz', () => {
  test('200 {status: ok} with no skey', async () => {
    const { app } = await testApp()
    const response = await app.handle(jsonRequest('GET', '/healthz'))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  test('503 JSON when the database is gone', async () => {
    const { app, db } = await testApp()
    // PostgreSQL and Redis outages: test/modules/store/outage.test.ts.
    if (!db) return
    db.close()
    const response = await app.handle(jsonRequest('GET', '/healthz'))
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual({ code: 'UNHEALTHY', msg: expect.any(String) })
  })
})

describe('GET /healthz on stores that answer later (PostgreSQL, Redis)', () => {
  const app = (ping: () => Promise<void>) => new Elysia().use(createHealthRoutes({ ping, kind: 'remote' }))

  test('200 once the ping resolves', async () => {
    const response = await app(() => Bun.sleep(5)).handle(jsonRequest('GET', '/healthz'))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  test('503 UNHEALTHY JSON when the ping rejects', async () => {
    const response = await app(() => Promise.reject(new Error('connection refused'))).handle(
      jsonRequest('GET', '/healthz'),
    )
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual({ code: 'UNHEALTHY', msg: expect.any(String) })
    expect(warned.lines.at(-1)).toMatchObject({ msg: 'health check failed', error: 'connection refused' })
  })
})
