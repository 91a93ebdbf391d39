/**
 * Process tests for src/index.ts: the real server runs as a child (`bun run start` / `bun run dev`)
 * and is driven over HTTP, with a mock WeChat (the simulator behind Bun.serve) on 127.0.0.1.
 *
 * Children are spawned `detached` (their own process group) and signalled through `-pid` where the
 * whole group must go: `bun run` cannot forward SIGKILL, so killing only its pid would orphan the server.
 */
import { Database } from 'bun:sqlite'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createWechatSimulator, hashSessionToken } from '../src/server'

const ROOT = resolve(import.meta.dir, '..')
const APPID = 'wxtest'
const SECRET = 'shh'
const STARTUP_TIMEOUT_MS = 10_000
const EXIT_TIMEOUT_MS = 10_000
const TEST_TIMEOUT_MS = 30_000
/** Every variable readConfig looks at: never inherited from the shell running the tests. */
const CONFIG_VARS = [
  'PORT',
  'HOST',
  'DATABASE_PATH',
  'DATABASE_URL',
  'REDIS_URL',
  'WECHAT_APPID',
  'WECHAT_SECRET',
  'WECHAT_API_BASE',
  'WECHAT_TIMEOUT_MS',
  'WECHAT_TOKEN_API',
  'SESSION_TTL',
  'SWEEP_INTERVAL',
]
const LISTENING = /wxauth listening on (http:\/\/[^\s"]+)/

const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
let wechat: ReturnType<typeof Bun.serve>
/** Paths the mock WeChat was asked for, in order. */
const wechatCalls: string[] = []
let tempDir = ''
let dbPath = ''

// ---------------------------------------------------------------- child processes

type Proc = Bun.Subprocess<'ignore', 'pipe', 'pipe'>

interface Captured {
  text(): string
  /** Resolves once every writer has closed the pipe (the server included, not only `bun run`). */
  closed: Promise<void>
}

interface Child {
  proc: Proc
  stdout: Captured
  stderr: Captured
}

const children = new Set<Child>()

function capture(stream: ReadableStream<Uint8Array>): Captured {
  let text = ''
  const decoder = new TextDecoder()
  const reader = stream.getReader()
  const closed = (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    text += decoder.decode()
  })()
  return { text: () => text, closed }
}

/** The test's env without any wxauth variable, then the defaults for a working start, then `overrides` (undefined deletes). */
function serverEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env }
  for (const name of CONFIG_VARS) delete env[name]
  Object.assign(
    env,
    {
      WECHAT_APPID: APPID,
      WECHAT_SECRET: SECRET,
      WECHAT_API_BASE: `http://127.0.0.1:${wechat.port}`,
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_PATH: dbPath,
    },
    overrides,
  )
  const clean: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined) clean[name] = value
  return clean
}

/** `--silent` keeps `bun run`'s own "$ bun src/index.ts" / "error: script … exited" lines out of stderr. */
function spawnScript(script: string, env: Record<string, string>, args: string[] = []): Child {
  const proc = Bun.spawn(['bun', 'run', '--silent', script, ...args], {
    cwd: ROOT,
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    detached: true,
  })
  const child = { proc, stdout: capture(proc.stdout), stderr: capture(proc.stderr) }
  children.add(child)
  return child
}

function signalGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.proc.pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: Timer | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Exit code of the child once it and everything writing to its pipes are gone. */
async function exitOf(child: Child): Promise<number> {
  const code = await within(EXIT_TIMEOUT_MS, 'the process to exit', child.proc.exited)
  await within(EXIT_TIMEOUT_MS, 'the output pipes to close', Promise.all([child.stdout.closed, child.stderr.closed]))
  return code
}

interface Server {
  child: Child
  proc: Proc
  baseUrl: string
  /** Sends `signal` to `bun run` (which forwards it) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>
}

async function startServer(env: Record<string, string>, script = 'start'): Promise<Server> {
  const child = spawnScript(script, env)
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  for (;;) {
    const url = LISTENING.exec(child.stdout.text())?.[1]
    if (url) {
      return {
        child,
        proc: child.proc,
        baseUrl: url,
        stop: async (signal = 'SIGTERM') => {
          child.proc.kill(signal)
          return exitOf(child)
        },
      }
    }
    if (child.proc.exitCode !== null || Date.now() > deadline) {
      signalGroup(child, 'SIGKILL')
      throw new Error(`server did not start (exit ${child.proc.exitCode}); stderr:\n${child.stderr.text()}`)
    }
    await Bun.sleep(20)
  }
}

async function waitForText(captured: Captured, needle: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  while (!captured.text().includes(needle)) {
    if (Date.now() > deadline) throw new Error(`"${needle}" never appeared in:\n${captured.text()}`)
    await Bun.sleep(20)
  }
}

// ---------------------------------------------------------------- HTTP

interface PublicUser {
  id: number
  openid: string
}
interface LoginBody {
  skey: string
  expiresAt: string
  user: PublicUser
}
interface MeBody {
  user: PublicUser
  expiresAt: string
}
interface NoteBody {
  id: number
  text: string
  createdAt: string
}

async function call(
  baseUrl: string,
  method: string,
  path: string,
  { skey, body }: { skey?: string; body?: unknown } = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {}
  if (skey !== undefined) headers.skey = skey
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) }
}

async function login(baseUrl: string, code: string): Promise<LoginBody> {
  const { status, body } = await call(baseUrl, 'POST', '/auth/login', { body: { code } })
  // No expect.any() inside toMatchObject: bun:test overwrites matched fields with the matcher (oven-sh/bun#3521).
  expect(status).toBe(200)
  expect(typeof (body as LoginBody).skey).toBe('string')
  return body as LoginBody
}

function fileBytes(path: string): Buffer {
  return existsSync(path) ? readFileSync(path) : Buffer.alloc(0)
}

function openDb(path: string): Database {
  return new Database(path, { strict: true })
}

// ---------------------------------------------------------------- lifecycle

beforeAll(() => {
  wechat = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(request) {
      wechatCalls.push(new URL(request.url).pathname)
      return simulator.fetch(request)
    },
  })
})

afterAll(async () => {
  await wechat.stop(true)
})

beforeEach(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'wxauth-process-'))
  dbPath = join(tempDir, 'sub', 'dir', 'wxauth.db')
})

afterEach(async () => {
  for (const child of children) {
    signalGroup(child, 'SIGKILL')
    await within(EXIT_TIMEOUT_MS, 'a leftover child to die', child.proc.exited).catch(() => undefined)
  }
  children.clear()
  rmSync(tempDir, { recursive: true, force: true })
})

// ---------------------------------------------------------------- tests

describe('bun run start', () => {
  test(
    'limits logins per client address: the server hands its socket address to the rate limiter',
    async () => {
      const server = await startServer(serverEnv({ LOGIN_RATE_LIMIT: '2' }))
      try {
        await login(server.baseUrl, simulator.issueCode('rate-1'))
        await login(server.baseUrl, simulator.issueCode('rate-2'))
        const third = await call(server.baseUrl, 'POST', '/auth/login', {
          body: { code: simulator.issueCode('rate-3') },
        })
        expect(third).toMatchObject({ status: 429, body: { code: 'RATE_LIMITED' } })
        expect(server.child.stdout.text()).not.toContain('login rate limit off')
      } finally {
        await server.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'serves login, /auth/me, notes and /healthz, creating the database folder',
    async () => {
      expect(existsSync(dirname(dbPath))).toBe(false)
      const server = await startServer(serverEnv())
      expect(existsSync(dbPath)).toBe(true)
      expect(server.child.stderr.text()).not.toContain('NOT FOR PRODUCTION')

      const { skey, user } = await login(server.baseUrl, simulator.issueCode('alice'))
      expect(skey).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(user.openid).toBe(simulator.openidFor('alice'))

      const me = await call(server.baseUrl, 'GET', '/auth/me', { skey })
      expect(me.status).toBe(200)
      expect((me.body as MeBody).user).toMatchObject({ id: user.id, openid: user.openid })
      expect((await call(server.baseUrl, 'GET', '/auth/me')).status).toBe(401)

      const created = await call(server.baseUrl, 'POST', '/notes', { skey, body: { text: 'buy milk' } })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({ text: 'buy milk' })
      expect(Number.isInteger((created.body as NoteBody).id)).toBe(true)
      const listed = await call(server.baseUrl, 'GET', '/notes', { skey })
      expect(listed.status).toBe(200)
      expect((listed.body as NoteBody[]).map((note) => note.text)).toEqual(['buy milk'])

      expect(await call(server.baseUrl, 'GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } })
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'after kill -9, a restart on the same database keeps sessions and notes',
    async () => {
      const first = await startServer(serverEnv())
      const { skey, user } = await login(first.baseUrl, simulator.issueCode('alice'))
      expect((await call(first.baseUrl, 'POST', '/notes', { skey, body: { text: 'survives a crash' } })).status).toBe(
        201,
      )

      signalGroup(first.child, 'SIGKILL')
      expect(await exitOf(first.child)).not.toBe(0)
      expect(first.child.stdout.text()).not.toContain('received')
      await expect(fetch(`${first.baseUrl}/healthz`)).rejects.toThrow()

      const second = await startServer(serverEnv())
      const me = await call(second.baseUrl, 'GET', '/auth/me', { skey })
      expect(me.status).toBe(200)
      expect((me.body as MeBody).user.id).toBe(user.id)
      const notes = await call(second.baseUrl, 'GET', '/notes', { skey })
      expect((notes.body as NoteBody[]).map((note) => note.text)).toEqual(['survives a crash'])

      expect(await second.stop('SIGTERM')).toBe(0)
      const db = openDb(dbPath)
      try {
        expect(db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all()).toEqual([
          { integrity_check: 'ok' },
        ])
      } finally {
        db.close()
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'open data: the access_token is stored in the database, so a restart fetches none (classic token API)',
    async () => {
      const env = serverEnv({ WECHAT_TOKEN_API: 'classic' })
      const before = wechatCalls.length
      const first = await startServer(env)
      const { skey, user } = await login(first.baseUrl, simulator.issueCode('pat'))
      const code = simulator.issuePhoneCode(user.openid, '13500000000')
      const phone = await call(first.baseUrl, 'POST', '/wechat/phone', { skey, body: { code } })
      expect(phone).toEqual({
        status: 200,
        body: { phoneNumber: '13500000000', purePhoneNumber: '13500000000', countryCode: '86' },
      })
      expect(await first.stop()).toBe(0)

      const second = await startServer(env)
      expect(await call(second.baseUrl, 'GET', '/wechat/session-key', { skey })).toEqual({
        status: 200,
        body: { valid: true },
      })
      const called = wechatCalls.slice(before)
      expect(called.filter((path) => path.startsWith('/cgi-bin/'))).toEqual(['/cgi-bin/token'])
      const output = first.child.stdout.text() + first.child.stderr.text() + second.child.stdout.text()
      expect(output).not.toContain('sim-token')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a full scripted run at LOG_LEVEL=debug logs every request and no skey, session_key, secret, code or access_token',
    async () => {
      const server = await startServer(serverEnv({ LOG_LEVEL: 'debug', METRICS: 'true', SESSION_SLIDING: 'true' }))
      const secrets: string[] = [SECRET]
      const base = server.baseUrl
      const codes = [simulator.issueCode('quiet'), simulator.issueCode('quiet')]
      secrets.push(...codes)
      const first = await login(base, codes[0] as string)
      const second = await login(base, codes[1] as string)
      const { skey } = second
      secrets.push(first.skey, skey)
      const sessionKey = simulator.sessionKeyFor(second.user.openid) as string
      secrets.push(sessionKey)
      expect((await call(base, 'GET', '/auth/me', { skey })).status).toBe(200)
      expect(
        (await fetch(`${base}/auth/me?access_token=${skey}`, { headers: { authorization: `Bearer ${skey}` } })).status,
      ).toBe(200)
      expect((await call(base, 'POST', '/notes', { skey, body: { text: 'private note' } })).status).toBe(201)
      const phoneCode = simulator.issuePhoneCode(second.user.openid, '13700001111')
      secrets.push(phoneCode)
      expect((await call(base, 'POST', '/wechat/phone', { skey, body: { code: phoneCode } })).status).toBe(200)
      expect((await call(base, 'GET', '/wechat/session-key', { skey })).status).toBe(200)
      const encrypted = simulator.encryptFor(second.user.openid, { secretField: 'x' })
      expect((await call(base, 'POST', '/wechat/decrypt', { skey, body: encrypted })).status).toBe(200)
      const rawData = '{"nickName":"q"}'
      const signature = new Bun.CryptoHasher('sha1').update(rawData + sessionKey).digest('hex')
      expect((await call(base, 'POST', '/wechat/verify', { skey, body: { rawData, signature } })).status).toBe(200)
      expect((await call(base, 'POST', '/auth/login', { body: { code: 'errcode:40029' } })).status).toBe(401)
      expect((await call(base, 'GET', '/notes', { skey: 'A'.repeat(43) })).status).toBe(401)
      expect((await fetch(`${base}/metrics`)).status).toBe(200)
      expect((await call(base, 'POST', '/auth/logout', { skey: first.skey })).status).toBe(204)
      expect((await call(base, 'POST', '/auth/logout-all', { skey })).status).toBe(204)
      expect(await server.stop()).toBe(0)

      const db = openDb(dbPath)
      try {
        const token = db.query<{ t: string }, []>('SELECT access_token AS t FROM wechat_access_tokens').get()?.t
        expect(token).toBeString()
        secrets.push(token as string)
      } finally {
        db.close()
      }
      const output = server.child.stdout.text() + server.child.stderr.text()
      const requestLines = output.split('\n').filter((line) => line.includes('"msg":"request"'))
      expect(requestLines).toHaveLength(14) // every request above, each exactly once
      for (const secret of secrets)
        expect(output.includes(secret), `a secret appears in the logs: ${secret.slice(0, 4)}…`).toBe(false)
    },
    TEST_TIMEOUT_MS,
  )

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(
      `${signal} exits 0 and leaves a closed, intact database`,
      async () => {
        const server = await startServer(serverEnv())
        const { skey } = await login(server.baseUrl, simulator.issueCode('alice'))
        expect((await call(server.baseUrl, 'POST', '/notes', { skey, body: { text: 'kept' } })).status).toBe(201)
        expect(existsSync(`${dbPath}-wal`)).toBe(true)

        expect(await server.stop(signal)).toBe(0)
        expect(server.child.stdout.text()).toContain(`"${signal} received, finishing in-flight requests"`)
        expect(server.child.stderr.text()).toBe('')
        await expect(fetch(`${server.baseUrl}/healthz`)).rejects.toThrow()
        // A clean exit closes the last connection, which checkpoints the WAL into the main file and removes it.
        expect(existsSync(`${dbPath}-wal`)).toBe(false)

        const db = openDb(dbPath)
        try {
          expect(db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all()).toEqual([
            { integrity_check: 'ok' },
          ])
          expect(db.query<{ text: string }, []>('SELECT text FROM notes').all()).toEqual([{ text: 'kept' }])
        } finally {
          db.close()
        }
      },
      TEST_TIMEOUT_MS,
    )
  }

  test(
    'SIGTERM lets an in-flight login finish before exiting',
    async () => {
      let arrived: () => void = () => undefined
      const loginReachedWechat = new Promise<void>((resolve) => {
        arrived = resolve
      })
      const slowWechat = Bun.serve({
        port: 0,
        hostname: '127.0.0.1',
        async fetch(request) {
          arrived()
          await Bun.sleep(700)
          return simulator.fetch(request)
        },
      })
      try {
        const server = await startServer(serverEnv({ WECHAT_API_BASE: `http://127.0.0.1:${slowWechat.port}` }))
        const pending = call(server.baseUrl, 'POST', '/auth/login', { body: { code: simulator.issueCode('alice') } })
        await within(5_000, 'the login to reach WeChat', loginReachedWechat)

        expect(await server.stop('SIGTERM')).toBe(0)
        const answered = await pending
        expect(answered.status).toBe(200)
        const db = openDb(dbPath)
        try {
          expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 1 })
        } finally {
          db.close()
        }
      } finally {
        await slowWechat.stop(true)
      }
    },
    TEST_TIMEOUT_MS,
  )
})

describe('configuration errors stop start-up with one line on stderr', () => {
  async function failingStart(overrides: Record<string, string | undefined>, args: string[] = []) {
    const child = spawnScript('start', serverEnv(overrides), args)
    const code = await exitOf(child)
    const lines = child.stderr
      .text()
      .split('\n')
      .filter((line) => line.trim() !== '')
    expect(child.stdout.text()).not.toMatch(LISTENING)
    expect(existsSync(dbPath)).toBe(false)
    return { code, lines, stderr: child.stderr.text() }
  }

  test(
    'missing WECHAT_APPID and WECHAT_SECRET are both named',
    async () => {
      const { code, lines, stderr } = await failingStart({ WECHAT_APPID: undefined, WECHAT_SECRET: undefined })
      expect(code).not.toBe(0)
      expect(lines).toHaveLength(1)
      expect(stderr.trimEnd()).toBe(lines[0] ?? '')
      expect(lines[0]).toContain('WECHAT_APPID')
      expect(lines[0]).toContain('WECHAT_SECRET')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'missing WECHAT_SECRET alone is the only one named',
    async () => {
      const { code, lines } = await failingStart({ WECHAT_SECRET: undefined })
      expect(code).not.toBe(0)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain('WECHAT_SECRET')
      expect(lines[0]).not.toContain('WECHAT_APPID')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'SESSION_TTL="two hours" is named',
    async () => {
      const { code, lines } = await failingStart({ SESSION_TTL: 'two hours' })
      expect(code).not.toBe(0)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain('SESSION_TTL')
      expect(lines[0]).toContain('two hours')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'PORT=abc is named',
    async () => {
      const { code, lines } = await failingStart({ PORT: 'abc' })
      expect(code).not.toBe(0)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/\bPORT\b/)
      expect(lines[0]).not.toContain('SESSION_TTL')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a DATABASE_PATH that cannot be created is named, without a stack trace',
    async () => {
      const blocker = join(tempDir, 'a-file')
      await Bun.write(blocker, 'not a folder')
      const { code, lines } = await failingStart({ DATABASE_PATH: join(blocker, 'wxauth.db') })
      expect(code).toBe(1)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain('DATABASE_PATH')
    },
    TEST_TIMEOUT_MS,
  )

  test.each([
    ['DATABASE_URL', 'postgres://wxauth:hunter2@127.0.0.1:1/wxauth'],
    ['REDIS_URL', 'redis://:hunter2@127.0.0.1:1'],
  ])(
    'an unreachable %s is named, exit 1, without its password',
    async (name, url) => {
      const { code, lines } = await failingStart({ [name]: url })
      expect(code).toBe(1)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(`cannot reach ${name}`)
      expect(lines[0]).toContain('127.0.0.1:1')
      expect(lines[0]).not.toContain('hunter2')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a port already in use is named, and not silently shared',
    async () => {
      const squatter = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('squatter') })
      try {
        const child = spawnScript('start', serverEnv({ PORT: String(squatter.port) }))
        expect(await exitOf(child)).toBe(1)
        const lines = child.stderr
          .text()
          .split('\n')
          .filter((line) => line.trim() !== '')
        expect(lines).toHaveLength(1)
        expect(lines[0]).toContain(String(squatter.port))
        expect(child.stdout.text()).not.toMatch(LISTENING)
      } finally {
        await squatter.stop(true)
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'an unknown command is refused',
    async () => {
      const { code, lines } = await failingStart({}, ['serev'])
      expect(code).toBe(2)
      expect(lines[0]).toBe('wxauth: unknown command "serev"')
      expect(lines).toContain('Usage:')
    },
    TEST_TIMEOUT_MS,
  )
})

describe('bun run dev', () => {
  test(
    'warns NOT FOR PRODUCTION and logs anyone in without WeChat credentials',
    async () => {
      const server = await startServer(
        serverEnv({ WECHAT_APPID: undefined, WECHAT_SECRET: undefined, WECHAT_API_BASE: undefined }),
        'dev',
      )
      await waitForText(server.child.stderr, 'NOT FOR PRODUCTION')
      expect(server.child.stdout.text()).not.toContain('NOT FOR PRODUCTION')

      const first = await login(server.baseUrl, 'bob#1')
      const again = await login(server.baseUrl, 'bob#2')
      expect(again.user.id).toBe(first.user.id)
      expect(again.skey).not.toBe(first.skey)
      const me = await call(server.baseUrl, 'GET', '/auth/me', { skey: first.skey })
      expect(me.status).toBe(200)
      expect(await server.stop('SIGTERM')).toBe(0)
    },
    TEST_TIMEOUT_MS,
  )
})

/** The quick start's curl session, as the README shows it, aimed at `baseUrl`. */
function readmeCurlSession(baseUrl: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('```sh\n', readme.indexOf('In a second terminal, play the mini program'))
  const block = readme.slice(start + '```sh\n'.length, readme.indexOf('```', start + 5))
  return block.replaceAll('localhost:3000', new URL(baseUrl).host)
}

describe.skipIf(!Bun.which('curl'))("the README's curl session", () => {
  test(
    'works pasted twice in a row against bun run dev, and a failed login is visible',
    async () => {
      const server = await startServer(
        serverEnv({ WECHAT_APPID: undefined, WECHAT_SECRET: undefined, WECHAT_API_BASE: undefined }),
        'dev',
      )
      const session = readmeCurlSession(server.baseUrl)
      for (const paste of [1, 2]) {
        const run = Bun.spawnSync(['bash', '-c', session])
        const [stdout, stderr] = [run.stdout.toString(), run.stderr.toString()]
        expect(stderr, `paste ${paste}`).toBe('')
        expect(stdout, `paste ${paste}`).toContain('"skey":"')
        expect(stdout, `paste ${paste}`).toContain('"text":"buy milk"')
        expect(stdout, `paste ${paste}`).toContain('13800138000')
        expect(stdout, `paste ${paste}`).toContain('\n204\n')
        expect(stdout.trimEnd(), `paste ${paste}`).toEndWith(
          '"code":"SKEY_INVALID","msg":"the skey is unknown, logged out or expired; log in again"}',
        )
      }
      const failing = Bun.spawnSync(['bash', '-c', session.replace('alice#$RUN', '')])
      expect(failing.stderr.toString()).toContain('login failed: see the answer above')
      expect(failing.stdout.toString()).toContain('"code":"VALIDATION"')
      expect(await server.stop('SIGTERM')).toBe(0)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('one-shot commands', () => {
  async function runToEnd(args: string[], overrides: Record<string, string | undefined> = {}) {
    const child = spawnScript('start', serverEnv(overrides), args)
    const code = await exitOf(child)
    return { code, stdout: child.stdout.text(), stderr: child.stderr.text() }
  }

  test(
    'help, --help and -h print the usage and exit 0',
    async () => {
      for (const args of [['help'], ['--help'], ['-h']]) {
        const { code, stdout, stderr } = await runToEnd(args)
        expect(code).toBe(0)
        expect(stdout).toContain('Usage:')
        expect(stderr).toBe('')
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'migrate says whether it created the schema or found it current',
    async () => {
      const first = await runToEnd(['migrate'])
      expect(first.code).toBe(0)
      expect(first.stdout).toStartWith(`wxauth: created the schema in ${dbPath} (schema version `)
      const again = await runToEnd(['migrate'])
      expect(again.stdout).toStartWith(`wxauth: ${dbPath} is already at the current schema version `)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('skeys at rest', () => {
  test(
    'neither the database nor its WAL ever holds an skey, only its hash',
    async () => {
      const server = await startServer(serverEnv())
      const logins = [
        await login(server.baseUrl, simulator.issueCode('alice')),
        await login(server.baseUrl, simulator.issueCode('alice')),
        await login(server.baseUrl, simulator.issueCode('carol')),
      ]
      const skeys = logins.map((result) => result.skey)
      expect(new Set(skeys).size).toBe(3)

      const live = Buffer.concat([fileBytes(dbPath), fileBytes(`${dbPath}-wal`)])
      expect(existsSync(`${dbPath}-wal`)).toBe(true)
      // The search sees plain text: the openids are there, so a stored skey would be too.
      expect(live.includes(simulator.openidFor('carol'))).toBe(true)
      for (const skey of skeys) expect(live.includes(skey)).toBe(false)
      const logs = server.child.stdout.text() + server.child.stderr.text()
      for (const skey of skeys) expect(logs).not.toContain(skey)

      expect(await server.stop('SIGTERM')).toBe(0)
      const atRest = fileBytes(dbPath)
      expect(atRest.includes(simulator.openidFor('carol'))).toBe(true)
      for (const skey of skeys) expect(atRest.includes(skey)).toBe(false)

      const db = openDb(dbPath)
      try {
        const stored = db
          .query<{ token_hash: Uint8Array }, []>('SELECT token_hash FROM sessions')
          .all()
          .map((row) => Buffer.from(row.token_hash).toString('hex'))
          .sort()
        const expected = skeys.map((skey) => Buffer.from(hashSessionToken(skey)).toString('hex')).sort()
        expect(stored).toEqual(expected)
      } finally {
        db.close()
      }
    },
    TEST_TIMEOUT_MS,
  )
})
