/**
 * STORE_TIMEOUT_MS against a frozen store: PostgreSQL or Redis paused with SIGSTOP (what a partition that
 * drops packets looks like) must answer 503 within the bound, and the next requests after SIGCONT succeed.
 * Pauses the throwaway servers of .ci/services.sh (WXAUTH_SERVICES_DIR) for under 2 s at a time.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'bun'
import { connectRedis, connectRemoteStores, createApp, type Stores } from '../src/server'
import { reachableBackends } from './backends'
import { captureWarnings, jsonRequest, simulatedWechat } from './helpers'

const STORE_TIMEOUT_MS = 300
/** Time on top of the bound for the request itself on a busy CI machine. */
const SLACK_MS = 1200
/** However the test ends, the store runs again after this long (other test files share it). */
const LONGEST_PAUSE_MS = 1800

const servicesDir = process.env.WXAUTH_SERVICES_DIR
const ready = reachableBackends().includes('postgres+redis') && servicesDir !== undefined

const logged = captureWarnings(['store unavailable', 'health check failed'])

/** The pids of a store: Redis's one process, or the postmaster and every process it started. */
function storePids(store: 'postgres' | 'redis'): number[] {
  const dir = servicesDir ?? ''
  if (store === 'redis') return [Number(readFileSync(join(dir, 'redis.pid'), 'utf8').trim())]
  const postmaster = Number(readFileSync(join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0])
  const children = Bun.spawnSync(['pgrep', '-P', String(postmaster)])
    .stdout.toString()
    .trim()
    .split(/\s+/)
  return [postmaster, ...children.filter(Boolean).map(Number)]
}

/** Runs `during` with the store frozen; it thaws after `during` or LONGEST_PAUSE_MS, whichever comes first. */
async function whilePaused(store: 'postgres' | 'redis', during: () => Promise<void>): Promise<void> {
  const pids = storePids(store)
  const signal = (name: 'SIGSTOP' | 'SIGCONT') => {
    for (const pid of pids) process.kill(pid, name)
  }
  signal('SIGSTOP')
  const thaw = setTimeout(() => signal('SIGCONT'), LONGEST_PAUSE_MS)
  try {
    await during()
  } finally {
    clearTimeout(thaw)
    signal('SIGCONT')
  }
}

async function timed(app: ReturnType<typeof createApp>, path: string, skey: string) {
  const started = performance.now()
  const response = await app.handle(jsonRequest('GET', path, undefined, { skey }))
  const body = (await response.json()) as { code?: string }
  return { status: response.status, code: body.code, ms: performance.now() - started }
}

/** The store answers again: SIGCONT needs no restart (Redis may wait out its reconnect spacing first). */
async function answersAgain(app: ReturnType<typeof createApp>, skey: string): Promise<void> {
  const deadline = performance.now() + 5000
  let last = { me: 0, health: 0 }
  while (performance.now() < deadline) {
    last = { me: (await timed(app, '/auth/me', skey)).status, health: (await timed(app, '/healthz', skey)).status }
    if (last.me === 200 && last.health === 200) return
    await Bun.sleep(50)
  }
  expect(last).toEqual({ me: 200, health: 200 })
}

describe.skipIf(!ready)('STORE_TIMEOUT_MS with a frozen store', () => {
  const { simulator, wechat } = simulatedWechat()
  const opened: Stores[] = []
  const apps: ReturnType<typeof createApp>[] = []
  // Each app's login events are written before its stores close (as the server does at shutdown).
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.loginEvents.stop()))
    await Promise.all(opened.map((stores) => stores.close()))
  })

  /** Sessions in the paused store: PostgreSQL alone, or Redis beside PostgreSQL. */
  async function appWithSessionsIn(store: 'postgres' | 'redis') {
    const stores = await connectRemoteStores(
      {
        databaseUrl: process.env.TEST_DATABASE_URL,
        redisUrl: store === 'redis' ? process.env.TEST_REDIS_URL : undefined,
        storeTimeoutMs: STORE_TIMEOUT_MS,
      },
      () => {
        throw new Error('records are in PostgreSQL')
      },
    )
    opened.push(stores)
    const app = createApp({ stores, wechat, config: { loginRateLimit: 0 } })
    apps.push(app)
    return app
  }

  async function login(app: ReturnType<typeof createApp>, who: string): Promise<string> {
    const response = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode(who) }))
    expect(response.status).toBe(200)
    return ((await response.json()) as { skey: string }).skey
  }

  test.each(['postgres', 'redis'] as const)(
    'sessions in %s, paused: /auth/me and /healthz answer 503 within the bound, and 200 after SIGCONT',
    async (store) => {
      const app = await appWithSessionsIn(store)
      const skey = await login(app, `frozen-${store}`)
      expect((await timed(app, '/auth/me', skey)).status).toBe(200)
      await whilePaused(store, async () => {
        const [me, health] = await Promise.all([timed(app, '/auth/me', skey), timed(app, '/healthz', skey)])
        expect(me).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' })
        expect(health).toMatchObject({ status: 503, code: 'UNHEALTHY' })
        expect(me.ms).toBeLessThan(STORE_TIMEOUT_MS + SLACK_MS)
        expect(health.ms).toBeLessThan(STORE_TIMEOUT_MS + SLACK_MS)
      })
      await answersAgain(app, skey)
      expect(logged.lines.map(({ msg }) => msg)).toContain('health check failed')
    },
    10_000,
  )
})

/**
 * A TCP proxy to Redis whose `blackhole()` silently drops everything on the connections open so far, as a
 * partition does; connections opened afterwards pass.
 */
function partitionableProxy(target: URL) {
  interface Link {
    upstream: Promise<Socket<undefined>>
    dropped: boolean
  }
  const links = new Set<Link>()
  const server = Bun.listen<Link>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        const state = { dropped: false }
        const upstream = Bun.connect({
          hostname: target.hostname,
          port: Number(target.port),
          socket: {
            data: (_, chunk) => {
              if (!state.dropped) client.write(chunk)
            },
            close: () => {
              client.end()
            },
          },
        })
        client.data = Object.assign(state, { upstream })
        links.add(client.data)
      },
      async data(client, chunk) {
        const link = client.data
        const upstream = await link.upstream
        if (!link.dropped) upstream.write(chunk)
      },
      async close(client) {
        links.delete(client.data)
        ;(await client.data.upstream).end()
      },
    },
  })
  return {
    url: `redis://127.0.0.1:${server.port}`,
    blackhole: () => {
      for (const link of links) link.dropped = true
    },
    stop: () => server.stop(true),
  }
}

describe.skipIf(!ready)('STORE_TIMEOUT_MS with Redis behind a partition', () => {
  test('a command past the bound answers 503 and drops its connection: the next request opens a fresh one', async () => {
    const proxy = partitionableProxy(new URL(process.env.TEST_REDIS_URL ?? ''))
    const redis = await connectRedis(proxy.url, { timeoutMs: STORE_TIMEOUT_MS })
    try {
      expect(await redis.run((client) => client.ping())).toBe('PONG')
      proxy.blackhole()
      const started = performance.now()
      await expect(redis.run((client) => client.ping())).rejects.toMatchObject({
        status: 503,
        code: 'STORE_UNAVAILABLE',
      })
      expect(performance.now() - started).toBeLessThan(STORE_TIMEOUT_MS + SLACK_MS)
      await Bun.sleep(300) // RECONNECT_EVERY_MS
      expect(await redis.run((client) => client.ping())).toBe('PONG')
    } finally {
      redis.close()
      proxy.stop()
    }
  })
})
