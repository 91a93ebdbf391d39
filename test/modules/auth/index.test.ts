import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { storeUnavailable } from '../../../src/libs/errors'
import { createLogger, logger, setLogger } from '../../../src/libs/log'
import { createWechatClient, openDatabase, wxauth } from '../../../src/server'
import { countRows, freshStores, reachableStoreBackends } from '../../backends'
import { captureWarnings, ERRCODE_CASES, jsonRequest, manualClock, simulatedWechat, testApp } from '../../helpers'

/** These tests provoke WeChat failures on purpose: their warn lines are captured, not printed. */
captureWarnings([
  'WeChat unavailable',
  'login rate limit off: no client address (Elysia has no server to ask and TRUST_PROXY is off)',
])

type Ctx = Awaited<ReturnType<typeof testApp>>

async function login(ctx: Ctx, user = 'alice') {
  const response = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode(user) }))
  expect(response.status).toBe(200)
  return (await response.json()) as { skey: string; expiresAt: string; user: { id: number; openid: string } }
}

async function errorOf(response: Response) {
  return { status: response.status, body: (await response.json()) as { code: string; msg: string; errcode?: number } }
}

describe('POST /auth/login', () => {
  test('returns an skey, its expiry and the user — never the session_key', async () => {
    const ctx = await testApp()
    const response = await ctx.app.handle(
      jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('alice') }),
    )
    expect(response.status).toBe(200)
    const text = await response.text()
    const body = JSON.parse(text)
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'skey', 'user'])
    expect(body.skey).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(body.expiresAt).toBe(new Date(ctx.clock() + 7200 * 1000).toISOString())
    expect(body.user).toEqual({
      id: 1,
      openid: ctx.simulator.openidFor('alice'),
      unionid: null,
      createdAt: new Date(ctx.clock()).toISOString(),
    })
    const sessionKey = ctx.simulator.sessionKeyFor(body.user.openid) as string
    expect(text).not.toContain(sessionKey)
    expect(text).not.toContain('session_key')
  })

  /** A login of a fresh code while the store cannot save users (503), then the store back. */
  async function loginDuringOutage(ctx: Ctx): Promise<string> {
    const { users } = ctx.stores
    const upsert = users.upsert
    users.upsert = () => {
      throw storeUnavailable('PostgreSQL')
    }
    const code = ctx.simulator.issueCode('alice')
    const failed = await errorOf(await ctx.app.handle(jsonRequest('POST', '/auth/login', { code })))
    expect(failed).toEqual({ status: 503, body: { code: 'STORE_UNAVAILABLE', msg: expect.any(String) } })
    users.upsert = upsert
    return code
  }

  test("a login the store fails to save keeps WeChat's answer: the same code retried later logs in without a second jscode2session", async () => {
    const ctx = await testApp()
    const code = await loginDuringOutage(ctx)
    ctx.clock.advance(60_000)
    const retried = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code }))
    expect(retried.status).toBe(200)
    expect(((await retried.json()) as { user: { openid: string } }).user.openid).toBe(ctx.simulator.openidFor('alice'))
    expect(ctx.callsTo('/sns/jscode2session')).toBe(1)
  })

  test("WeChat's answer to a login the store failed to save is kept for the code's lifetime only", async () => {
    const ctx = await testApp()
    const code = await loginDuringOutage(ctx)
    ctx.clock.advance(5 * 60_000 + 1)
    const late = await errorOf(await ctx.app.handle(jsonRequest('POST', '/auth/login', { code })))
    expect(late.status).toBe(401)
    expect(late.body.code).toBe('WECHAT_CODE_INVALID')
    expect(ctx.callsTo('/sns/jscode2session')).toBe(2)
  })

  test('honours the configured session TTL', async () => {
    const ctx = await testApp({ sessionTtlSeconds: 60 })
    const body = await login(ctx)
    expect(body.expiresAt).toBe(new Date(ctx.clock() + 60_000).toISOString())
  })

  test.each([
    ['no body', undefined],
    ['a wrong type', { code: 42 }],
    ['an empty code', { code: '' }],
    ['an over-long code', { code: 'x'.repeat(129) }],
    ['no code field', { js_code: 'abc' }],
  ])('%s → 400 VALIDATION', async (_name, body) => {
    const ctx = await testApp()
    const { status, body: error } = await errorOf(await ctx.app.handle(jsonRequest('POST', '/auth/login', body)))
    expect(status).toBe(400)
    expect(error.code).toBe('VALIDATION')
    expect(error.msg).toBeString()
    expect(ctx.upstreamCalls()).toBe(0)
  })

  test('a body that is not JSON → 400 VALIDATION', async () => {
    const ctx = await testApp()
    for (const [type, body] of [
      ['application/json', '{"code":'],
      ['text/plain', 'code=abc'],
    ]) {
      const request = new Request('http://localhost/auth/login', {
        method: 'POST',
        headers: { 'content-type': type as string },
        body,
      })
      const { status, body: error } = await errorOf(await ctx.app.handle(request))
      expect(status).toBe(400)
      expect(error.code).toBe('VALIDATION')
    }
  })

  test('a body over 64 KiB → 413 PAYLOAD_TOO_LARGE, declared or streamed', async () => {
    const ctx = await testApp()
    const big = JSON.stringify({ code: 'x'.repeat(70 * 1024) })
    const declared = jsonRequest('POST', '/auth/login', undefined, {
      'content-type': 'application/json',
      'content-length': String(big.length),
    })
    const streamed = new Request('http://localhost/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(8 * 1024)))
          controller.close()
        },
      }),
    })
    for (const request of [new Request(declared, { body: big }), streamed]) {
      const { status, body } = await errorOf(await ctx.app.handle(request))
      expect(status).toBe(413)
      expect(body.code).toBe('PAYLOAD_TOO_LARGE')
    }
  })

  test.each(ERRCODE_CASES)('WeChat errcode %p → %p %s with the errcode', async (errcode, status, code) => {
    const ctx = await testApp()
    const response = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: `errcode:${errcode}` }))
    expect(response.headers.get('content-type')).toStartWith('application/json')
    expect(await errorOf(response)).toEqual({ status, body: { code, msg: expect.any(String), errcode } })
  })

  test('WeChat unreachable → 502 WECHAT_UNAVAILABLE, no errcode, no stack', async () => {
    const db = openDatabase(':memory:')
    const wechat = createWechatClient({ appid: 'a', secret: 's', apiBase: 'http://127.0.0.1:9', timeoutMs: 500 })
    const app = new Elysia().use(wxauth({ db, wechat }))
    const { status, body } = await errorOf(await app.handle(jsonRequest('POST', '/auth/login', { code: 'abc' })))
    expect(status).toBe(502)
    expect(body).toEqual({ code: 'WECHAT_UNAVAILABLE', msg: expect.any(String) })
  })

  test('100 parallel logins of one openid make exactly one user row', async () => {
    const ctx = await testApp({ maxSessionsPerUser: 1000 })
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('crowd') })),
      ),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200))
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { skey: string; user: { id: number } }[]
    expect(new Set(bodies.map((b) => b.user.id)).size).toBe(1)
    expect(new Set(bodies.map((b) => b.skey)).size).toBe(100)
    expect(await countRows(ctx.stores, 'users')).toBe(1)
    expect(await countRows(ctx.stores, 'sessions')).toBe(100)
  })
})

describe('the skey guard (GET /auth/me)', () => {
  test('accepts the skey header and Authorization: Bearer', async () => {
    const ctx = await testApp()
    const { skey, user, expiresAt } = await login(ctx)
    for (const headers of [
      { skey },
      { authorization: `Bearer ${skey}` },
      { authorization: `bearer ${skey}` },
    ] as Record<string, string>[]) {
      const response = await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, headers))
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ user, expiresAt })
    }
  })

  test('no skey → 401 SKEY_MISSING with WWW-Authenticate', async () => {
    const ctx = await testApp()
    const response = await ctx.app.handle(jsonRequest('GET', '/auth/me'))
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="wxauth"')
    expect(await errorOf(response)).toEqual({ status: 401, body: { code: 'SKEY_MISSING', msg: expect.any(String) } })
  })

  test('never takes the skey from the URL', async () => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    const response = await ctx.app.handle(jsonRequest('GET', `/auth/me?access_token=${skey}`))
    expect((await errorOf(response)).body.code).toBe('SKEY_MISSING')
  })

  test.each([
    ['an unknown skey', { skey: 'A'.repeat(43) }],
    ['a malformed skey', { skey: 'not-a-token' }],
    ['a malformed Bearer', { authorization: 'Bearer ' }],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('%s → 401', async (_name, headers) => {
    const ctx = await testApp()
    const response = await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, headers))
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toStartWith('Bearer realm="wxauth"')
    expect(['SKEY_MISSING', 'SKEY_INVALID']).toContain((await errorOf(response)).body.code)
  })

  test('an expired skey → 401 SKEY_INVALID, before any sweep', async () => {
    const ctx = await testApp({ sessionTtlSeconds: 60 })
    const { skey } = await login(ctx)
    ctx.clock.advance(60_000)
    const response = await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="wxauth", error="invalid_token"')
    expect(await errorOf(response)).toEqual({ status: 401, body: { code: 'SKEY_INVALID', msg: expect.any(String) } })
    expect(await countRows(ctx.stores, 'sessions')).toBe(1)
  })
})

describe('POST /auth/logout', () => {
  test('kills this skey at once and leaves the user’s other sessions', async () => {
    const ctx = await testApp()
    const phone = await login(ctx)
    const tablet = await login(ctx)
    const response = await ctx.app.handle(jsonRequest('POST', '/auth/logout', undefined, { skey: phone.skey }))
    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    const again = await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey: phone.skey }))
    expect((await errorOf(again)).body.code).toBe('SKEY_INVALID')
    const other = await ctx.app.handle(
      jsonRequest('GET', '/auth/me', undefined, { authorization: `Bearer ${tablet.skey}` }),
    )
    expect(other.status).toBe(200)
  })

  test('needs an skey', async () => {
    const ctx = await testApp()
    expect((await ctx.app.handle(jsonRequest('POST', '/auth/logout'))).status).toBe(401)
  })
})

describe('routing and errors', () => {
  test('unknown routes and methods → 404 NOT_FOUND JSON', async () => {
    const ctx = await testApp()
    for (const request of [
      jsonRequest('GET', '/nope'),
      jsonRequest('PUT', '/auth/me'),
      jsonRequest('GET', '/auth/login'),
    ]) {
      const response = await ctx.app.handle(request)
      expect(response.headers.get('content-type')).toStartWith('application/json')
      expect(await errorOf(response)).toEqual({ status: 404, body: { code: 'NOT_FOUND', msg: expect.any(String) } })
    }
  })
})

describe('the database file', () => {
  test('never contains an skey, only its hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-file-'))
    try {
      const db = openDatabase(join(dir, 'wxauth.db'))
      const { simulator, wechat } = simulatedWechat()
      const auth = wxauth({ db, wechat })
      const app = new Elysia().use(auth)
      const skeys: string[] = []
      for (let i = 0; i < 20; i++) {
        const response = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode(`user${i}`) }))
        skeys.push(((await response.json()) as { skey: string }).skey)
      }
      const contents = () =>
        readdirSync(dir)
          .map((name) => readFileSync(join(dir, name)).toString('latin1'))
          .join('')
      for (const skey of skeys) expect(contents()).not.toContain(skey)
      // As a host shuts down: the login events are written before the database closes.
      await auth.loginEvents.stop()
      db.close()
      for (const skey of skeys) expect(contents()).not.toContain(skey)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('embedding', () => {
  test('wxauth() gives a host app the login routes and the auth macro', async () => {
    const db = openDatabase(':memory:')
    const { simulator, wechat } = simulatedWechat()
    const app = new Elysia()
      .use(wxauth({ db, wechat }))
      .get('/profile', ({ user }) => ({ hello: user.openid }), { auth: true })
      .get('/public', () => 'open')
    const loginResponse = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode('host') }))
    const { skey } = (await loginResponse.json()) as { skey: string }
    const profile = await app.handle(jsonRequest('GET', '/profile', undefined, { skey }))
    expect(await profile.json()).toEqual({ hello: simulator.openidFor('host') })
    expect((await app.handle(jsonRequest('GET', '/profile'))).status).toBe(401)
    expect(await (await app.handle(jsonRequest('GET', '/public'))).text()).toBe('open')
  })
})

test.each([
  [{ sessionTtlSeconds: 0 }, 'sessionTtlSeconds'],
  [{ maxSessionsPerUser: 0 }, 'maxSessionsPerUser'],
  [{ maxSessionsPerUser: 2.5 }, 'maxSessionsPerUser'],
  [{ loginRateLimit: -1 }, 'loginRateLimit'],
  [{ sessionTtlSeconds: 366 * 24 * 3600 }, 'sessionTtlSeconds must be a whole number from 1 to 31536000'],
  [{ maxSessionsPerUser: 10_001 }, 'maxSessionsPerUser'],
])('wxauth(%j) refuses to start', (options, name) => {
  const { wechat } = simulatedWechat()
  expect(() => wxauth({ db: openDatabase(':memory:'), wechat, ...options })).toThrow(name)
})

describe('session policy', () => {
  test('MAX_SESSIONS_PER_USER: a login beyond the cap ends that user’s oldest session, nobody else’s', async () => {
    const ctx = await testApp({ maxSessionsPerUser: 3 })
    const other = await login(ctx, 'bystander')
    const skeys: string[] = []
    for (let i = 0; i < 5; i++) {
      skeys.push((await login(ctx, 'capped')).skey)
      ctx.clock.advance(1000)
    }
    const statuses = await Promise.all(
      skeys.map(async (skey) => (await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))).status),
    )
    expect(statuses).toEqual([401, 401, 200, 200, 200])
    const bystander = await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey: other.skey }))
    expect(bystander.status).toBe(200)
  })

  test('POST /auth/logout-all ends every session of the user at once, and only theirs', async () => {
    const ctx = await testApp()
    const phone = await login(ctx, 'multi')
    const laptop = await login(ctx, 'multi')
    const someoneElse = await login(ctx, 'single')
    const me = (skey: string) => ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))
    expect((await me(laptop.skey)).status).toBe(200) // cached before the logout
    const response = await ctx.app.handle(jsonRequest('POST', '/auth/logout-all', undefined, { skey: phone.skey }))
    expect(response.status).toBe(204)
    expect((await me(phone.skey)).status).toBe(401)
    expect((await me(laptop.skey)).status).toBe(401)
    expect((await me(someoneElse.skey)).status).toBe(200)
    expect((await ctx.app.handle(jsonRequest('POST', '/auth/logout-all'))).status).toBe(401)
  })

  test('SESSION_SLIDING: renewed only past the half-life, one write per half-TTL', async () => {
    const ttlSeconds = 100
    const ctx = await testApp({ sessionTtlSeconds: ttlSeconds, sessionSliding: true })
    const { skey } = await login(ctx, 'slider')
    // Writes are counted on SQLite (total_changes); every backend must move the expiry the same way.
    const writes = () => ctx.db?.query<{ n: number }, []>('SELECT total_changes() AS n').get()?.n ?? 0
    const expiresAt = async () => {
      const { sessions } = ctx.stores
      const found = await sessions.validate(skey, ctx.clock())
      return found?.session.expiresAt
    }
    const me = async () => (await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))).status
    const loginExpiry = await expiresAt()
    const before = writes()
    const sqlite = ctx.db !== undefined
    ctx.clock.advance(40_000) // 60 s left: more than half
    for (let i = 0; i < 5; i++) expect(await me()).toBe(200)
    if (sqlite) expect(writes()).toBe(before)
    expect(await expiresAt()).toBe(loginExpiry)
    ctx.clock.advance(20_000) // 40 s left: past the half-life
    for (let i = 0; i < 5; i++) expect(await me()).toBe(200)
    if (sqlite) expect(writes()).toBe(before + 1)
    expect(await expiresAt()).toBe(ctx.clock() + ttlSeconds * 1000)
    ctx.clock.advance(90_000) // past the original expiry, within the renewed one
    expect(await me()).toBe(200)
    if (sqlite) expect(writes()).toBe(before + 2)
    ctx.clock.advance(ttlSeconds * 1000 + 1) // idle for a whole TTL: gone
    expect(await me()).toBe(401)
  })

  test('without SESSION_SLIDING a busy session still ends at its expiry', async () => {
    const ctx = await testApp({ sessionTtlSeconds: 100 })
    const { skey } = await login(ctx, 'fixed')
    for (let t = 0; t < 100; t += 20) {
      ctx.clock.advance(20_000 - 1)
      expect((await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))).status).toBe(200)
    }
    ctx.clock.advance(100)
    expect((await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))).status).toBe(401)
  })
})

describe('login rate limit per client IP', () => {
  async function serve(config: { loginRateLimit: number; trustProxy?: boolean }) {
    const ctx = await testApp(config)
    ctx.app.listen({ port: 0, hostname: '127.0.0.1' })
    const url = `http://127.0.0.1:${ctx.app.server?.port}/auth/login`
    const attempt = (forwardedFor?: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
        body: JSON.stringify({ code: ctx.simulator.issueCode('limited') }),
      })
    return { ctx, attempt, stop: () => ctx.app.stop(true) }
  }

  test('the 21st login in a minute from one address → 429 RATE_LIMITED with Retry-After, before WeChat is asked', async () => {
    const { ctx, attempt, stop } = await serve({ loginRateLimit: 20 })
    try {
      for (let i = 0; i < 20; i++) expect((await attempt()).status).toBe(200)
      const calls = ctx.upstreamCalls()
      const limited = await attempt()
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toBe('3')
      expect(await limited.json()).toMatchObject({ code: 'RATE_LIMITED' })
      expect(ctx.upstreamCalls()).toBe(calls)
      ctx.clock.advance(3000)
      expect((await attempt()).status).toBe(200)
    } finally {
      await stop()
    }
  })

  test('without TRUST_PROXY, X-Forwarded-For is ignored: spoofed addresses share the socket’s limit', async () => {
    const { attempt, stop } = await serve({ loginRateLimit: 2 })
    try {
      expect((await attempt('10.0.0.1')).status).toBe(200)
      expect((await attempt('10.0.0.2')).status).toBe(200)
      expect((await attempt('10.0.0.3')).status).toBe(429)
    } finally {
      await stop()
    }
  })

  test('without any client address (app.handle, no proxy) logins are not limited, and a warning says so once', async () => {
    const warnings: string[] = []
    const previous = logger()
    setLogger(createLogger('warn', (line) => warnings.push(JSON.parse(line).msg)))
    try {
      const ctx = await testApp({ loginRateLimit: 2 })
      for (let i = 0; i < 5; i++) expect((await login(ctx, 'no-socket')).skey).toBeString()
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('login rate limit off')
    } finally {
      setLogger(previous)
    }
  })

  test.skipIf(!reachableStoreBackends().includes('sqlite+redis'))(
    'with Redis, every instance takes from one budget per address',
    async () => {
      const stores = await freshStores('sqlite+redis')
      const { simulator, wechat } = simulatedWechat()
      const clock = manualClock()
      const instance = () => new Elysia().use(wxauth({ stores, wechat, clock, loginRateLimit: 3, trustProxy: true }))
      const first = instance()
      const second = instance()
      const attempt = async (app: { handle(request: Request): Promise<Response> }, address: string) =>
        (
          await app.handle(
            jsonRequest('POST', '/auth/login', { code: simulator.issueCode('shared') }, { 'x-forwarded-for': address }),
          )
        ).status
      expect(await attempt(first, '10.0.0.9')).toBe(200)
      expect(await attempt(second, '10.0.0.9')).toBe(200)
      expect(await attempt(first, '10.0.0.9')).toBe(200)
      expect(await attempt(second, '10.0.0.9')).toBe(429)
      expect(await attempt(first, '10.0.0.9')).toBe(429)
      expect(await attempt(second, '10.0.0.10')).toBe(200)
      clock.advance(20_000)
      expect(await attempt(second, '10.0.0.9')).toBe(200)
    },
  )

  test.skipIf(!reachableStoreBackends().includes('sqlite+redis'))(
    'with Redis, instances whose clocks differ cannot refill the budget by taking turns',
    async () => {
      const stores = await freshStores('sqlite+redis')
      const { simulator, wechat } = simulatedWechat()
      const behind = manualClock()
      const ahead = () => behind() + 10_000
      const instance = (clock: () => number) =>
        new Elysia().use(wxauth({ stores, wechat, clock, loginRateLimit: 2, trustProxy: true }))
      const [slow, fast] = [instance(behind), instance(ahead)]
      const attempt = async (app: { handle(request: Request): Promise<Response> }) =>
        (
          await app.handle(
            jsonRequest(
              'POST',
              '/auth/login',
              { code: simulator.issueCode('skew') },
              { 'x-forwarded-for': '10.0.0.7' },
            ),
          )
        ).status
      expect([await attempt(slow), await attempt(fast)]).toEqual([200, 200])
      const turns: number[] = []
      for (let i = 0; i < 6; i++) turns.push(await attempt(i % 2 === 0 ? slow : fast))
      expect(turns).toEqual([429, 429, 429, 429, 429, 429])
    },
  )

  test('with TRUST_PROXY, the last X-Forwarded-For address is the client', async () => {
    const { attempt, stop } = await serve({ loginRateLimit: 2, trustProxy: true })
    try {
      expect((await attempt('10.0.0.1')).status).toBe(200)
      expect((await attempt('10.0.0.1')).status).toBe(200)
      expect((await attempt('10.0.0.1')).status).toBe(429)
      expect((await attempt('10.0.0.2')).status).toBe(200)
      // A client-chosen first entry does not buy a fresh limit: the proxy appended the real address last.
      expect((await attempt('1.2.3.4, 10.0.0.1')).status).toBe(429)
    } finally {
      await stop()
    }
  })
})

describe('/auth/verify (forward auth)', () => {
  test('a live skey → 204 with the user in X-Wxauth-* headers and no body; any method, any body', async () => {
    const ctx = await testApp()
    const { skey, user, expiresAt } = await login(ctx)
    for (const [method, body] of [
      ['GET', undefined],
      ['HEAD', undefined],
      ['POST', 'not json at all'],
      ['PUT', 'x'.repeat(100_000)],
    ] as const) {
      const response = await ctx.app.handle(
        new Request('http://localhost/auth/verify', { method, headers: { authorization: `Bearer ${skey}` }, body }),
      )
      expect(response.status, method).toBe(204)
      expect(await response.text()).toBe('')
      expect(response.headers.get('x-wxauth-user-id')).toBe(String(user.id))
      expect(response.headers.get('x-wxauth-openid')).toBe(user.openid)
      expect(response.headers.get('x-wxauth-expires-at')).toBe(expiresAt)
      expect(response.headers.has('x-wxauth-unionid')).toBe(false)
    }
  })

  test('X-Wxauth-Unionid only for a user who has one', async () => {
    const ctx = await testApp()
    const response = await ctx.app.handle(
      jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('u', { unionid: true }) }),
    )
    const { skey, user } = (await response.json()) as { skey: string; user: { unionid: string } }
    expect(user.unionid).toBeString()
    const verified = await ctx.app.handle(jsonRequest('GET', '/auth/verify', undefined, { skey }))
    expect(verified.headers.get('x-wxauth-unionid')).toBe(user.unionid)
  })

  test('what /auth/me and /auth/verify answer follows the session and the user: a slide, a unionid gained later', async () => {
    const ttlSeconds = 100
    const ctx = await testApp({ sessionTtlSeconds: ttlSeconds, sessionSliding: true })
    const { skey } = await login(ctx, 'follower')
    const answers = async () => {
      const me = (await (await ctx.app.handle(jsonRequest('GET', '/auth/me', undefined, { skey }))).json()) as {
        expiresAt: string
        user: { unionid: string | null }
      }
      const verify = await ctx.app.handle(jsonRequest('GET', '/auth/verify', undefined, { skey }))
      return {
        me,
        expiresAt: verify.headers.get('x-wxauth-expires-at'),
        unionid: verify.headers.get('x-wxauth-unionid'),
      }
    }
    const first = await answers()
    expect(first.me.user.unionid).toBeNull()
    expect(first.unionid).toBeNull()
    ctx.clock.advance(60_000) // past the half-life: the next request slides the session
    await answers()
    const renewed = new Date(ctx.clock() + ttlSeconds * 1000).toISOString()
    const slid = await answers()
    expect(slid.me.expiresAt).toBe(renewed)
    expect(slid.expiresAt).toBe(renewed)
    // The same openid logs in again, now with a unionid: the first skey's answers show it.
    const again = await ctx.app.handle(
      jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('follower', { unionid: true }) }),
    )
    const { user } = (await again.json()) as { user: { unionid: string } }
    expect(user.unionid).toBeString()
    const later = await answers()
    expect(later.me.user.unionid).toBe(user.unionid)
    expect(later.unionid).toBe(user.unionid)
  })

  test('no skey, a bad one or a logged-out one → the same 401 as every protected route', async () => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    await ctx.app.handle(jsonRequest('POST', '/auth/logout', undefined, { skey }))
    for (const [headers, code] of [
      [{}, 'SKEY_MISSING'],
      [{ skey: 'x'.repeat(43) }, 'SKEY_INVALID'],
      [{ skey }, 'SKEY_INVALID'],
    ] as const) {
      const response = await ctx.app.handle(jsonRequest('GET', '/auth/verify', undefined, headers))
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toStartWith('Bearer realm="wxauth"')
      expect(response.headers.has('x-wxauth-user-id')).toBe(false)
      expect(await response.json()).toEqual({ code, msg: expect.any(String) })
    }
  })
})
