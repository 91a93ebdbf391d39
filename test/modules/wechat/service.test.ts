import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
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
  })

  test('unreachable host → 502', async () => {
    const closed = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') })
    const port = closed.port
    closed.stop(true)
    const wechat = createWechatClient({ appid: 'a', secret: 's', apiBase: `http://127.0.0.1:${port}`, timeoutMs: 1000 })
    const error = await wechat.code2Session('x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('WECHAT_UNAVAILABLE')
  })

  test('refuses to be built without credentials', () => {
    expect(() => createWechatClient({ appid: '', secret: 's', apiBase: 'http://x', timeoutMs: 1 })).toThrow()
  })
})
