import { describe, expect, test } from 'bun:test'
import { TEST_BACKEND } from '../../backends'
import { captureWarnings, jsonRequest, observedApp, testApp } from '../../helpers'

/** Web login over HTTP, through app.handle: the browser's steps, the mini program's, and the cookie session. */

const logLines = captureWarnings(['WeChat unavailable'])

type Ctx = Awaited<ReturnType<typeof webApp>>
const ORIGIN = 'http://localhost'
const TTL_SECONDS = 120

function webApp(config: Parameters<typeof testApp>[0] = {}) {
  return testApp({
    webLogin: {
      page: 'pages/web-login/index',
      envVersion: 'release',
      ttlSeconds: TTL_SECONDS,
      origins: ['https://admin.example.com'],
    },
    ...config,
  })
}

/** One Set-Cookie header by cookie name: its value and attributes. */
function setCookieOf(response: Response, name: string) {
  const header = response.headers.getSetCookie().find((cookie) => cookie.startsWith(`${name}=`))
  if (!header) return null
  const [pair = '', ...attributes] = header.split('; ')
  return { value: pair.slice(name.length + 1), attributes, header }
}

function request(method: string, path: string, headers: Record<string, string> = {}, base = ORIGIN) {
  return new Request(`${base}${path}`, { method, headers })
}

async function miniProgramLogin(ctx: Ctx, user = 'ann') {
  const response = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode(user) }))
  const body = (await response.json()) as { skey: string; user: { id: number; openid: string } }
  return { skey: body.skey, user: body.user }
}

/** A browser: starts a ticket and keeps its binding cookie. */
async function startTicket(ctx: Ctx, headers: Record<string, string> = {}) {
  const response = await ctx.app.handle(request('POST', '/web/login', { 'user-agent': 'TestBrowser/1.0', ...headers }))
  expect(response.status).toBe(201)
  const body = (await response.json()) as { ticket: string; qrcodeUrl: string; expiresAt: string; status: string }
  const cookie = setCookieOf(response, 'wxauth_web_ticket')
  if (!cookie) throw new Error('no binding cookie')
  return { ...body, cookie: `wxauth_web_ticket=${cookie.value}`, setCookie: cookie, response }
}

const poll = (ctx: Ctx, ticket: string, cookie: string | null, wait = 0) =>
  ctx.app.handle(request('GET', `/web/login/${ticket}?wait=${wait}`, cookie ? { cookie } : {}))

const act = (ctx: Ctx, ticket: string, step: 'scan' | 'confirm' | 'deny', skey: string) =>
  ctx.app.handle(request('POST', `/web/login/${ticket}/${step}`, { skey }))

async function errorCode(response: Response) {
  return ((await response.json()) as { code: string }).code
}

/** Runs the whole flow and returns the browser's session cookie. */
async function signedInBrowser(ctx: Ctx, user = 'ann') {
  const mini = await miniProgramLogin(ctx, user)
  const started = await startTicket(ctx)
  expect((await act(ctx, started.ticket, 'scan', mini.skey)).status).toBe(200)
  expect((await act(ctx, started.ticket, 'confirm', mini.skey)).status).toBe(204)
  const answer = await poll(ctx, started.ticket, started.cookie)
  const session = setCookieOf(answer, 'wxauth_session')
  if (!session) throw new Error('no session cookie')
  return { mini, started, answer, session, cookie: `wxauth_session=${session.value}` }
}

describe('web login off', () => {
  test('without webLogin the routes do not exist and the cookie is not a session', async () => {
    const ctx = await testApp()
    expect((await ctx.app.handle(request('POST', '/web/login'))).status).toBe(404)
    expect((await ctx.app.handle(request('GET', '/web'))).status).toBe(404)
    const on = await webApp()
    const { cookie } = await signedInBrowser(on)
    // The same cookie value means nothing to an app without web login.
    const me = await ctx.app.handle(request('GET', '/auth/me', { cookie }))
    expect(me.status).toBe(401)
  })
})

describe('POST /web/login', () => {
  test('201 with a ticket of 22 base64url characters, its code URL, expiry and status; the binding cookie', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    expect(started.ticket).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(started.qrcodeUrl).toBe(`/web/login/${started.ticket}/qrcode.png`)
    expect(started.status).toBe('waiting')
    expect(Date.parse(started.expiresAt)).toBe(ctx.clock() + TTL_SECONDS * 1000)
    const { value, attributes } = started.setCookie
    // 32 random bytes, base64url: not the ticket, and different each time.
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(value).not.toContain(started.ticket)
    expect(attributes).toContain('HttpOnly')
    expect(attributes).toContain('SameSite=Lax')
    expect(attributes).toContain('Path=/web/login')
    // It outlives the ticket by the grace period, so the browser is told `expired` rather than 403.
    expect(attributes).toContain(`Max-Age=${TTL_SECONDS + 600}`)
    // Plain HTTP to localhost: the one case without Secure.
    expect(attributes).not.toContain('Secure')
    expect(started.response.headers.get('cache-control')).toBe('no-store')
    const again = await startTicket(ctx)
    expect(again.ticket).not.toBe(started.ticket)
    expect(again.setCookie.value).not.toBe(value)
  })

  test('Secure on the cookie over HTTPS (behind a trusted proxy), and over plain HTTP to a host that is not loopback', async () => {
    const ctx = await webApp({ trustProxy: true })
    const cookieFrom = async (base: string, headers: Record<string, string> = {}) =>
      setCookieOf(await ctx.app.handle(request('POST', '/web/login', headers, base)), 'wxauth_web_ticket')?.attributes
    expect(await cookieFrom(ORIGIN, { 'x-forwarded-proto': 'https' })).toContain('Secure')
    expect(await cookieFrom('http://192.168.1.20:3000')).toContain('Secure')
    expect(await cookieFrom('http://127.0.0.1:3000')).not.toContain('Secure')
    expect(await cookieFrom('http://[::1]:3000')).not.toContain('Secure')
  })

  test('the ticket secret is stored only as its SHA-256', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    const stored = await ctx.stores.tickets.get(started.ticket)
    const secret = started.setCookie.value
    expect(Buffer.from(stored?.secretHash ?? []).equals(Buffer.from(Bun.SHA256.hash(secret) as Uint8Array))).toBe(true)
    expect(JSON.stringify(stored)).not.toContain(secret)
  })

  test('a page on another origin may not start a login (403 CSRF_REJECTED); own origin and WEB_ORIGINS may', async () => {
    const ctx = await webApp()
    const foreign = await ctx.app.handle(request('POST', '/web/login', { origin: 'https://evil.example' }))
    expect(foreign.status).toBe(403)
    expect(await errorCode(foreign)).toBe('CSRF_REJECTED')
    expect(setCookieOf(foreign, 'wxauth_web_ticket')).toBeNull()
    expect((await ctx.app.handle(request('POST', '/web/login', { origin: ORIGIN }))).status).toBe(201)
    const listed = await ctx.app.handle(request('POST', '/web/login', { origin: 'https://admin.example.com' }))
    expect(listed.status).toBe(201)
  })

  test('rate-limited per IP like logins: 429 RATE_LIMITED with Retry-After, in a bucket of its own', async () => {
    const ctx = await webApp({ loginRateLimit: 2, trustProxy: true })
    const from = (ip: string) => request('POST', '/web/login', { 'x-forwarded-for': ip })
    expect((await ctx.app.handle(from('198.51.100.7'))).status).toBe(201)
    expect((await ctx.app.handle(from('198.51.100.7'))).status).toBe(201)
    const limited = await ctx.app.handle(from('198.51.100.7'))
    expect(limited.status).toBe(429)
    expect(await errorCode(limited)).toBe('RATE_LIMITED')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await ctx.app.handle(from('198.51.100.8'))).status).toBe(201)
    // Logins from the limited address still have their own budget.
    const login = jsonRequest(
      'POST',
      '/auth/login',
      { code: ctx.simulator.issueCode('ann') },
      { 'x-forwarded-for': '198.51.100.7' },
    )
    expect((await ctx.app.handle(login)).status).toBe(200)
  })
})

describe('GET /web/login/:ticket/qrcode.png', () => {
  test('the mini program code from WeChat: PNG, for the binding browser only', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    const image = await ctx.app.handle(request('GET', started.qrcodeUrl, { cookie: started.cookie }))
    expect(image.status).toBe(200)
    expect(image.headers.get('content-type')).toBe('image/png')
    const bytes = new Uint8Array(await image.arrayBuffer())
    expect([...bytes.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    expect(ctx.callsTo('/wxa/getwxacodeunlimit')).toBe(1)
    const foreign = await ctx.app.handle(request('GET', started.qrcodeUrl))
    expect(foreign.status).toBe(403)
    expect(await errorCode(foreign)).toBe('TICKET_FOREIGN')
    const unknown = await ctx.app.handle(
      request('GET', '/web/login/AAAAAAAAAAAAAAAAAAAAAA/qrcode.png', { cookie: started.cookie }),
    )
    expect(await errorCode(unknown)).toBe('TICKET_INVALID')
    ctx.clock.advance(TTL_SECONDS * 1000)
    const expired = await ctx.app.handle(request('GET', started.qrcodeUrl, { cookie: started.cookie }))
    expect(expired.status).toBe(410)
    expect(await errorCode(expired)).toBe('TICKET_EXPIRED')
  })

  test('asks WeChat for the configured page and version, with the ticket as the scene', async () => {
    const sent: Record<string, unknown>[] = []
    const ctx = await testApp({
      webLogin: { page: 'pages/scan/index', envVersion: 'trial', ttlSeconds: 60, origins: [] },
    })
    const started = await startTicket(ctx)
    const original = ctx.simulator.fetch
    ctx.simulator.fetch = async (upstream: Request) => {
      if (upstream.url.includes('getwxacodeunlimit'))
        sent.push((await upstream.clone().json()) as Record<string, unknown>)
      return original(upstream)
    }
    await ctx.app.handle(request('GET', started.qrcodeUrl, { cookie: started.cookie }))
    expect(sent).toEqual([{ scene: started.ticket, page: 'pages/scan/index', check_path: false, env_version: 'trial' }])
  })

  test('a WeChat errcode → 502 WECHAT_UNAVAILABLE with the errcode; a rejected access_token is refreshed and retried once', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    ctx.simulator.revokeAccessTokens()
    const retried = await ctx.app.handle(request('GET', started.qrcodeUrl, { cookie: started.cookie }))
    expect(retried.status).toBe(200)
    const original = ctx.simulator.fetch
    ctx.simulator.fetch = async (upstream: Request) =>
      upstream.url.includes('getwxacodeunlimit')
        ? new Response(JSON.stringify({ errcode: 45009, errmsg: 'reach max api daily quota limit' }))
        : original(upstream)
    const next = await startTicket(ctx)
    const refused = await ctx.app.handle(request('GET', next.qrcodeUrl, { cookie: next.cookie }))
    expect(refused.status).toBe(502)
    expect(await refused.json()).toMatchObject({ code: 'WECHAT_UNAVAILABLE', errcode: 45009 })
    expect(logLines.lines.some((line) => line.msg === 'WeChat unavailable')).toBe(true)
    // A failure is not kept: once WeChat answers again, so does the code.
    ctx.simulator.fetch = original
    expect((await ctx.app.handle(request('GET', next.qrcodeUrl, { cookie: next.cookie }))).status).toBe(200)
  })

  test('WeChat is asked once per ticket: reloads and concurrent requests share its code', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    const fetchCode = () => ctx.app.handle(request('GET', started.qrcodeUrl, { cookie: started.cookie }))
    const images = await Promise.all([fetchCode(), fetchCode(), fetchCode()])
    const again = await fetchCode()
    const bodies = await Promise.all([...images, again].map(async (image) => Buffer.from(await image.arrayBuffer())))
    expect(bodies.every((body) => body.equals(bodies[0] as Buffer))).toBe(true)
    expect(ctx.callsTo('/wxa/getwxacodeunlimit')).toBe(1)
    expect(again.headers.get('cache-control')).toBe(`private, max-age=${TTL_SECONDS}`)
  })
})

describe('GET /web/login/:ticket', () => {
  test('waiting → scanned → confirmed: the first confirmed answer carries the user and the session cookie; then 404', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    const waiting = await poll(ctx, started.ticket, started.cookie)
    expect(await waiting.json()).toEqual({ status: 'waiting', expiresAt: started.expiresAt })
    expect(waiting.headers.get('cache-control')).toBe('no-store')
    await act(ctx, started.ticket, 'scan', mini.skey)
    expect(await (await poll(ctx, started.ticket, started.cookie)).json()).toEqual({
      status: 'scanned',
      expiresAt: started.expiresAt,
    })
    await act(ctx, started.ticket, 'confirm', mini.skey)
    const confirmed = await poll(ctx, started.ticket, started.cookie)
    expect(await confirmed.json()).toEqual({
      status: 'confirmed',
      expiresAt: started.expiresAt,
      user: { id: mini.user.id, openid: mini.user.openid, unionid: null, createdAt: expect.any(String) },
    })
    const session = setCookieOf(confirmed, 'wxauth_session')
    expect(session?.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(session?.attributes).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=7200']))
    expect(session?.attributes).not.toContain('Secure')
    const used = await poll(ctx, started.ticket, started.cookie)
    expect(used.status).toBe(404)
    expect(await errorCode(used)).toBe('TICKET_INVALID')
  })

  test('without the binding cookie, or with another browser’s → 403 TICKET_FOREIGN; unknown or malformed → 404', async () => {
    const ctx = await webApp()
    const mine = await startTicket(ctx)
    const other = await startTicket(ctx)
    for (const cookie of [null, other.cookie, 'wxauth_web_ticket=', `wxauth_web_ticket=${mine.ticket}`]) {
      const response = await poll(ctx, mine.ticket, cookie)
      expect(response.status).toBe(403)
      expect(await errorCode(response)).toBe('TICKET_FOREIGN')
    }
    for (const ticket of ['AAAAAAAAAAAAAAAAAAAAAA', 'short', `${mine.ticket}x`]) {
      const response = await poll(ctx, ticket, mine.cookie)
      expect(response.status).toBe(404)
      expect(await errorCode(response)).toBe('TICKET_INVALID')
    }
  })

  test('a second browser cannot collect a ticket confirmed for the first; the first still can', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const first = await startTicket(ctx)
    await act(ctx, first.ticket, 'confirm', mini.skey)
    const thief = await poll(ctx, first.ticket, null)
    expect(thief.status).toBe(403)
    expect(setCookieOf(thief, 'wxauth_session')).toBeNull()
    const second = await startTicket(ctx)
    expect((await poll(ctx, first.ticket, second.cookie)).status).toBe(403)
    const collected = await poll(ctx, first.ticket, first.cookie)
    expect(((await collected.json()) as { status: string }).status).toBe('confirmed')
  })

  test('wait: answers within a second of the confirm, not at the end of the wait; on this instance at once', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    const waiting = poll(ctx, started.ticket, started.cookie, 10)
    await Bun.sleep(300)
    await act(ctx, started.ticket, 'confirm', mini.skey)
    const confirmedAt = performance.now()
    const answer = await waiting
    // The store is polled every 250 ms for changes made elsewhere; a change made here wakes the wait itself.
    expect(performance.now() - confirmedAt).toBeLessThan(100)
    expect(((await answer.json()) as { status: string }).status).toBe('confirmed')
    expect(setCookieOf(answer, 'wxauth_session')).not.toBeNull()
  })

  test('two waits on one ticket, one confirm: exactly one collects the session, the other finds it used (404)', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    const waits = [poll(ctx, started.ticket, started.cookie, 10), poll(ctx, started.ticket, started.cookie, 10)]
    await Bun.sleep(100)
    await act(ctx, started.ticket, 'confirm', mini.skey)
    const answers = await Promise.all(waits)
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 404])
    expect(answers.filter((answer) => setCookieOf(answer, 'wxauth_session'))).toHaveLength(1)
  })

  test('a browser that has gone away does not use up the ticket: its next request collects it', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    const closed = new AbortController()
    const waiting = ctx.app.handle(
      new Request(`${ORIGIN}/web/login/${started.ticket}?wait=10`, {
        headers: { cookie: started.cookie },
        signal: closed.signal,
      }),
    )
    await Bun.sleep(50)
    closed.abort()
    await act(ctx, started.ticket, 'confirm', mini.skey)
    expect(setCookieOf(await waiting, 'wxauth_session')).toBeNull()
    const collected = await poll(ctx, started.ticket, started.cookie)
    expect(setCookieOf(collected, 'wxauth_session')).not.toBeNull()
  })

  test('a confirm just before expiry is still collected after it', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    ctx.clock.advance(TTL_SECONDS * 1000 - 1000)
    expect((await act(ctx, started.ticket, 'confirm', mini.skey)).status).toBe(204)
    ctx.clock.advance(5000)
    const answer = await poll(ctx, started.ticket, started.cookie)
    expect(((await answer.json()) as { status: string }).status).toBe('confirmed')
    expect(setCookieOf(answer, 'wxauth_session')).not.toBeNull()
  })

  test('tabs: each new ticket adds a fresh secret to the binding cookie, so earlier tabs keep theirs (up to 4)', async () => {
    const ctx = await webApp()
    const first = await startTicket(ctx)
    const second = await startTicket(ctx, { cookie: first.cookie })
    // The second ticket's secret is new: the first cookie alone cannot read it, the combined one reads both.
    expect(second.cookie.startsWith(`${first.cookie}.`)).toBe(true)
    expect((await poll(ctx, second.ticket, first.cookie)).status).toBe(403)
    expect((await poll(ctx, first.ticket, second.cookie)).status).toBe(200)
    expect((await poll(ctx, second.ticket, second.cookie)).status).toBe(200)
    let cookie = second.cookie
    for (let i = 0; i < 3; i++) cookie = (await startTicket(ctx, { cookie })).cookie
    expect(cookie.split('.')).toHaveLength(4)
    expect((await poll(ctx, first.ticket, cookie)).status).toBe(403)
    expect((await poll(ctx, second.ticket, cookie)).status).toBe(200)
  })

  test('a planted binding cookie binds no new ticket to its secret', async () => {
    const ctx = await webApp()
    const attacker = await startTicket(ctx)
    const victim = await startTicket(ctx, { cookie: attacker.cookie })
    // The attacker's own cookie cannot collect the victim's ticket.
    const stolen = await poll(ctx, victim.ticket, attacker.cookie)
    expect(stolen.status).toBe(403)
    expect(await errorCode(stolen)).toBe('TICKET_FOREIGN')
  })

  test('wait: with no change, answers the same status after the wait; wait=0 answers at once', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    const began = performance.now()
    const answer = await poll(ctx, started.ticket, started.cookie, 1)
    expect(performance.now() - began).toBeGreaterThanOrEqual(950)
    expect(((await answer.json()) as { status: string }).status).toBe('waiting')
    const quick = performance.now()
    await poll(ctx, started.ticket, started.cookie, 0)
    expect(performance.now() - quick).toBeLessThan(200)
  })

  test('wait: a scan ends the wait with scanned; denied answers at once', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    const waiting = poll(ctx, started.ticket, started.cookie, 10)
    await Bun.sleep(100)
    await act(ctx, started.ticket, 'scan', mini.skey)
    expect(((await (await waiting).json()) as { status: string }).status).toBe('scanned')
    await act(ctx, started.ticket, 'deny', mini.skey)
    const began = performance.now()
    const denied = await poll(ctx, started.ticket, started.cookie, 10)
    expect(((await denied.json()) as { status: string }).status).toBe('denied')
    expect(performance.now() - began).toBeLessThan(500)
    expect(setCookieOf(denied, 'wxauth_session')).toBeNull()
  })

  test('wait outside 0…25 → 400 VALIDATION', async () => {
    const ctx = await webApp()
    const started = await startTicket(ctx)
    for (const wait of ['26', '-1', 'soon']) {
      const response = await ctx.app.handle(
        request('GET', `/web/login/${started.ticket}?wait=${wait}`, { cookie: started.cookie }),
      )
      expect(response.status).toBe(400)
      expect(await errorCode(response)).toBe('VALIDATION')
    }
  })

  test('past its life the ticket says expired, and a confirm can no longer happen (410)', async () => {
    const ctx = await webApp()
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx)
    ctx.clock.advance(TTL_SECONDS * 1000)
    expect(await (await poll(ctx, started.ticket, started.cookie)).json()).toEqual({
      status: 'expired',
      expiresAt: started.expiresAt,
    })
    for (const step of ['scan', 'confirm', 'deny'] as const) {
      const response = await act(ctx, started.ticket, step, mini.skey)
      expect(response.status).toBe(410)
      expect(await errorCode(response)).toBe('TICKET_EXPIRED')
    }
  })

  test('expired tickets are swept when new ones are made, after a grace period in which browsers still see expired', async () => {
    if (TEST_BACKEND === 'postgres+redis') return // Redis drops the key by itself (see the store suite)
    const ctx = await webApp()
    const old = await startTicket(ctx)
    ctx.clock.advance(TTL_SECONDS * 1000 + 60_000)
    await startTicket(ctx)
    expect(await ctx.stores.tickets.get(old.ticket)).not.toBeNull()
    ctx.clock.advance(10 * 60_000)
    await startTicket(ctx)
    expect(await ctx.stores.tickets.get(old.ticket)).toBeNull()
  })
})

describe('the mini program side', () => {
  test('scan tells the user which browser is asking; scanning again is fine; confirm → 204', async () => {
    const ctx = await webApp({ trustProxy: true })
    const mini = await miniProgramLogin(ctx)
    const started = await startTicket(ctx, { 'x-forwarded-for': '203.0.113.9', 'user-agent': 'Firefox/140.0' })
    const scanned = await act(ctx, started.ticket, 'scan', mini.skey)
    expect(scanned.status).toBe(200)
    expect(await scanned.json()).toEqual({
      browser: { ip: '203.0.113.9', userAgent: 'Firefox/140.0', createdAt: new Date(ctx.clock()).toISOString() },
      expiresAt: started.expiresAt,
    })
    expect((await act(ctx, started.ticket, 'scan', mini.skey)).status).toBe(200)
    const confirmed = await act(ctx, started.ticket, 'confirm', mini.skey)
    expect(confirmed.status).toBe(204)
  })

  test('another user cannot scan or answer a scanned ticket; an answered one cannot be answered again (409)', async () => {
    const ctx = await webApp()
    const ann = await miniProgramLogin(ctx, 'ann')
    const bob = await miniProgramLogin(ctx, 'bob')
    const started = await startTicket(ctx)
    await act(ctx, started.ticket, 'scan', ann.skey)
    for (const step of ['scan', 'confirm', 'deny'] as const) {
      const response = await act(ctx, started.ticket, step, bob.skey)
      expect(response.status).toBe(409)
      expect(await errorCode(response)).toBe('TICKET_CLAIMED')
    }
    expect((await act(ctx, started.ticket, 'deny', ann.skey)).status).toBe(204)
    for (const step of ['scan', 'confirm', 'deny'] as const) {
      expect(await errorCode(await act(ctx, started.ticket, step, ann.skey))).toBe('TICKET_CLAIMED')
    }
    const answer = await poll(ctx, started.ticket, started.cookie)
    expect(((await answer.json()) as { status: string }).status).toBe('denied')
  })

  test('confirm without a scan first works; two users confirming at once: exactly one wins', async () => {
    const ctx = await webApp()
    const ann = await miniProgramLogin(ctx, 'ann')
    const bob = await miniProgramLogin(ctx, 'bob')
    const started = await startTicket(ctx)
    const answers = await Promise.all([
      act(ctx, started.ticket, 'confirm', ann.skey),
      act(ctx, started.ticket, 'confirm', bob.skey),
    ])
    expect(answers.map((response) => response.status).sort()).toEqual([204, 409])
    const winner = answers[0]?.status === 204 ? ann : bob
    const collected = (await (await poll(ctx, started.ticket, started.cookie)).json()) as { user: { id: number } }
    expect(collected.user.id).toBe(winner.user.id)
  })

  test('unknown or used-up ticket → 404 TICKET_INVALID; no skey → 401', async () => {
    const ctx = await webApp()
    const { mini, started } = await signedInBrowser(ctx)
    for (const ticket of [started.ticket, 'AAAAAAAAAAAAAAAAAAAAAA']) {
      const response = await act(ctx, ticket, 'scan', mini.skey)
      expect(response.status).toBe(404)
      expect(await errorCode(response)).toBe('TICKET_INVALID')
    }
    const fresh = await startTicket(ctx)
    const anonymous = await ctx.app.handle(request('POST', `/web/login/${fresh.ticket}/scan`))
    expect(anonymous.status).toBe(401)
  })

  test('a web session cannot sign another browser in: 403 MINIPROGRAM_SESSION_REQUIRED', async () => {
    const ctx = await webApp()
    const { cookie } = await signedInBrowser(ctx)
    const other = await startTicket(ctx)
    const response = await ctx.app.handle(
      request('POST', `/web/login/${other.ticket}/confirm`, { cookie, origin: ORIGIN }),
    )
    expect(response.status).toBe(403)
    expect(await errorCode(response)).toBe('MINIPROGRAM_SESSION_REQUIRED')
  })
})

describe('the web session cookie', () => {
  test('sliding sessions slide the cookie too: a request past the half-life renews its Max-Age', async () => {
    const ctx = await webApp({ sessionSliding: true, sessionTtlSeconds: 600 })
    const { cookie, session } = await signedInBrowser(ctx)
    ctx.clock.advance(100_000)
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).headers.getSetCookie()).toEqual([])
    ctx.clock.advance(250_000)
    const me = await ctx.app.handle(request('GET', '/auth/me', { cookie }))
    expect(me.status).toBe(200)
    const renewed = setCookieOf(me, 'wxauth_session')
    expect(renewed?.value).toBe(session.value)
    expect(renewed?.attributes).toEqual(expect.arrayContaining(['Max-Age=600', 'HttpOnly', 'Path=/']))
    ctx.clock.advance(400_000)
    const routed = await ctx.app.handle(request('GET', '/notes', { cookie }))
    expect(routed.status).toBe(200)
    expect(setCookieOf(routed, 'wxauth_session')?.value).toBe(session.value)
    // An skey that slides sets no cookie.
    const mini = await miniProgramLogin(ctx)
    ctx.clock.advance(400_000)
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: mini.skey }))).headers.getSetCookie()).toEqual([])
  })

  test('forward auth: the method the proxy names counts, so a cross-site POST behind /auth/verify is refused', async () => {
    const ctx = await webApp()
    const { cookie } = await signedInBrowser(ctx)
    const verify = (headers: Record<string, string>) =>
      ctx.app.handle(request('GET', '/auth/verify', { cookie, ...headers }))
    for (const header of ['x-forwarded-method', 'x-original-method']) {
      expect((await verify({ [header]: 'POST', origin: 'https://evil.example' })).status).toBe(403)
      expect((await verify({ [header]: 'DELETE' })).status).toBe(403)
      expect((await verify({ [header]: 'POST', origin: ORIGIN })).status).toBe(204)
      expect((await verify({ [header]: 'GET' })).status).toBe(204)
    }
  })

  test('X-Forwarded-Proto and X-Forwarded-Host name the own origin only behind a trusted proxy', async () => {
    const headers = {
      origin: 'https://app.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'app.example.com',
    }
    const trusting = await webApp({ trustProxy: true })
    const signedIn = await signedInBrowser(trusting)
    const allowed = await trusting.app.handle(request('POST', '/auth/logout', { cookie: signedIn.cookie, ...headers }))
    expect(allowed.status).toBe(204)
    const untrusting = await webApp()
    const other = await signedInBrowser(untrusting)
    const refused = await untrusting.app.handle(request('POST', '/auth/logout', { cookie: other.cookie, ...headers }))
    expect(refused.status).toBe(403)
    // Nor does the header make the cookie Secure-less or Secure: the request's own scheme counts.
    const started = await untrusting.app.handle(request('POST', '/web/login', { 'x-forwarded-proto': 'https' }))
    expect(setCookieOf(started, 'wxauth_web_ticket')?.attributes).not.toContain('Secure')
  })

  test('/auth/me, /auth/verify and { auth: true } routes accept it when no skey header is sent', async () => {
    const ctx = await webApp()
    const { cookie, mini } = await signedInBrowser(ctx)
    const me = await ctx.app.handle(request('GET', '/auth/me', { cookie }))
    expect(me.status).toBe(200)
    expect(((await me.json()) as { user: { id: number } }).user.id).toBe(mini.user.id)
    const verify = await ctx.app.handle(request('GET', '/auth/verify', { cookie }))
    expect(verify.status).toBe(204)
    expect(verify.headers.get('x-wxauth-user-id')).toBe(String(mini.user.id))
    expect((await ctx.app.handle(request('GET', '/notes', { cookie }))).status).toBe(200)
    // An skey header, when sent, is what counts.
    const withBadSkey = await ctx.app.handle(request('GET', '/auth/me', { cookie, skey: 'x'.repeat(43) }))
    expect(withBadSkey.status).toBe(401)
  })

  test('it is a session like an skey: stored hashed, in the user’s sessions, ended by logout-all', async () => {
    const ctx = await webApp()
    const { cookie, session, mini } = await signedInBrowser(ctx)
    expect(await ctx.stores.sessions.listForUser(mini.user.id, ctx.clock())).toHaveLength(2)
    expect(await ctx.stores.sessions.sessionKeyOf(Bun.SHA256.hash(session.value) as Uint8Array)).toBe('')
    await ctx.app.handle(request('POST', '/auth/logout-all', { skey: mini.skey }))
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).status).toBe(401)
  })

  test('expires with SESSION_TTL', async () => {
    const ctx = await webApp({ sessionTtlSeconds: 600 })
    const { cookie, session } = await signedInBrowser(ctx)
    expect(session.attributes).toContain('Max-Age=600')
    ctx.clock.advance(600_000)
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).status).toBe(401)
  })

  test('counts towards MAX_SESSIONS_PER_USER', async () => {
    const ctx = await webApp({ maxSessionsPerUser: 1 })
    const { cookie, mini } = await signedInBrowser(ctx)
    // The web session ended the mini program's older one.
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: mini.skey }))).status).toBe(401)
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).status).toBe(200)
  })

  test('CSRF: a cookie write needs Origin equal to the server’s own or one in WEB_ORIGINS (403 CSRF_REJECTED)', async () => {
    const ctx = await webApp()
    const { cookie } = await signedInBrowser(ctx)
    const note = (headers: Record<string, string>) =>
      ctx.app.handle(jsonRequest('POST', '/notes', { text: 'hi' }, { cookie, ...headers }))
    for (const origin of [null, 'https://evil.example', 'null', 'http://localhost:3001', 'https://localhost']) {
      const response = await note(origin === null ? {} : { origin })
      expect(response.status).toBe(403)
      expect(await errorCode(response)).toBe('CSRF_REJECTED')
    }
    expect((await note({ origin: ORIGIN })).status).toBe(201)
    expect((await note({ origin: 'https://admin.example.com' })).status).toBe(201)
    // A cross-site form post (text/plain, no JSON) is refused before anything else.
    const form = await ctx.app.handle(
      new Request(`${ORIGIN}/auth/logout`, {
        method: 'POST',
        headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1',
      }),
    )
    expect(form.status).toBe(403)
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).status).toBe(200)
    // Safe methods need no Origin; any other method does, also one a proxy forwards to /auth/verify.
    expect((await ctx.app.handle(request('GET', '/notes', { cookie }))).status).toBe(200)
    expect((await ctx.app.handle(request('PURGE', '/auth/verify', { cookie }))).status).toBe(403)
    expect((await ctx.app.handle(request('PURGE', '/auth/verify', { cookie, origin: ORIGIN }))).status).toBe(204)
  })

  test('behind a trusted proxy, the own origin takes its scheme from X-Forwarded-Proto', async () => {
    const ctx = await webApp({ trustProxy: true })
    const { cookie } = await signedInBrowser(ctx)
    const logout = await ctx.app.handle(
      request('POST', '/auth/logout', { cookie, origin: 'https://localhost', 'x-forwarded-proto': 'https' }),
    )
    expect(logout.status).toBe(204)
  })

  test('requests with an skey header are not affected by the Origin rule', async () => {
    const ctx = await webApp()
    const { mini } = await signedInBrowser(ctx)
    const response = await ctx.app.handle(
      jsonRequest('POST', '/notes', { text: 'hi' }, { skey: mini.skey, origin: 'https://evil.example' }),
    )
    expect(response.status).toBe(201)
  })

  test('POST /auth/logout with the cookie ends that session and clears the cookie', async () => {
    const ctx = await webApp()
    const { cookie, mini } = await signedInBrowser(ctx)
    const logout = await ctx.app.handle(request('POST', '/auth/logout', { cookie, origin: ORIGIN }))
    expect(logout.status).toBe(204)
    const cleared = setCookieOf(logout, 'wxauth_session')
    expect(cleared?.value).toBe('')
    expect(cleared?.attributes).toEqual(expect.arrayContaining(['Path=/', 'Max-Age=0']))
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie }))).status).toBe(401)
    // The mini program's own session lives on.
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: mini.skey }))).status).toBe(200)
    // Logging out with an skey sets no cookie.
    const skeyLogout = await ctx.app.handle(request('POST', '/auth/logout', { skey: mini.skey }))
    expect(skeyLogout.headers.getSetCookie()).toEqual([])
  })

  test('the /wechat/* open-data routes refuse a web session: 403 MINIPROGRAM_SESSION_REQUIRED', async () => {
    const ctx = await webApp()
    const { cookie } = await signedInBrowser(ctx)
    const calls = [
      ['GET', '/wechat/session-key', undefined],
      ['POST', '/wechat/decrypt', { encryptedData: 'AAAA', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }],
      ['POST', '/wechat/verify', { rawData: '{}', signature: 'a'.repeat(40) }],
      ['POST', '/wechat/phone', { code: 'phone-code' }],
    ] as const
    for (const [method, path, body] of calls) {
      const response = await ctx.app.handle(jsonRequest(method, path, body, { cookie, origin: ORIGIN }))
      expect(response.status).toBe(403)
      expect(await errorCode(response)).toBe('MINIPROGRAM_SESSION_REQUIRED')
    }
  })
})

describe('GET /web', () => {
  test('the example page: HTML from wxauth itself, with a CSP that allows only its own inline code and this server', async () => {
    const ctx = await webApp()
    const page = await ctx.app.handle(request('GET', '/web'))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const html = await page.text()
    expect(html).toContain('/web/login')
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!localhost)/)
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? ''
    expect(script.length).toBeGreaterThan(1000)
    expect(csp).toContain(`script-src 'sha256-${Bun.SHA256.hash(script, 'base64')}'`)
    expect(csp).toContain(`style-src 'sha256-${Bun.SHA256.hash(style, 'base64')}'`)
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    expect(csp).not.toContain('unsafe-inline')
  })
})

describe('secrets stay out of the log', () => {
  test('the ticket secret, the session cookie and the skey appear in no log line of the whole flow', async () => {
    const { served, simulator, lines } = observedApp({
      webLogin: { page: 'pages/web-login/index', envVersion: 'release', ttlSeconds: TTL_SECONDS, origins: [] },
    })
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', ...served })
    try {
      const base = `http://127.0.0.1:${server.port}`
      const post = (path: string, headers: Record<string, string> = {}, body?: unknown) =>
        fetch(base + path, {
          method: 'POST',
          headers: body ? { 'content-type': 'application/json', ...headers } : headers,
          body: body ? JSON.stringify(body) : undefined,
        })
      const login = (await (await post('/auth/login', {}, { code: simulator.issueCode('ann') })).json()) as {
        skey: string
      }
      const started = await post('/web/login')
      const { ticket } = (await started.json()) as { ticket: string }
      const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      await fetch(`${base}/web/login/${ticket}/qrcode.png`, { headers: { cookie: binding } })
      await post(`/web/login/${ticket}/scan`, { skey: login.skey })
      await post(`/web/login/${ticket}/confirm`, { skey: login.skey })
      const answer = await fetch(`${base}/web/login/${ticket}`, { headers: { cookie: binding } })
      const session = answer.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      expect(session).toStartWith('wxauth_session=')
      await fetch(`${base}/auth/me`, { headers: { cookie: session } })
      await post('/auth/logout', { cookie: session, origin: base })
      const logged = JSON.stringify(lines)
      expect(lines.length).toBeGreaterThanOrEqual(8)
      for (const secret of [binding.split('=')[1], session.split('=')[1], login.skey]) {
        expect(secret?.length).toBeGreaterThan(20)
        expect(logged).not.toContain(secret as string)
      }
    } finally {
      server.stop(true)
    }
  })
})
