import { describe, expect, test } from 'bun:test'
import { AdminLinkError, createAdminLink } from '../../../src/modules/console/service'
import { createApp, createWechatSimulator } from '../../../src/server'
import { APPID, captureWarnings, jsonRequest, observedApp, SECRET, testApp } from '../../helpers'

/** The admin console's API over HTTP (app.handle): who may use it, what it shows and changes, its links. */

captureWarnings(['WeChat unavailable'])

const ORIGIN = 'http://localhost'
const WEB_LOGIN = { page: 'pages/web-login/index', envVersion: 'release', ttlSeconds: 120, origins: [] } as const
const openidOf = (user: string) => createWechatSimulator({ appid: APPID, secret: SECRET }).openidFor(user)
const BOSS = openidOf('boss')

type Ctx = Awaited<ReturnType<typeof consoleApp>>

function consoleApp(config: Parameters<typeof testApp>[0] = {}) {
  return testApp({ webLogin: WEB_LOGIN, adminOpenids: [BOSS], ...config })
}

const request = (method: string, path: string, headers: Record<string, string> = {}) =>
  new Request(`${ORIGIN}${path}`, { method, headers })

async function login(ctx: Ctx, user: string, headers: Record<string, string> = {}) {
  const response = await ctx.app.handle(
    jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode(user) }, headers),
  )
  expect(response.status).toBe(200)
  return (await response.json()) as { skey: string; user: { id: number; openid: string } }
}

/** What the link page does: POST the link's #fragment (its secret) to its path. */
function useLink(link: string, headers: Record<string, string> = { origin: ORIGIN }) {
  const [path = '', secret = ''] = link.split('#')
  return new Request(`${ORIGIN}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ secret }),
  })
}

/** An admin link made as `wxauth admin-link` makes it, then used: the browser's session cookie. */
async function adminCookie(ctx: Ctx, openid = BOSS): Promise<string> {
  const { path } = await createAdminLink(ctx.stores, openid, { adminOpenids: [BOSS], nowMs: ctx.clock() })
  const used = await ctx.app.handle(useLink(path))
  expect(used.status).toBe(204)
  const cookie = used.headers.getSetCookie().find((header) => header.startsWith('wxauth_session='))
  return cookie?.split(';')[0] ?? ''
}

/** A browser signed in through the web login as `user`: a cookie that is not an admin's unless `user` is. */
async function webCookie(ctx: Ctx, skey: string): Promise<string> {
  const started = await ctx.app.handle(request('POST', '/web/login'))
  const { ticket } = (await started.json()) as { ticket: string }
  const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
  expect((await ctx.app.handle(request('POST', `/web/login/${ticket}/confirm`, { skey }))).status).toBe(204)
  const collected = await ctx.app.handle(request('GET', `/web/login/${ticket}`, { cookie: binding }))
  return collected.headers.getSetCookie()[0]?.split(';')[0] ?? ''
}

async function call(ctx: Ctx, method: string, path: string, cookie: string, headers: Record<string, string> = {}) {
  const response = await ctx.app.handle(
    request(method, path, { cookie, ...(method === 'GET' ? {} : { origin: ORIGIN }), ...headers }),
  )
  const text = await response.text()
  return { status: response.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> }
}

const API_ROUTES = [
  ['GET', '/admin/api/overview'],
  ['GET', '/admin/api/users'],
  ['GET', '/admin/api/users/1'],
  ['DELETE', '/admin/api/users/1/sessions/x'],
  ['DELETE', '/admin/api/users/1/sessions'],
  ['GET', '/admin/api/logins'],
] as const

describe('console off', () => {
  test('without ADMIN_OPENIDS the console does not exist (404)', async () => {
    const ctx = await testApp({ webLogin: WEB_LOGIN })
    for (const path of ['/admin', '/admin/api/overview', '/admin/link/x']) {
      expect((await ctx.app.handle(request('GET', path))).status).toBe(404)
    }
  })

  test('adminOpenids without webLogin is refused at start', async () => {
    const ctx = await testApp()
    expect(() => createApp({ stores: ctx.stores, wechat: {} as never, config: { adminOpenids: [BOSS] } })).toThrow(
      'adminOpenids needs webLogin',
    )
  })
})

describe('who may use the console', () => {
  test('no session → 401; a signed-in non-admin → 403 ADMIN_ONLY on every API route; an admin → in', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'boss')
    const guest = await login(ctx, 'guest')
    const guestCookie = await webCookie(ctx, guest.skey)
    const bossCookie = await adminCookie(ctx)
    for (const [method, path] of API_ROUTES) {
      expect((await call(ctx, method, path, '')).status).toBe(401)
      const refused = await call(ctx, method, path, guestCookie)
      expect(refused.status).toBe(403)
      expect(refused.body.code).toBe('ADMIN_ONLY')
      // The mini program's skey of a non-admin is no better.
      expect((await call(ctx, method, path, '', { skey: guest.skey })).status).toBe(403)
    }
    expect((await call(ctx, 'GET', '/admin/api/overview', bossCookie)).status).toBe(200)
  })

  test("an admin's skey works too (the mini program may call the API)", async () => {
    const ctx = await consoleApp()
    const boss = await login(ctx, 'boss')
    expect((await call(ctx, 'GET', '/admin/api/users', '', { skey: boss.skey })).status).toBe(200)
  })

  test('CSRF: a revoke signed in by cookie needs this origin (403 CSRF_REJECTED), and changes nothing', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'boss')
    const guest = await login(ctx, 'guest')
    const cookie = await adminCookie(ctx)
    for (const headers of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const response = await ctx.app.handle(
        request('DELETE', `/admin/api/users/${guest.user.id}/sessions`, { cookie, ...headers }),
      )
      expect(response.status).toBe(403)
      expect(((await response.json()) as { code: string }).code).toBe('CSRF_REJECTED')
    }
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: guest.skey }))).status).toBe(200)
  })
})

describe('admin links (wxauth admin-link)', () => {
  test('sign in once: the link page is harmless, the POST of its secret sets the session cookie, a second is 404', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'boss')
    const { path: link, expiresAt } = await createAdminLink(ctx.stores, BOSS, {
      adminOpenids: [BOSS],
      nowMs: ctx.clock(),
    })
    // The secret rides in the #fragment, which browsers never send: no access log can hold it.
    expect(link).toMatch(/^\/admin\/link\/[A-Za-z0-9_-]{24}#[A-Za-z0-9_-]{43}$/)
    expect(expiresAt).toBe(ctx.clock() + 10 * 60 * 1000)
    const page = await ctx.app.handle(request('GET', link.split('#')[0] ?? ''))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const used = await ctx.app.handle(useLink(link))
    expect(used.status).toBe(204)
    const cookie = used.headers.getSetCookie()[0] ?? ''
    expect(cookie).toMatch(/^wxauth_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=7200; HttpOnly; SameSite=Lax$/)
    const again = await ctx.app.handle(useLink(link))
    expect(again.status).toBe(404)
    expect(((await again.json()) as { code: string }).code).toBe('LINK_INVALID')
    const me = await ctx.app.handle(request('GET', '/auth/me', { cookie: cookie.split(';')[0] ?? '' }))
    expect(((await me.json()) as { user: { openid: string } }).user.openid).toBe(BOSS)
  })

  test('expires after 10 minutes (410 LINK_EXPIRED, and gone); a wrong secret is 404', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'boss')
    const { path: link } = await createAdminLink(ctx.stores, BOSS, { adminOpenids: [BOSS], nowMs: ctx.clock() })
    const forged = link.replace(/#(.)/, (_, first: string) => `#${first === 'A' ? 'B' : 'A'}`)
    expect((await ctx.app.handle(useLink(forged))).status).toBe(404)
    ctx.clock.advance(10 * 60 * 1000)
    const expired = await ctx.app.handle(useLink(link))
    expect(expired.status).toBe(410)
    expect(((await expired.json()) as { code: string }).code).toBe('LINK_EXPIRED')
    expect((await ctx.app.handle(useLink(link))).status).toBe(404)
  })

  test('links and web logins never take each other’s tickets, expired or not', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'boss')
    const { path: link } = await createAdminLink(ctx.stores, BOSS, { adminOpenids: [BOSS], nowMs: ctx.clock() })
    const [path = '', secret = ''] = link.split('#')
    const id = path.split('/').pop() ?? ''
    // The link's id and secret as a web login's ticket and binding cookie: unknown there, now and later.
    const asWebLogin = () =>
      ctx.app.handle(request('GET', `/web/login/${id}`, { cookie: `wxauth_web_ticket=${secret}` }))
    expect((await asWebLogin()).status).toBe(404)
    ctx.clock.advance(24 * 3600_000)
    const late = await asWebLogin()
    expect(late.status).toBe(404)
    expect(late.headers.getSetCookie()).toEqual([])
    // A browser's own web-login ticket and its binding secret do not make an admin link.
    const started = await ctx.app.handle(request('POST', '/web/login'))
    const { ticket } = (await started.json()) as { ticket: string }
    const binding = started.headers.getSetCookie()[0]?.split(';')[0]?.split('=')[1] ?? ''
    expect((await ctx.app.handle(useLink(`/admin/link/${ticket}#${binding}`))).status).toBe(404)
  })

  test('made only for an openid in ADMIN_OPENIDS that has logged in; only the console’s own origin may use one', async () => {
    const ctx = await consoleApp()
    await login(ctx, 'guest')
    const made = (openid: string) => createAdminLink(ctx.stores, openid, { adminOpenids: [BOSS], nowMs: ctx.clock() })
    expect(made(openidOf('guest'))).rejects.toThrow(AdminLinkError)
    expect(made(BOSS)).rejects.toThrow('log in once with the mini program first')
    await login(ctx, 'boss')
    const { path: link } = await made(BOSS)
    for (const headers of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const refused = await ctx.app.handle(useLink(link, headers))
      expect(refused.status).toBe(403)
      expect(((await refused.json()) as { code: string }).code).toBe('CSRF_REJECTED')
    }
    // Refused before anything was used: the link still works from the console's own origin.
    expect((await ctx.app.handle(useLink(link))).status).toBe(204)
  })

  test('an openid taken out of ADMIN_OPENIDS after its link was made gets 403 ADMIN_ONLY', async () => {
    const ctx = await consoleApp({ adminOpenids: [openidOf('other-admin')] })
    await login(ctx, 'boss')
    const { path: link } = await createAdminLink(ctx.stores, BOSS, { adminOpenids: [BOSS], nowMs: ctx.clock() })
    const refused = await ctx.app.handle(useLink(link))
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { code: string }).code).toBe('ADMIN_ONLY')
  })
})

describe('what the console shows and changes', () => {
  test('overview: users, live sessions, logins per hour by outcome (48 h), failure reasons (24 h)', async () => {
    const ctx = await consoleApp({ loginRateLimit: 2, trustProxy: true })
    // A login 49 hours before the others: outside the chart's 48 hours.
    await login(ctx, 'early', { 'x-forwarded-for': '192.0.2.1' })
    await ctx.app.loginEvents.flush()
    ctx.clock.advance(49 * 3600_000)
    const from = { 'x-forwarded-for': '203.0.113.7' }
    await login(ctx, 'boss', from)
    await login(ctx, 'ann', from)
    // Third from the same address: rate limited; a bad code from another.
    await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('bob') }, from))
    await ctx.app.handle(
      jsonRequest('POST', '/auth/login', { code: 'errcode:40029' }, { 'x-forwarded-for': '198.51.100.1' }),
    )
    ctx.clock.advance(3 * 60 * 60 * 1000)
    await login(ctx, 'carol', { 'x-forwarded-for': '198.51.100.2' })
    const cookie = await adminCookie(ctx)
    const { status, body } = await call(ctx, 'GET', '/admin/api/overview', cookie)
    expect(status).toBe(200)
    // early, boss, ann and carol (bob was refused); boss's and ann's sessions have expired (2 h): carol's and the
    // admin's web session live.
    expect(body).toMatchObject({ users: 4, liveSessions: 2 })
    const hours = body.loginsPerHour as { hourStart: string; outcome: string; count: number }[]
    const firstHour = new Date(Math.floor((ctx.clock() - 3 * 3600_000) / 3600_000) * 3600_000).toISOString()
    expect(hours).toEqual(
      expect.arrayContaining([
        { hourStart: firstHour, outcome: 'OK', count: 2 },
        { hourStart: firstHour, outcome: 'RATE_LIMITED', count: 1 },
        { hourStart: firstHour, outcome: 'WECHAT_CODE_INVALID', count: 1 },
      ]),
    )
    expect(hours.reduce((sum, row) => sum + row.count, 0)).toBe(5)
    expect(body.failures24h).toEqual([
      { outcome: 'RATE_LIMITED', count: 1 },
      { outcome: 'WECHAT_CODE_INVALID', count: 1 },
    ])
  })

  test('logins: newest first, paged; the outcome, the user when known, the address only as its /24; never the code', async () => {
    const ctx = await consoleApp({ trustProxy: true })
    const boss = await login(ctx, 'boss', { 'x-forwarded-for': '203.0.113.57' })
    await ctx.app.handle(
      jsonRequest('POST', '/auth/login', { code: 'errcode:40029' }, { 'x-forwarded-for': '2001:db8:1:2::9' }),
    )
    await login(ctx, 'ann')
    const cookie = await adminCookie(ctx)
    const first = await call(ctx, 'GET', '/admin/api/logins?limit=2', cookie)
    const events = first.body.events as {
      id: number
      outcome: string
      userId: number | null
      ipPrefix: string | null
    }[]
    expect(events.map((event) => event.outcome)).toEqual(['OK', 'WECHAT_CODE_INVALID'])
    expect(events[1]).toMatchObject({ userId: null, ipPrefix: '2001:db8:1::/48' })
    const rest = await call(ctx, 'GET', `/admin/api/logins?limit=2&before=${first.body.next}`, cookie)
    expect(rest.body.events).toEqual([
      {
        id: expect.any(Number),
        at: expect.any(String),
        outcome: 'OK',
        userId: boss.user.id,
        ipPrefix: '203.0.113.0/24',
      },
    ])
    expect(rest.body.next).toBeNull()
    expect(JSON.stringify([first.body, rest.body])).not.toContain('errcode:40029')
  })

  test('users: newest first, search by id or the start of an openid or unionid, paged', async () => {
    const ctx = await consoleApp()
    const boss = await login(ctx, 'boss')
    const ann = await login(ctx, 'ann+unionid')
    const bob = await login(ctx, 'bob')
    const cookie = await adminCookie(ctx)
    const all = await call(ctx, 'GET', '/admin/api/users?limit=2', cookie)
    expect((all.body.users as { id: number }[]).map((user) => user.id)).toEqual([bob.user.id, ann.user.id])
    expect(all.body.next).toBe(ann.user.id)
    const rest = await call(ctx, 'GET', `/admin/api/users?limit=2&before=${all.body.next}`, cookie)
    expect(rest.body.users).toEqual([
      {
        id: boss.user.id,
        openid: BOSS,
        unionid: null,
        createdAt: expect.any(String),
        lastLoginAt: expect.any(String),
        liveSessions: 2,
      },
    ])
    const byOpenid = await call(ctx, 'GET', `/admin/api/users?q=${bob.user.openid.slice(0, 12)}`, cookie)
    expect((byOpenid.body.users as { id: number }[]).map((user) => user.id)).toEqual([bob.user.id])
    const annUnionid = (
      (await call(ctx, 'GET', `/admin/api/users/${ann.user.id}`, cookie)).body.user as { unionid: string }
    ).unionid
    const byUnionid = await call(
      ctx,
      'GET',
      `/admin/api/users?q=${encodeURIComponent(annUnionid.slice(0, 10))}`,
      cookie,
    )
    expect((byUnionid.body.users as { id: number }[]).map((user) => user.id)).toEqual([ann.user.id])
    const byId = await call(ctx, 'GET', `/admin/api/users?q=${boss.user.id}`, cookie)
    expect((byId.body.users as { id: number }[]).map((user) => user.id)).toContain(boss.user.id)
    expect((await call(ctx, 'GET', '/admin/api/users?limit=101', cookie)).status).toBe(400)
  })

  test('one user with their live sessions and kinds; revoke one; revoke all: their skey answers 401 at once', async () => {
    const ctx = await consoleApp()
    const first = await login(ctx, 'ann')
    const second = await login(ctx, 'ann')
    const web = await webCookie(ctx, second.skey)
    await login(ctx, 'boss')
    const cookie = await adminCookie(ctx)
    const shown = await call(ctx, 'GET', `/admin/api/users/${first.user.id}`, cookie)
    expect(shown.status).toBe(200)
    const sessions = shown.body.sessions as { id: string; kind: string; createdAt: string; expiresAt: string }[]
    expect(sessions.map((session) => session.kind).sort()).toEqual(['miniprogram', 'miniprogram', 'web'])
    expect(JSON.stringify(shown.body)).not.toContain(first.skey)
    const webSession = sessions.find((session) => session.kind === 'web')
    expect(
      (await call(ctx, 'DELETE', `/admin/api/users/${first.user.id}/sessions/${webSession?.id}`, cookie)).status,
    ).toBe(204)
    expect((await ctx.app.handle(request('GET', '/auth/me', { cookie: web }))).status).toBe(401)
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: first.skey }))).status).toBe(200)
    const missing = await call(ctx, 'DELETE', `/admin/api/users/${first.user.id}/sessions/${webSession?.id}`, cookie)
    expect(missing.status).toBe(404)
    expect(missing.body.code).toBe('SESSION_NOT_FOUND')
    const all = await call(ctx, 'DELETE', `/admin/api/users/${first.user.id}/sessions`, cookie)
    expect(all.body).toEqual({ revoked: 2 })
    for (const skey of [first.skey, second.skey]) {
      expect((await ctx.app.handle(request('GET', '/auth/me', { skey }))).status).toBe(401)
    }
    expect((await call(ctx, 'GET', '/admin/api/users/999999', cookie)).body.code).toBe('USER_NOT_FOUND')
  })

  test("another user's session id cannot be revoked through this user (404), and stays", async () => {
    const ctx = await consoleApp()
    const ann = await login(ctx, 'ann')
    const bob = await login(ctx, 'bob')
    await login(ctx, 'boss')
    const cookie = await adminCookie(ctx)
    const bobs = (await call(ctx, 'GET', `/admin/api/users/${bob.user.id}`, cookie)).body.sessions as { id: string }[]
    const crossed = await call(ctx, 'DELETE', `/admin/api/users/${ann.user.id}/sessions/${bobs[0]?.id}`, cookie)
    expect(crossed.status).toBe(404)
    expect((await ctx.app.handle(request('GET', '/auth/me', { skey: bob.skey }))).status).toBe(200)
  })
})

describe('login events retention', () => {
  test('events older than LOGIN_EVENTS_DAYS are deleted by the sweep; newer ones stay', async () => {
    const ctx = await consoleApp({ loginEventsDays: 7 })
    await login(ctx, 'old')
    await ctx.app.loginEvents.flush()
    ctx.clock.advance(6 * 24 * 3600_000)
    await login(ctx, 'boss')
    await ctx.app.loginEvents.flush()
    ctx.clock.advance(2 * 24 * 3600_000)
    expect(await ctx.app.loginEvents.sweep()).toBe(1)
    const cookie = await adminCookie(ctx)
    const { body } = await call(ctx, 'GET', '/admin/api/logins', cookie)
    expect((body.events as { outcome: string }[]).map((event) => event.outcome)).toEqual(['OK'])
  })
})

describe('secrets stay out of the log', () => {
  test("an admin link's secret and the session it makes are in no log line; the path is the link's id only", async () => {
    const { served, stores, clock, simulator, lines } = observedApp({ webLogin: WEB_LOGIN, adminOpenids: [BOSS] })
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', ...served })
    try {
      const base = `http://127.0.0.1:${server.port}`
      await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: simulator.issueCode('boss') }),
      })
      const { path: link } = await createAdminLink(stores, BOSS, { adminOpenids: [BOSS], nowMs: clock() })
      const [path = '', secret = ''] = link.split('#')
      // What a browser sends for the link: the path (the fragment stays in the browser), then the POST.
      expect((await fetch(base + link)).status).toBe(200)
      const used = await fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: base },
        body: JSON.stringify({ secret }),
      })
      expect(used.status).toBe(204)
      const cookie = used.headers.getSetCookie()[0]?.split(';')[0]?.split('=')[1] ?? ''
      const logged = lines.filter((line) => String(line.path).startsWith('/admin/link/'))
      expect(logged.map((line) => line.path)).toEqual([path, path])
      expect(JSON.stringify(lines)).not.toContain(secret)
      expect(JSON.stringify(lines)).not.toContain(cookie)
    } finally {
      server.stop(true)
    }
  })
})
