import { afterAll, beforeAll, expect } from 'bun:test'
import { createLogger, setLogger } from '../src/libs/log'
import {
  createApp,
  createMetrics,
  createWechatClient,
  createWechatSimulator,
  openDatabase,
  servedWithTelemetry,
  sqliteStores,
} from '../src/server'
import { freshStores } from './backends'

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

/** A WeChat client talking to the in-process simulator; records the path of every upstream call. */
export function simulatedWechat() {
  const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
  const paths: string[] = []
  const wechat = createWechatClient({
    appid: APPID,
    secret: SECRET,
    apiBase: 'http://wechat.invalid',
    timeoutMs: 1000,
    fetch: (request) => {
      paths.push(new URL(request.url).pathname)
      return simulator.fetch(request)
    },
  })
  return {
    simulator,
    wechat,
    upstreamCalls: () => paths.length,
    /** How many upstream calls went to `path`. */
    callsTo: (path: string) => paths.filter((called) => called === path).length,
  }
}

/**
 * A full app on empty stores (SQLite :memory:, or the WXAUTH_TEST_BACKEND one) wired to the simulator;
 * counts upstream calls. No rate limit or logs unless asked.
 */
export async function testApp({
  metrics: withMetrics = false,
  ...config
}: NonNullable<Parameters<typeof createApp>[0]['config']> & { metrics?: boolean } = {}) {
  const stores = await freshStores()
  const clock = manualClock()
  const { simulator, wechat, upstreamCalls, callsTo } = simulatedWechat()
  const metrics = withMetrics ? createMetrics({ countLive: stores.sessions.countLive, clock }) : undefined
  const app = createApp({ stores, wechat, clock, metrics, config: { loginRateLimit: 0, ...config } })
  return { app, stores, db: stores.db, clock, simulator, upstreamCalls, callsTo }
}

/** jscode2session errcodes and what wxauth answers: [errcode, HTTP status, code]. */
export const ERRCODE_CASES = [
  [40029, 401, 'WECHAT_CODE_INVALID'],
  [40163, 401, 'WECHAT_CODE_INVALID'],
  [40226, 403, 'WECHAT_USER_BLOCKED'],
  [45011, 429, 'WECHAT_RATE_LIMITED'],
  [-1, 502, 'WECHAT_UNAVAILABLE'],
  [40013, 502, 'WECHAT_UNAVAILABLE'],
  [99999, 502, 'WECHAT_UNAVAILABLE'],
] as const

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

/**
 * For a test file that provokes warnings on purpose: the process logger's warn and error lines go
 * to `lines` instead of stdout (CI output stays quiet), and each must carry one of `expected` as its
 * msg. Restores a stdout logger after the file.
 */
export function captureWarnings(expected: readonly string[]): {
  lines: { msg: string; reason?: string; error?: string }[]
} {
  const captured = { lines: [] as { msg: string; reason?: string; error?: string }[] }
  beforeAll(() => setLogger(createLogger('warn', (line) => captured.lines.push(JSON.parse(line)))))
  afterAll(() => {
    for (const line of captured.lines) expect(expected, JSON.stringify(line)).toContain(line.msg)
    setLogger(createLogger())
  })
  return captured
}

/**
 * The app on SQLite with metrics on, and the Bun.serve options the entry point would serve it with
 * (servedWithTelemetry); its log lines (info and up) are kept in `lines`.
 */
export function observedApp(config: NonNullable<Parameters<typeof createApp>[0]['config']> = {}) {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger('info', (line) => lines.push(JSON.parse(line)))
  const stores = sqliteStores(openDatabase(':memory:'))
  const clock = manualClock()
  const { simulator, wechat } = simulatedWechat()
  const metrics = createMetrics({ countLive: stores.sessions.countLive, clock })
  const app = createApp({ stores, wechat, clock, metrics, config: { loginRateLimit: 0, ...config } })
  return { app, stores, clock, served: servedWithTelemetry(app, { logger, metrics }), metrics, simulator, lines }
}
