/**
 * Several wxauth processes on one PostgreSQL (+ Redis), as behind a load balancer, and stores that
 * go away under a running server. Needs TEST_DATABASE_URL and TEST_REDIS_URL (see test/backends.ts);
 * each outage test runs its own Redis, or a TCP relay in front of PostgreSQL that it can cut.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SQL } from 'bun'
import { createWechatSimulator } from '../src/server'
import { freshStores, reachableBackends } from './backends'
import { APPID, SECRET } from './helpers'

const ROOT = join(import.meta.dir, '..')
const TEST_TIMEOUT_MS = 90_000
const ready = reachableBackends().includes('postgres+redis')
const databaseUrl = process.env.TEST_DATABASE_URL ?? ''
const redisUrl = process.env.TEST_REDIS_URL ?? ''

const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
let wechat: ReturnType<typeof Bun.serve> | null = null
const running = new Set<Instance>()

interface Instance {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  url: string
  output(): string
  stop(): Promise<number>
}

function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = ''
  void (async () => {
    for await (const chunk of stream) text += Buffer.from(chunk).toString()
  })()
  return () => text
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const proc = Bun.spawn(['bun', 'src/index.ts', 'start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      WECHAT_APPID: APPID,
      WECHAT_SECRET: SECRET,
      WECHAT_API_BASE: `http://127.0.0.1:${wechat?.port}`,
      HOST: '127.0.0.1',
      PORT: '0',
      LOGIN_RATE_LIMIT: '0',
      ...env,
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const stdout = collect(proc.stdout)
  const stderr = collect(proc.stderr)
  const output = () => stdout() + stderr()
  const deadline = Date.now() + 20_000
  for (;;) {
    const url = /wxauth listening on (http:\/\/[^\s"]+)/.exec(stdout())?.[1]
    if (url) {
      const instance = {
        proc,
        url,
        output,
        async stop() {
          proc.kill('SIGTERM')
          running.delete(instance)
          return proc.exited
        },
      }
      running.add(instance)
      return instance
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`wxauth did not start (exit ${proc.exitCode}):\n${output()}`)
    }
    await Bun.sleep(20)
  }
}

async function call(instance: Instance, method: string, path: string, skey?: string, body?: unknown) {
  const response = await fetch(instance.url + path, {
    method,
    headers: { ...(skey ? { skey } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await response.text()
  return { status: response.status, body: (text ? JSON.parse(text) : null) as unknown }
}

async function login(instance: Instance, who: string) {
  const { status, body } = await call(instance, 'POST', '/auth/login', undefined, { code: simulator.issueCode(who) })
  expect(status).toBe(200)
  return body as { skey: string; user: { id: number } }
}

/** Cleared tables and Redis; returns the PostgreSQL connection the test may read through. */
async function emptyStores(): Promise<SQL> {
  const stores = await freshStores('postgres+redis')
  return stores.sql as SQL
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

beforeAll(() => {
  if (!ready) return
  wechat = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => simulator.fetch(request) })
})

afterEach(async () => {
  await Promise.all([...running].map((instance) => instance.stop()))
})

afterAll(async () => {
  await wechat?.stop(true)
})

describe.if(ready)('two instances on one PostgreSQL + Redis', () => {
  test(
    'an skey from A works on B; a logout on B holds on A',
    async () => {
      await emptyStores()
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }
      const [a, b] = await Promise.all([startInstance(env), startInstance(env)])
      expect(a.output()).toContain('"sessions":"redis"')
      const { skey } = await login(a, 'roamer')
      expect((await call(b, 'GET', '/auth/me', skey)).status).toBe(200)
      expect((await call(b, 'POST', '/notes', skey, { text: 'written on B' })).status).toBe(201)
      expect((await call(a, 'GET', '/notes', skey)).body).toEqual([
        { id: 1, text: 'written on B', createdAt: expect.any(String) },
      ])
      expect((await call(b, 'POST', '/auth/logout', skey)).status).toBe(204)
      const onA = await call(a, 'GET', '/auth/me', skey)
      expect(onA.status).toBe(401)
      expect(onA.body).toEqual({ code: 'SKEY_INVALID', msg: expect.any(String) })
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'the admin CLI beside them: sessions revoke on PostgreSQL + Redis holds on both instances at once',
    async () => {
      await emptyStores()
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }
      const [a, b] = await Promise.all([startInstance(env), startInstance(env)])
      const onA = await login(a, 'revoked')
      const onB = await login(b, 'revoked')
      const openid = simulator.openidFor('revoked')
      const admin = (...args: string[]) =>
        Bun.spawnSync(['bun', 'src/index.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } })
      const shown = admin('users', 'show', openid, '--json')
      expect(shown.exitCode).toBe(0)
      expect(JSON.parse(shown.stdout.toString()).user).toMatchObject({ openid, liveSessions: 2 })
      const revoked = admin('sessions', 'revoke', '--user', openid, '--json')
      expect(revoked.exitCode).toBe(0)
      expect(JSON.parse(revoked.stdout.toString())).toEqual({ revoked: 2 })
      for (const instance of [a, b]) {
        for (const { skey } of [onA, onB]) expect((await call(instance, 'GET', '/auth/me', skey)).status).toBe(401)
      }
      const stats = admin('stats', '--json')
      expect(JSON.parse(stats.stdout.toString())).toMatchObject({ users: 1, liveSessions: 0 })
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'web login across instances: a confirm on B wakes a browser waiting on A within a second; its cookie works on B',
    async () => {
      await emptyStores()
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, WEB_LOGIN: 'true' }
      const [a, b] = await Promise.all([startInstance(env), startInstance(env)])
      const { skey } = await login(b, 'phone')
      const started = await fetch(`${a.url}/web/login`, { method: 'POST' })
      expect(started.status).toBe(201)
      const { ticket } = (await started.json()) as { ticket: string }
      const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      const began = performance.now()
      const waiting = fetch(`${a.url}/web/login/${ticket}?wait=20`, { headers: { cookie: binding } })
      await Bun.sleep(500)
      expect((await call(b, 'POST', `/web/login/${ticket}/scan`, skey)).status).toBe(200)
      const scanned = await waiting
      expect(((await scanned.json()) as { status: string }).status).toBe('scanned')
      const confirmedAt = performance.now()
      const collecting = fetch(`${a.url}/web/login/${ticket}?wait=20`, { headers: { cookie: binding } })
      await Bun.sleep(300)
      expect((await call(b, 'POST', `/web/login/${ticket}/confirm`, skey)).status).toBe(204)
      const answer = await collecting
      expect(performance.now() - confirmedAt - 300).toBeLessThan(1000)
      expect(performance.now() - began).toBeLessThan(5000)
      expect(((await answer.json()) as { status: string }).status).toBe('confirmed')
      const session = answer.headers.getSetCookie().find((cookie) => cookie.startsWith('wxauth_session='))
      const me = await fetch(`${b.url}/auth/me`, { headers: { cookie: session?.split(';')[0] ?? '' } })
      expect(me.status).toBe(200)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    '200 parallel logins of one openid spread over both make one user row',
    async () => {
      const sql = await emptyStores()
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, MAX_SESSIONS_PER_USER: '1000' }
      const instances = await Promise.all([startInstance(env), startInstance(env)])
      const bodies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => login(instances[i % 2] as Instance, 'crowd')),
      )
      expect(new Set(bodies.map((body) => body.user.id)).size).toBe(1)
      expect(new Set(bodies.map((body) => body.skey)).size).toBe(200)
      const [users] = await sql`SELECT count(*) AS n FROM users`
      expect(Number(users?.n)).toBe(1)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'two instances sweeping one PostgreSQL delete every expired session once, without errors',
    async () => {
      const sql = await emptyStores()
      const [user] =
        await sql`INSERT INTO users (openid, created_at, last_login_at) VALUES ('o-swept', 0, 0) RETURNING id`
      const expired = 20_000
      await sql`INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at)
                SELECT sha256(i::text::bytea), ${user?.id}, 'k', 0, 1 FROM generate_series(1, ${expired}) AS i`
      const env = { DATABASE_URL: databaseUrl, SWEEP_INTERVAL: '1' }
      const instances = await Promise.all([startInstance(env), startInstance(env)])
      const deadline = Date.now() + 30_000
      for (;;) {
        const [left] = await sql`SELECT count(*) AS n FROM sessions`
        if (Number(left?.n) === 0) break
        if (Date.now() > deadline) throw new Error(`${left?.n} expired sessions left after 30 s`)
        await Bun.sleep(100)
      }
      await Bun.sleep(300) // let the last "swept" lines reach stdout
      const logs = instances.map((instance) => instance.output())
      const swept = logs
        .flatMap((log) => [...log.matchAll(/"deleted":(\d+)/g)])
        .reduce((sum, match) => sum + Number(match[1]), 0)
      expect(swept).toBe(expired)
      for (const log of logs) expect(log).not.toContain('sweep failed')
    },
    TEST_TIMEOUT_MS,
  )
})

describe.if(ready)('REDIS_URL without DATABASE_URL', () => {
  test(
    'users in SQLite, sessions in Redis: logins work and logout holds; the admin commands refuse, naming DATABASE_URL',
    async () => {
      await emptyStores()
      const databasePath = join(mkdtempSync(join(tmpdir(), 'wxauth-sqlite-redis-')), 'wxauth.db')
      const env = { DATABASE_PATH: databasePath, REDIS_URL: redisUrl }
      const server = await startInstance(env)
      expect(server.output()).toContain('"records":"sqlite","sessions":"redis"')
      const { skey } = await login(server, 'mixed')
      expect((await call(server, 'GET', '/auth/me', skey)).status).toBe(200)
      expect((await call(server, 'POST', '/auth/logout', skey)).status).toBe(204)
      expect((await call(server, 'GET', '/auth/me', skey)).status).toBe(401)
      const stats = Bun.spawnSync(['bun', 'src/index.ts', 'stats'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
      })
      expect(stats.exitCode).toBe(1)
      expect(stats.stderr.toString()).toContain('need DATABASE_URL')
    },
    TEST_TIMEOUT_MS,
  )
})

describe.if(ready)('a store lost under a running server', () => {
  test(
    'Redis stops → 503 STORE_UNAVAILABLE, no crash; Redis starts again → requests succeed, no restart',
    async () => {
      await emptyStores()
      const port = await freePort()
      const startRedis = () =>
        Bun.spawn(['redis-server', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
          stdout: 'ignore',
        })
      let redis = startRedis()
      try {
        await waitFor(() => fetchable(`redis://127.0.0.1:${port}`))
        const server = await startInstance({ DATABASE_URL: databaseUrl, REDIS_URL: `redis://127.0.0.1:${port}` })
        const { skey } = await login(server, 'outage')
        expect((await call(server, 'GET', '/auth/me', skey)).status).toBe(200)

        redis.kill('SIGKILL')
        await redis.exited
        for (const [method, path] of [
          ['GET', '/auth/me'],
          ['POST', '/auth/logout'],
        ] as const) {
          const { status, body } = await call(server, method, path, skey)
          expect(status).toBe(503)
          expect(body).toEqual({ code: 'STORE_UNAVAILABLE', msg: expect.any(String) })
        }
        expect((await call(server, 'GET', '/healthz')).status).toBe(503)
        expect(server.proc.exitCode).toBeNull()

        redis = startRedis()
        // Redis kept nothing on disk: the old skey is gone, a new login works on the same process.
        await waitFor(async () => (await call(server, 'GET', '/healthz')).status === 200)
        expect((await call(server, 'GET', '/auth/me', skey)).status).toBe(401)
        const again = await login(server, 'outage')
        expect((await call(server, 'GET', '/auth/me', again.skey)).status).toBe(200)
        expect(server.proc.exitCode).toBeNull()
      } finally {
        redis.kill('SIGKILL')
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'PostgreSQL cut off → 503 STORE_UNAVAILABLE, no crash; reachable again → requests succeed, no restart',
    async () => {
      await emptyStores()
      const target = new URL(databaseUrl)
      const relay = await startRelay(Number(target.port), target.hostname)
      try {
        const viaRelay = new URL(databaseUrl)
        viaRelay.port = String(relay.port)
        const server = await startInstance({ DATABASE_URL: viaRelay.href })
        const { skey } = await login(server, 'pg-outage')
        expect((await call(server, 'GET', '/notes', skey)).status).toBe(200)

        relay.cut()
        for (const path of ['/auth/me', '/notes']) {
          const { status, body } = await call(server, 'GET', path, skey)
          expect(status).toBe(503)
          expect(body).toEqual({ code: 'STORE_UNAVAILABLE', msg: expect.any(String) })
        }
        expect(server.proc.exitCode).toBeNull()

        relay.restore()
        await waitFor(async () => (await call(server, 'GET', '/auth/me', skey)).status === 200)
        expect((await call(server, 'POST', '/notes', skey, { text: 'after the outage' })).status).toBe(201)
      } finally {
        relay.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )
})

async function waitFor(check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  const passes = async () => {
    try {
      return await check()
    } catch {
      return false
    }
  }
  while (!(await passes())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await Bun.sleep(50)
  }
}

async function fetchable(url: string): Promise<boolean> {
  const client = new Bun.RedisClient(url, { maxRetries: 0, connectionTimeout: 200 })
  try {
    return (await client.ping()) === 'PONG'
  } finally {
    client.close()
  }
}

/**
 * A TCP relay to PostgreSQL on a fixed port: cut() drops every connection and closes the port (new
 * connections are refused, as when the server is down) until restore() listens again.
 */
async function startRelay(targetPort: number, targetHost: string) {
  type Pair = { upstream?: Bun.Socket<undefined>; pending: Uint8Array[] }
  const clients = new Set<Bun.Socket<Pair>>()
  const listen = (port: number) =>
    Bun.listen<Pair>({
      hostname: '127.0.0.1',
      port,
      socket: {
        async open(client) {
          client.data = { pending: [] }
          clients.add(client)
          const upstream = await Bun.connect({
            hostname: targetHost,
            port: targetPort,
            socket: {
              data: (_socket, chunk) => void client.write(chunk),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          })
          client.data.upstream = upstream
          for (const chunk of client.data.pending) upstream.write(chunk)
          client.data.pending = []
        },
        data(client, chunk) {
          if (client.data.upstream) client.data.upstream.write(chunk)
          else client.data.pending.push(new Uint8Array(chunk))
        },
        close(client) {
          client.data.upstream?.end()
          clients.delete(client)
        },
      },
    })
  let listener: ReturnType<typeof listen> | null = listen(0)
  const port = listener.port
  function cut() {
    listener?.stop(true)
    listener = null
    for (const client of clients) {
      client.data.upstream?.terminate()
      client.terminate()
    }
    clients.clear()
  }
  return {
    port,
    cut,
    restore() {
      listener ??= listen(port)
    },
    stop: cut,
  }
}
