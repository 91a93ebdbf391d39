/**
 * The mini program client (client/dist/wxauth.js, the shipped build) against a real wxauth server
 * on 127.0.0.1, with a fake `wx` whose request is fetch and whose login asks the simulator.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createWxAuth, WxAuthError, type WxLike, type WxRequestOptions } from '../../client/dist/wxauth.js'
import { mapStorage, requestFailure, requestOverFetch } from '../../client/fetch-wx'
import { createApp, openDatabase } from '../../src/server'
import { manualClock, simulatedWechat } from '../helpers'

const TTL_SECONDS = 60
const clock = manualClock()
const { simulator, wechat } = simulatedWechat()
const app = createApp({
  db: openDatabase(':memory:'),
  wechat,
  clock,
  config: { sessionTtlSeconds: TTL_SECONDS, loginRateLimit: 0 },
})
let baseUrl = ''

beforeAll(() => {
  app.listen({ port: 0, hostname: '127.0.0.1' })
  baseUrl = `http://127.0.0.1:${app.server?.port}`
})
afterAll(() => app.stop(true))

interface FakeWxOptions {
  user?: string
  /** The code wx.login hands out; by default a fresh simulator code for `user`. */
  code?: () => string
  loginFails?: boolean
  /** Lets a test answer some requests itself. */
  intercept?: (options: WxRequestOptions) => { statusCode: number; data: unknown } | null
  /** ms to hold the answer to the n-th request (0-based) before handing it over. */
  answerDelay?: (n: number) => number
}

/** A `wx` for tests: storage in a Map, requests over fetch (JSON parsed, as wx.request does), counters. */
function fakeWx({ user = 'mia', code, loginFails = false, intercept, answerDelay = () => 0 }: FakeWxOptions = {}) {
  const storage = new Map<string, unknown>()
  const counts = { wxLogin: 0, loginPosts: 0, requests: 0 }
  const sent: WxRequestOptions[] = []
  const wx: WxLike = {
    login({ success, fail }) {
      counts.wxLogin++
      setTimeout(
        () =>
          loginFails ? fail({ errMsg: 'login:fail' }) : success({ code: code ? code() : simulator.issueCode(user) }),
        1,
      )
    },
    request(options) {
      const delay = answerDelay(counts.requests)
      counts.requests++
      sent.push(options)
      if (options.url.endsWith('/auth/login')) counts.loginPosts++
      const intercepted = intercept?.(options)
      if (intercepted) {
        setTimeout(() => options.success({ ...intercepted, header: {} }), 1)
        return
      }
      requestOverFetch(options).then(
        async (answer) => {
          await Bun.sleep(delay)
          options.success(answer)
        },
        (error: unknown) => options.fail(requestFailure(error)),
      )
    },
    ...mapStorage(storage),
  }
  return { wx, storage, counts, sent }
}

describe('wxauth client', () => {
  test('the first request logs in, stores the skey and sends it', async () => {
    const fake = fakeWx()
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    expect(auth.skey()).toBeNull()
    const response = await auth.request<{ user: { openid: string } }>({ url: '/auth/me' })
    expect(response.statusCode).toBe(200)
    expect(response.data.user.openid).toBe(simulator.openidFor('mia'))
    expect(auth.skey()).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(fake.storage.get('wxauth:skey')).toBe(auth.skey())
    expect(fake.sent.at(-1)?.header?.skey).toBe(auth.skey() as string)
    expect(fake.counts).toEqual({ wxLogin: 1, loginPosts: 1, requests: 2 })
  })

  test('ten concurrent first requests share one login', async () => {
    const fake = fakeWx({ user: 'nia' })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    const responses = await Promise.all(Array.from({ length: 10 }, () => auth.request({ url: '/notes' })))
    expect(responses.map((response) => response.statusCode)).toEqual(Array(10).fill(200))
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([1, 1])
  })

  test('ten requests on an expired session cause exactly one wx.login and one POST /auth/login, then all succeed', async () => {
    // Answers arrive spread over 200 ms, so some 401s land while the re-login runs and some after it.
    const fake = fakeWx({ user: 'ola', answerDelay: (n) => (n >= 1 && n <= 10 ? (n - 1) * 20 : 0) })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await auth.login()
    const expired = auth.skey()
    clock.advance(TTL_SECONDS * 1000 + 1)
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => auth.request({ url: '/notes', method: 'POST', data: { text: `n${i}` } })),
    )
    expect(responses.map((response) => response.statusCode)).toEqual(Array(10).fill(201))
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([2, 2])
    expect(auth.skey()).not.toBe(expired)
    const listed = await auth.request<{ text: string }[]>({ url: '/notes' })
    expect(listed.data.map((note) => note.text).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`).sort())
  })

  test('a server that keeps answering 401 gets one re-login and one retry, not a loop', async () => {
    const fake = fakeWx({
      user: 'pia',
      intercept: (options) =>
        options.url.endsWith('/notes') ? { statusCode: 401, data: { code: 'SKEY_INVALID', msg: 'no' } } : null,
    })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await auth.login()
    const response = await auth.request({ url: '/notes' })
    expect(response).toMatchObject({ statusCode: 401, data: { code: 'SKEY_INVALID' } })
    expect(fake.sent.filter((options) => options.url.endsWith('/notes'))).toHaveLength(2)
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([2, 2])
  })

  test('non-auth errors pass through unchanged, without a login', async () => {
    const fake = fakeWx({ user: 'quinn' })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await auth.login()
    const missing = await auth.request({ url: '/notes/999999', method: 'DELETE' })
    expect(missing).toMatchObject({ statusCode: 404, data: { code: 'NOT_FOUND' } })
    const invalid = await auth.request({ url: '/notes', method: 'POST', data: { text: '' } })
    expect(invalid).toMatchObject({ statusCode: 400, data: { code: 'VALIDATION' } })
    const notAuth401 = fakeWx({
      user: 'quinn',
      intercept: () => ({ statusCode: 401, data: { code: 'WECHAT_CODE_INVALID', msg: 'x' } }),
    })
    notAuth401.storage.set('wxauth:skey', auth.skey())
    const other = createWxAuth({ baseUrl, wx: notAuth401.wx })
    expect((await other.request({ url: '/auth/me' })).statusCode).toBe(401)
    expect(notAuth401.counts.wxLogin).toBe(0)
    expect(fake.counts.wxLogin).toBe(1)
  })

  test('a failed login rejects every waiter with the server’s { code, msg } and calls the hook once', async () => {
    const failures: string[] = []
    const fake = fakeWx({ code: () => 'errcode:40226' })
    const auth = createWxAuth({ baseUrl, wx: fake.wx, onLoginFailed: (error) => failures.push(error.code) })
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => auth.request({ url: '/notes' })))
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toMatchObject({
        code: 'WECHAT_USER_BLOCKED',
        msg: 'WeChat has blocked this user from logging in',
        statusCode: 403,
        errcode: 40226,
      })
    }
    expect(failures).toEqual(['WECHAT_USER_BLOCKED'])
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([1, 1])
    expect(auth.skey()).toBeNull()
  })

  test('wx.login failing → WX_LOGIN_FAILED; server unreachable → NETWORK', async () => {
    const noLogin = createWxAuth({ baseUrl, wx: fakeWx({ loginFails: true }).wx })
    await expect(noLogin.login()).rejects.toMatchObject({ code: 'WX_LOGIN_FAILED', msg: 'login:fail' })
    const closed = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') })
    const deadUrl = `http://127.0.0.1:${closed.port}`
    closed.stop(true)
    const offline = createWxAuth({ baseUrl: deadUrl, wx: fakeWx().wx })
    await expect(offline.request({ url: '/notes' })).rejects.toMatchObject({ code: 'NETWORK' })
  })

  test('logout ends the session on the server and forgets the skey', async () => {
    const fake = fakeWx({ user: 'rita' })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    const { skey } = await auth.login()
    await auth.logout()
    expect(auth.skey()).toBeNull()
    expect(fake.storage.has('wxauth:skey')).toBe(false)
    const me = await fetch(`${baseUrl}/auth/me`, { headers: { skey } })
    expect(me.status).toBe(401)
    await auth.logout() // nothing stored: nothing to do
    expect(fake.sent.filter((options) => options.url.endsWith('/auth/logout'))).toHaveLength(1)
  })

  test('the skey survives in storage: a new client instance uses it without logging in', async () => {
    const fake = fakeWx({ user: 'sam' })
    await createWxAuth({ baseUrl, wx: fake.wx }).login()
    const restarted = createWxAuth({ baseUrl, wx: fake.wx })
    expect((await restarted.request({ url: '/auth/me' })).statusCode).toBe(200)
    expect(fake.counts.wxLogin).toBe(1)
  })

  test('options: storage key, Authorization header, timeout', async () => {
    const fake = fakeWx({ user: 'tom' })
    const auth = createWxAuth({
      baseUrl: `${baseUrl}/`,
      wx: fake.wx,
      storageKey: 'my:skey',
      headerName: 'Authorization',
      timeout: 1234,
    })
    expect((await auth.request({ url: 'auth/me' })).statusCode).toBe(200)
    expect(fake.storage.get('my:skey')).toBe(auth.skey())
    const last = fake.sent.at(-1)
    expect(last?.url).toBe(`${baseUrl}/auth/me`)
    expect(last?.header?.Authorization).toBe(`Bearer ${auth.skey()}`)
    expect(last?.timeout).toBe(1234)
  })

  test('without a global wx and no wx option, createWxAuth says so', () => {
    expect(() => createWxAuth({ baseUrl })).toThrow('no global wx')
  })
})

describe('wxauth client: webLogin', () => {
  const SCENE = 'Ab3_-xYz0123456789abcd'
  const SCAN = {
    browser: { ip: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)', createdAt: '2026-01-01T00:00:00.000Z' },
    expiresAt: '2026-01-01T00:02:00.000Z',
  }

  /** Answers the web-login routes itself (the rest goes to the real server); `answer` picks each reply. */
  function webLoginWx(
    answer: (action: string, options: WxRequestOptions) => { statusCode: number; data: unknown },
    user = 'wendy',
  ) {
    return fakeWx({
      user,
      intercept: (options) => {
        const match = /\/web\/login\/[^/]*\/(scan|confirm|deny)$/.exec(options.url)
        return match ? answer(match[1] as string, options) : null
      },
    })
  }
  const webLoginCalls = (fake: ReturnType<typeof fakeWx>) =>
    fake.sent.filter((options) => options.url.includes('/web/login/'))

  test('scan, confirm and deny POST to /web/login/<scene>/<action> with the skey and resolve with the answer', async () => {
    const fake = webLoginWx((action) =>
      action === 'scan' ? { statusCode: 200, data: SCAN } : { statusCode: 204, data: '' },
    )
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    expect(await auth.webLogin.scan(SCENE)).toEqual(SCAN)
    expect(await auth.webLogin.confirm(SCENE)).toBeUndefined()
    expect(await auth.webLogin.deny(SCENE)).toBeUndefined()
    const calls = webLoginCalls(fake)
    expect(calls.map((options) => [options.method, options.url])).toEqual([
      ['POST', `${baseUrl}/web/login/${SCENE}/scan`],
      ['POST', `${baseUrl}/web/login/${SCENE}/confirm`],
      ['POST', `${baseUrl}/web/login/${SCENE}/deny`],
    ])
    for (const options of calls) expect(options.header?.skey).toBe(auth.skey() as string)
    expect(fake.counts.wxLogin).toBe(1) // logged in once, first
  })

  test('the scene is URI-encoded into the path', async () => {
    const fake = webLoginWx(() => ({ statusCode: 204, data: '' }))
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await auth.webLogin.confirm('a/b?c=d#e f%')
    expect(webLoginCalls(fake).at(-1)?.url).toBe(`${baseUrl}/web/login/a%2Fb%3Fc%3Dd%23e%20f%25/confirm`)
  })

  test('an empty scene rejects with TICKET_INVALID without a request', async () => {
    const fake = webLoginWx(() => ({ statusCode: 204, data: '' }))
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await expect(auth.webLogin.scan('')).rejects.toMatchObject({ name: 'WxAuthError', code: 'TICKET_INVALID' })
    expect(fake.counts.requests).toBe(0)
  })

  test('the server’s ticket errors reject with a WxAuthError carrying code, msg and status', async () => {
    const errors: Record<string, { statusCode: number; data: unknown }> = {
      scan: { statusCode: 404, data: { code: 'TICKET_INVALID', msg: 'no such ticket' } },
      confirm: { statusCode: 410, data: { code: 'TICKET_EXPIRED', msg: 'the code expired' } },
      deny: { statusCode: 409, data: { code: 'TICKET_CLAIMED', msg: 'someone else scanned it' } },
    }
    const fake = webLoginWx((action) => errors[action] as { statusCode: number; data: unknown })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    const scan = auth.webLogin.scan(SCENE)
    await expect(scan).rejects.toBeInstanceOf(WxAuthError)
    await expect(scan).rejects.toMatchObject({ code: 'TICKET_INVALID', msg: 'no such ticket', statusCode: 404 })
    await expect(auth.webLogin.confirm(SCENE)).rejects.toMatchObject({ code: 'TICKET_EXPIRED', statusCode: 410 })
    await expect(auth.webLogin.deny(SCENE)).rejects.toMatchObject({ code: 'TICKET_CLAIMED', statusCode: 409 })
  })

  test('an answer that is not wxauth’s rejects with BAD_RESPONSE', async () => {
    const fake = webLoginWx((action) =>
      action === 'scan' ? { statusCode: 200, data: { browser: 'x' } } : { statusCode: 502, data: '<html>' },
    )
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await expect(auth.webLogin.scan(SCENE)).rejects.toMatchObject({ code: 'BAD_RESPONSE', statusCode: 200 })
    await expect(auth.webLogin.confirm(SCENE)).rejects.toMatchObject({ code: 'BAD_RESPONSE', statusCode: 502 })
  })

  test('a rejected skey logs in again once and retries; a second 401 rejects with it', async () => {
    let scans = 0
    const fake = webLoginWx((action) => {
      if (action === 'scan' && ++scans === 1) return { statusCode: 401, data: { code: 'SKEY_INVALID', msg: 'expired' } }
      if (action === 'scan') return { statusCode: 200, data: SCAN }
      return { statusCode: 401, data: { code: 'SKEY_INVALID', msg: 'expired' } }
    })
    const auth = createWxAuth({ baseUrl, wx: fake.wx })
    await auth.login()
    const first = auth.skey()
    expect(await auth.webLogin.scan(SCENE)).toEqual(SCAN)
    expect(auth.skey()).not.toBe(first)
    const scanCalls = webLoginCalls(fake)
    expect(scanCalls.map((options) => options.header?.skey)).toEqual([first as string, auth.skey() as string])
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([2, 2])
    await expect(auth.webLogin.confirm(SCENE)).rejects.toMatchObject({ code: 'SKEY_INVALID', statusCode: 401 })
    expect(webLoginCalls(fake).filter((options) => options.url.endsWith('/confirm'))).toHaveLength(2)
    expect([fake.counts.wxLogin, fake.counts.loginPosts]).toEqual([3, 3])
  })
})
