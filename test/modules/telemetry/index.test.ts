import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createLogger, type LogLevel } from '../../../src/libs/log'
import {
  createApp,
  createMetrics,
  createSessionStore,
  createWechatClient,
  openDatabase,
  servedWithTelemetry,
  sqliteStores,
  timedFetch,
  withTelemetry,
  wxauth,
} from '../../../src/server'
import { APPID, captureWarnings, jsonRequest, manualClock, observedApp, SECRET, simulatedWechat } from '../../helpers'

// Some tests here provoke these on purpose; they are captured, not printed.
captureWarnings(['WeChat unavailable'])

/** The app as the server serves it: through withTelemetry, the one place requests are logged and counted. */
function appWithLogs(level: LogLevel = 'info', metricsOn = false) {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger(level, (line) => lines.push(JSON.parse(line)))
  const db = openDatabase(':memory:')
  const clock = manualClock()
  const { simulator, wechat } = simulatedWechat()
  const stores = sqliteStores(db)
  const metrics = metricsOn ? createMetrics({ countLive: stores.sessions.countLive, clock }) : undefined
  const elysia = createApp({ stores, wechat, clock, metrics, config: { loginRateLimit: 0 } })
  const fetch = withTelemetry(elysia, { logger, metrics })
  const app = { handle: async (request: Request) => fetch(request) }
  async function login(user = 'lou') {
    const response = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode(user) }))
    return (await response.json()) as { skey: string; user: { id: number } }
  }
  /** Lines are written before the response is handed back; the pause proves nothing arrives late either. */
  const settled = () => Bun.sleep(5)
  return { app, db, clock, lines, login, settled }
}

describe('request ids', () => {
  test('a sane x-request-id is kept and echoed; anything else is replaced by a fresh id', async () => {
    const { app } = appWithLogs('silent')
    const idOf = async (headers: Record<string, string>) =>
      (await app.handle(jsonRequest('GET', '/healthz', undefined, headers))).headers.get('x-request-id')
    expect(await idOf({ 'x-request-id': 'abc-123_x.y:z' })).toBe('abc-123_x.y:z')
    for (const insane of ['a b', 'x'.repeat(129), 'id"}{"level":"error', '']) {
      const id = await idOf({ 'x-request-id': insane })
      expect(id).not.toBe(insane)
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
    }
    expect(await idOf({})).toMatch(/^[0-9a-f-]{36}$/)
  })

  test('error responses carry the request id too', async () => {
    const { app } = appWithLogs('silent')
    const response = await app.handle(jsonRequest('GET', '/auth/me', undefined, { 'x-request-id': 'err-1' }))
    expect(response.status).toBe(401)
    expect(response.headers.get('x-request-id')).toBe('err-1')
  })
})

describe('request log', () => {
  test('one JSON line per request: id, method, path without query, status, duration, user id, error code', async () => {
    const { app, lines, login, settled } = appWithLogs()
    const { skey, user } = await login()
    await app.handle(jsonRequest('GET', '/notes?secret=hunter2', undefined, { skey, 'x-request-id': 'r-1' }))
    await app.handle(jsonRequest('GET', '/auth/me', undefined, { skey: 'x'.repeat(43) }))
    await app.handle(jsonRequest('GET', '/no/such/route'))
    await settled()
    const requests = lines.filter((line) => line.msg === 'request')
    expect(requests).toHaveLength(4)
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/auth/login', status: 200, userId: user.id })
    expect(requests[1]).toMatchObject({
      level: 'info',
      requestId: 'r-1',
      method: 'GET',
      path: '/notes',
      status: 200,
      userId: user.id,
    })
    expect(typeof requests[1]?.durationMs).toBe('number')
    expect(typeof requests[1]?.time).toBe('string')
    expect(requests[2]).toMatchObject({ path: '/auth/me', status: 401, code: 'SKEY_INVALID' })
    expect(requests[3]).toMatchObject({ path: '/no/such/route', status: 404, code: 'NOT_FOUND' })
    expect(JSON.stringify(lines)).not.toContain('hunter2')
    expect(JSON.stringify(lines)).not.toContain(skey)
  })

  test('LOG_LEVEL=warn keeps request lines out', async () => {
    const { app, lines, settled } = appWithLogs('warn')
    await app.handle(jsonRequest('GET', '/healthz'))
    await settled()
    expect(lines).toEqual([])
  })
})

describe('GET /metrics', () => {
  test('is not served unless METRICS=true', async () => {
    const { app } = appWithLogs('silent')
    expect((await app.handle(jsonRequest('GET', '/metrics'))).status).toBe(404)
  })

  test('Prometheus text: requests by route and status, login outcomes, live sessions', async () => {
    const { app, login, settled } = appWithLogs('silent', true)
    const { skey } = await login()
    await login('other')
    await app.handle(jsonRequest('POST', '/auth/login', { code: 'errcode:40029' }))
    await app.handle(jsonRequest('DELETE', '/notes/5', undefined, { skey }))
    await settled()
    const response = await app.handle(jsonRequest('GET', '/metrics'))
    expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4')
    const text = await response.text()
    expect(text).toContain('wxauth_http_requests_total{route="/auth/login",method="POST",status="200"} 2')
    expect(text).toContain('wxauth_http_requests_total{route="/auth/login",method="POST",status="401"} 1')
    expect(text).toContain('wxauth_http_requests_total{route="/notes/:id",method="DELETE",status="404"} 1')
    expect(text).toContain('wxauth_logins_total{code="OK"} 2')
    expect(text).toContain('wxauth_logins_total{code="WECHAT_CODE_INVALID"} 1')
    expect(text).toContain('wxauth_live_sessions 2')
    expect(text).toContain('# TYPE wxauth_wechat_call_duration_seconds histogram')
    expect(text).not.toContain(skey)
  })

  test('sweep counters and the WeChat latency histogram', async () => {
    const metrics = createMetrics({
      countLive: createSessionStore(openDatabase(':memory:')).countLive,
      clock: manualClock(),
    })
    metrics.sweep(3)
    metrics.sweep(0)
    const { simulator } = simulatedWechat()
    const wechat = createWechatClient({
      appid: APPID,
      secret: SECRET,
      apiBase: 'http://wechat.invalid',
      timeoutMs: 1000,
      fetch: timedFetch(metrics, simulator.fetch),
    })
    await wechat.code2Session(simulator.issueCode('timed'))
    await wechat.code2Session('errcode:-1').catch(() => undefined)
    const text = await metrics.render()
    expect(text).toContain('wxauth_sweep_runs_total 2')
    expect(text).toContain('wxauth_sweep_deleted_rows_total 3')
    expect(text).toContain('wxauth_wechat_call_duration_seconds_count{api="jscode2session"} 2')
    expect(text).toContain('wxauth_wechat_call_duration_seconds_bucket{api="jscode2session",le="+Inf"} 2')
  })
})

describe('servedWithTelemetry (what the server listens with)', () => {
  test('native routes and the fetch fallback both get the request id, one log line and the metrics', async () => {
    const { served, metrics, simulator, lines } = observedApp()
    expect(Object.keys(served.routes)).toContain('/auth/me')
    expect(Object.keys(served.routes)).not.toContain('/notes/:id')
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', ...served })
    try {
      const base = `http://127.0.0.1:${server.port}`
      const login = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: simulator.issueCode('nat') }),
      })
      const { skey, user } = (await login.json()) as { skey: string; user: { id: number } }
      const me = await fetch(`${base}/auth/me`, { headers: { skey, 'x-request-id': 'native-1' } })
      expect(me.headers.get('x-request-id')).toBe('native-1')
      const head = await fetch(`${base}/auth/me`, { method: 'HEAD', headers: { skey } })
      expect(head.status).toBe(200)
      const refused = await fetch(`${base}/auth/verify`, { headers: { skey: 'x'.repeat(43) } })
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="wxauth", error="invalid_token"')
      expect(refused.headers.get('content-type')).toBe('application/json')
      expect(await refused.json()).toMatchObject({ code: 'SKEY_INVALID' })
      const gone = await fetch(`${base}/notes/7`, { method: 'DELETE', headers: { skey, 'x-request-id': 'fallback-1' } })
      expect(gone.status).toBe(404)
      expect(gone.headers.get('x-request-id')).toBe('fallback-1')
      const requests = lines.filter((line) => line.msg === 'request')
      expect(requests.map((line) => [line.method, line.path, line.status, line.userId, line.code])).toEqual([
        ['POST', '/auth/login', 200, user.id, undefined],
        ['GET', '/auth/me', 200, user.id, undefined],
        ['HEAD', '/auth/me', 200, user.id, undefined],
        ['GET', '/auth/verify', 401, undefined, 'SKEY_INVALID'],
        ['DELETE', '/notes/7', 404, user.id, 'NOT_FOUND'],
      ])
      const text = await metrics.render()
      expect(text).toContain('wxauth_http_requests_total{route="/auth/me",method="GET",status="200"} 1')
      expect(text).toContain('wxauth_http_requests_total{route="/notes/:id",method="DELETE",status="404"} 1')
    } finally {
      server.stop(true)
    }
  })

  test("a host's global onRequest still runs for /auth/me: a plain route is served bare only where Elysia adds nothing", async () => {
    const seen: string[] = []
    const host = new Elysia()
      .onRequest(({ request }) => {
        seen.push(new URL(request.url).pathname)
      })
      .use(wxauth({ db: openDatabase(':memory:'), wechat: simulatedWechat().wechat }))
    const { routes } = servedWithTelemetry(host, { logger: createLogger('silent') })
    const me = routes['/auth/me']?.GET
    if (!me) throw new Error('GET /auth/me is not a native route')
    expect((await me(new Request('http://127.0.0.1/auth/me'))).status).toBe(401)
    expect(seen).toEqual(['/auth/me'])
  })
})
