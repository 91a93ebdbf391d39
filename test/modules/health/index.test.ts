import { describe, expect, test } from 'bun:test'
import { jsonRequest, testApp } from '../../helpers'

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
