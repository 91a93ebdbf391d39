import { createApp, createWechatClient, createWechatSimulator, openDatabase } from '../src/server'

export const APPID = 'wxtest'
export const SECRET = 'test-secret'

/** A clock tests can move by hand. */
export function manualClock(startMs = Date.UTC(2026, 0, 1)) {
  let now = startMs
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  return clock
}

/** A full app on :memory: wired to the simulator; counts upstream calls. */
export function testApp(options: { sessionTtlSeconds?: number } = {}) {
  const db = openDatabase(':memory:')
  const clock = manualClock()
  const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
  let upstreamCalls = 0
  const wechat = createWechatClient({
    appid: APPID,
    secret: SECRET,
    apiBase: 'http://wechat.invalid',
    timeoutMs: 1000,
    fetch: (request) => {
      upstreamCalls++
      return simulator.fetch(request)
    },
  })
  const app = createApp({ db, wechat, clock, config: { sessionTtlSeconds: options.sessionTtlSeconds } })
  return { app, db, clock, simulator, upstreamCalls: () => upstreamCalls }
}

export function jsonRequest(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Request {
  return new Request(`http://localhost${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}
