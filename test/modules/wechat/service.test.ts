import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { createLogger, setLogger } from '../../../src/libs/log'
import { AppError, createWechatClient } from '../../../src/server'
import { ERRCODE_CASES } from '../../helpers'

type Answer = (url: URL) => Response | Promise<Response>

/** A mock WeChat; each test queues the answer for its js_code. */
const answers = new Map<string, Answer>()
const seen: URL[] = []
let server: ReturnType<typeof Bun.serve>

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(request) {
      const url = new URL(request.url)
      seen.push(url)
      const answer = answers.get(url.searchParams.get('js_code') ?? '')
      return answer ? answer(url) : new Response('no answer queued', { status: 500 })
    },
  })
})
afterAll(() => server.stop(true))

/** The warn lines WECHAT_UNAVAILABLE writes, captured (CI output stays quiet) and checked for secrets. */
let logLines: string[] = []
const allLogLines: string[] = []
beforeEach(() => {
  logLines = []
  setLogger(
    createLogger('warn', (line) => {
      logLines.push(line)
      allLogLines.push(line)
    }),
  )
})
afterAll(() => {
  expect(allLogLines.length).toBeGreaterThan(10)
  for (const line of allLogLines) expect(line).not.toMatch(/cret|js_code|access_token=|127\.0\.0\.1|\.invalid/)
  setLogger(createLogger())
})
const loggedReasons = () =>
  logLines.map((line) => JSON.parse(line) as { msg: string; reason: string; errcode?: number })

function client(timeoutMs = 1000) {
  return createWechatClient({
    appid: 'wx app',
    secret: 's&cret',
    apiBase: `http://127.0.0.1:${server.port}/`,
    timeoutMs,
  })
}

async function failure(code: string, answer: Answer, timeoutMs?: number): Promise<AppError> {
  answers.set(code, answer)
  try {
    await client(timeoutMs).code2Session(code)
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected code2Session to fail')
}

const text =
  (body: string, status = 200) =>
  () =>
    new Response(body, { status, headers: { 'content-type': 'text/plain' } })

describe('WeChat client: jscode2session', () => {
  test('sends the documented, URL-encoded parameters', async () => {
    answers.set('c/1+?', text(JSON.stringify({ openid: 'o1', session_key: 'k1' })))
    await client().code2Session('c/1+?')
    const url = seen.at(-1) as URL
    expect(url.pathname).toBe('/sns/jscode2session')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      appid: 'wx app',
      secret: 's&cret',
      js_code: 'c/1+?',
      grant_type: 'authorization_code',
    })
  })

  test('parses JSON sent as text/plain, with and without unionid', async () => {
    answers.set('plain', text(JSON.stringify({ openid: 'o1', session_key: 'k1' })))
    expect(await client().code2Session('plain')).toEqual({ openid: 'o1', sessionKey: 'k1', unionid: null })
    answers.set('union', () => Response.json({ openid: 'o2', session_key: 'k2', unionid: 'u2', errcode: 0 }))
    expect(await client().code2Session('union')).toEqual({ openid: 'o2', sessionKey: 'k2', unionid: 'u2' })
  })

  test.each(ERRCODE_CASES)('errcode %p → %p %s, whatever errmsg says', async (errcode, status, code) => {
    const error = await failure(`e${errcode}`, text(JSON.stringify({ errcode, errmsg: 'code been used, rid: 6a1b' })))
    expect(error.status).toBe(status)
    expect(error.code).toBe(code)
    expect(error.errcode).toBe(errcode)
  })

  test.each([
    ['HTTP 500', text('{"openid":"o","session_key":"k"}', 500)],
    ['garbage', text('<html>gateway</html>')],
    ['an empty body', text('')],
    ['a JSON array', text('[1]')],
    ['no openid', text('{"session_key":"k"}')],
    ['no session_key', text('{"openid":"o"}')],
    ['an empty openid', text('{"openid":"","session_key":"k"}')],
  ])('%s → 502 WECHAT_UNAVAILABLE without errcode', async (name, answer) => {
    const error = await failure(`bad-${name}`, answer)
    expect(error.status).toBe(502)
    expect(error.code).toBe('WECHAT_UNAVAILABLE')
    expect(error.errcode).toBeUndefined()
    expect(loggedReasons()).toEqual([expect.objectContaining({ msg: 'WeChat unavailable', reason: error.message })])
  })

  test('no answer within the timeout → 502', async () => {
    const started = performance.now()
    const error = await failure(
      'slow',
      async () => {
        await Bun.sleep(2000)
        return text('{}')()
      },
      100,
    )
    expect(performance.now() - started).toBeLessThan(1500)
    expect(error.code).toBe('WECHAT_UNAVAILABLE')
    expect(error.message).toContain('100 ms')
    expect(loggedReasons()[0]?.reason).toBe('WeChat did not answer within 100 ms')
  })

  test('unreachable host → 502', async () => {
    const closed = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') })
    const port = closed.port
    closed.stop(true)
    const wechat = createWechatClient({ appid: 'a', secret: 's', apiBase: `http://127.0.0.1:${port}`, timeoutMs: 1000 })
    const error = await wechat.code2Session('x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('WECHAT_UNAVAILABLE')
    expect((error as AppError).message).toBe('could not reach WeChat')
    expect(loggedReasons()[0]?.reason).toBe('could not reach WeChat: connection refused (ECONNREFUSED)')
  })

  test('a DNS failure is logged as one, without the URL', async () => {
    const wechat = createWechatClient({
      appid: 'a',
      secret: 's&cret',
      apiBase: 'http://wxauth-test.invalid',
      timeoutMs: 3000,
    })
    const error = await wechat.code2Session('x').catch((e: unknown) => e)
    expect((error as AppError).code).toBe('WECHAT_UNAVAILABLE')
    expect(loggedReasons()[0]?.reason).toStartWith('could not reach WeChat: DNS lookup failed')
  })

  test('refuses to be built without credentials', () => {
    expect(() => createWechatClient({ appid: '', secret: 's', apiBase: 'http://x', timeoutMs: 1 })).toThrow()
  })
})

describe('WeChat client: access_token, phone number and session_key check', () => {
  const TOKEN = 'ACCESS-TOKEN-never-in-a-message'
  let handle: (request: Request, url: URL) => Response | Promise<Response> = () => new Response('', { status: 500 })
  const received: { method: string; url: URL; body: string }[] = []
  let api: ReturnType<typeof Bun.serve>

  beforeAll(() => {
    api = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(request) {
        const url = new URL(request.url)
        received.push({ method: request.method, url, body: await request.clone().text() })
        return handle(request, url)
      },
    })
  })
  afterAll(() => api.stop(true))

  function openClient(tokenApi?: 'stable' | 'classic') {
    return createWechatClient({
      appid: 'wxapp',
      secret: 'sec',
      apiBase: `http://127.0.0.1:${api.port}`,
      timeoutMs: 1000,
      tokenApi,
    })
  }
  const answer = (body: unknown) => {
    handle = () => text(JSON.stringify(body))()
  }
  async function errorOf(promise: Promise<unknown>): Promise<AppError> {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    )
    if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`)
    expect(error.message).not.toContain(TOKEN)
    return error
  }

  test('stable_token by default: POST JSON, force_refresh false', async () => {
    answer({ access_token: 'T1', expires_in: 7200 })
    expect(await openClient().fetchAccessToken()).toEqual({ accessToken: 'T1', expiresInSeconds: 7200 })
    const sent = received.at(-1)
    expect(sent?.method).toBe('POST')
    expect(sent?.url.pathname).toBe('/cgi-bin/stable_token')
    expect(JSON.parse(sent?.body ?? '')).toEqual({
      grant_type: 'client_credential',
      appid: 'wxapp',
      secret: 'sec',
      force_refresh: false,
    })
  })

  test('WECHAT_TOKEN_API=classic: GET /cgi-bin/token', async () => {
    answer({ access_token: 'T2', expires_in: 7200 })
    expect((await openClient('classic').fetchAccessToken()).accessToken).toBe('T2')
    const sent = received.at(-1)
    expect(sent?.method).toBe('GET')
    expect(sent?.url.pathname).toBe('/cgi-bin/token')
    expect(Object.fromEntries(sent?.url.searchParams ?? [])).toEqual({
      grant_type: 'client_credential',
      appid: 'wxapp',
      secret: 'sec',
    })
  })

  test.each([
    [{ errcode: 40125, errmsg: 'invalid appsecret' }, 502, 40125],
    [{ errcode: 45011, errmsg: 'api minute-quota reach limit' }, 429, 45011],
    [{ expires_in: 7200 }, 502, undefined],
    [{ access_token: 'T', expires_in: 0 }, 502, undefined],
  ])('access_token answer %j → %p', async (body, status, errcode) => {
    answer(body)
    const error = await errorOf(openClient().fetchAccessToken())
    expect(error.status).toBe(status)
    expect(error.errcode).toBe(errcode)
  })

  test('getPhoneNumber posts { code, openid } with the token in the query', async () => {
    const phoneInfo = { phoneNumber: '+1 2025550123', purePhoneNumber: '2025550123', countryCode: 1 }
    answer({ errcode: 0, errmsg: 'ok', phone_info: { ...phoneInfo, watermark: { appid: 'wxapp', timestamp: 1 } } })
    expect(await openClient().getPhoneNumber(TOKEN, 'pc1', 'o1')).toEqual(phoneInfo)
    const sent = received.at(-1)
    expect(sent?.method).toBe('POST')
    expect(sent?.url.pathname).toBe('/wxa/business/getuserphonenumber')
    expect(sent?.url.searchParams.get('access_token')).toBe(TOKEN)
    expect(JSON.parse(sent?.body ?? '')).toEqual({ code: 'pc1', openid: 'o1' })
  })

  test.each([
    [{ errcode: 40029, errmsg: 'invalid code' }, 400, 'PHONE_CODE_INVALID'],
    [{ errcode: 45011, errmsg: 'api minute-quota reach limit' }, 429, 'WECHAT_RATE_LIMITED'],
    [{ errcode: -1, errmsg: 'system error' }, 502, 'WECHAT_UNAVAILABLE'],
    [{ errcode: 40001, errmsg: 'invalid credential' }, 502, 'WECHAT_UNAVAILABLE'],
    [{ errcode: 0, errmsg: 'ok' }, 502, 'WECHAT_UNAVAILABLE'],
    [{ errcode: 0, phone_info: { phoneNumber: '1', purePhoneNumber: '1' } }, 502, 'WECHAT_UNAVAILABLE'],
    [
      {
        errcode: 0,
        phone_info: { phoneNumber: '1', purePhoneNumber: '1', countryCode: '86', watermark: { appid: 'wxother' } },
      },
      502,
      'WECHAT_UNAVAILABLE',
    ],
  ])('phone answer %j → %p %s', async (body, status, code) => {
    answer(body)
    const error = await errorOf(openClient().getPhoneNumber(TOKEN, 'pc', 'o1'))
    expect([error.status, error.code]).toEqual([status, code])
  })

  test('checkSessionKey signs with HMAC-SHA256 of "" keyed by the base64 string', async () => {
    answer({ errcode: 0, errmsg: 'ok' })
    const sessionKey = 'tiihtNczf5v6AKRyjwEUhQ=='
    expect(await openClient().checkSessionKey(TOKEN, 'o1', sessionKey)).toBe(true)
    const query = Object.fromEntries(received.at(-1)?.url.searchParams ?? [])
    expect(query).toEqual({
      access_token: TOKEN,
      openid: 'o1',
      signature: createHmac('sha256', Buffer.from(sessionKey, 'utf8')).update('').digest('hex'),
      sig_method: 'hmac_sha256',
    })
    expect(received.at(-1)?.url.pathname).toBe('/wxa/checksession')
  })

  test('checkSessionKey: 87009 → false; other errcodes and junk → errors', async () => {
    answer({ errcode: 87009, errmsg: 'invalid signature' })
    expect(await openClient().checkSessionKey(TOKEN, 'o1', 'k')).toBe(false)
    answer({ errcode: 42001, errmsg: 'access_token expired' })
    expect((await errorOf(openClient().checkSessionKey(TOKEN, 'o1', 'k'))).errcode).toBe(42001)
    answer({ errmsg: 'ok' })
    expect((await errorOf(openClient().checkSessionKey(TOKEN, 'o1', 'k'))).status).toBe(502)
    handle = () => new Response('bad gateway', { status: 502 })
    expect((await errorOf(openClient().checkSessionKey(TOKEN, 'o1', 'k'))).status).toBe(502)
  })
})

describe('WeChat client: getwxacodeunlimit', () => {
  const TOKEN = 'ACCESS-TOKEN-never-in-a-message'
  const IMAGE = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9])
  const sent: Request[] = []

  /** A client whose WeChat answers every request with `answer`. */
  function clientAnswering(answer: () => Response) {
    return createWechatClient({
      appid: 'wxapp',
      secret: 'sec',
      apiBase: 'https://api.weixin.invalid',
      timeoutMs: 1000,
      fetch: async (request) => {
        sent.push(request)
        return answer()
      },
    })
  }
  const request = { scene: 'id=1', page: 'pages/index/index', checkPath: false, envVersion: 'trial' } as const
  async function errorOf(answer: () => Response): Promise<AppError> {
    const error = await clientAnswering(answer)
      .getUnlimitedWxaCode(TOKEN, request)
      .then(
        () => null,
        (e: unknown) => e,
      )
    if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`)
    expect(error.message).not.toContain(TOKEN)
    return error
  }

  test('posts { scene, page, check_path, env_version } with the token in the query; passes the image through', async () => {
    const image = await clientAnswering(
      () => new Response(IMAGE, { headers: { 'content-type': 'image/jpeg' } }),
    ).getUnlimitedWxaCode(TOKEN, request)
    expect(image).toEqual({ contentType: 'image/jpeg', bytes: IMAGE })
    const last = sent.at(-1) as Request
    const url = new URL(last.url)
    expect([last.method, url.pathname]).toEqual(['POST', '/wxa/getwxacodeunlimit'])
    expect(Object.fromEntries(url.searchParams)).toEqual({ access_token: TOKEN })
    expect(await last.json()).toEqual({
      scene: 'id=1',
      page: 'pages/index/index',
      check_path: false,
      env_version: 'trial',
    })
  })

  test.each(['text/plain', 'application/json; charset=utf-8'])(
    'an errcode answer labelled %s → 502 carrying the errcode, logged',
    async (contentType) => {
      const body = JSON.stringify({ errcode: 40001, errmsg: 'invalid credential, rid: 1' })
      const error = await errorOf(() => new Response(body, { headers: { 'content-type': contentType } }))
      expect([error.status, error.code, error.errcode]).toEqual([502, 'WECHAT_UNAVAILABLE', 40001])
      expect(error.message).toContain('40001')
      expect(loggedReasons()).toEqual([expect.objectContaining({ reason: error.message, errcode: 40001 })])
    },
  )

  test.each([
    ['an HTML page', () => new Response('<html>gateway</html>', { headers: { 'content-type': 'text/html' } })],
    ['JSON without errcode', () => new Response('{"errmsg":"ok"}', { headers: { 'content-type': 'text/plain' } })],
    ['an empty image', () => new Response(new Uint8Array(0), { headers: { 'content-type': 'image/png' } })],
    ['an image with HTTP 500', () => new Response(IMAGE, { status: 500, headers: { 'content-type': 'image/jpeg' } })],
  ])('%s → 502 without errcode', async (_name, answer) => {
    const error = await errorOf(answer)
    expect([error.status, error.code, error.errcode]).toEqual([502, 'WECHAT_UNAVAILABLE', undefined])
    expect(loggedReasons()).toEqual([expect.objectContaining({ msg: 'WeChat unavailable', reason: error.message })])
  })
})
