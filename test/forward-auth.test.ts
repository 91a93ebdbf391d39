/**
 * The forward-auth recipes in deploy/forward-auth/, run for real: wxauth as a process (`bun src/index.ts dev`,
 * SQLite in a temporary folder), the echo backend (test/fixtures/forward-auth/echo_backend.py), and nginx and
 * Caddy started from the recipe files themselves, with free ports in place of their example addresses.
 * A proxy whose binary is missing is skipped with one line; under CI=true that fails instead
 * (.ci/services.sh installs nginx and caddy from Debian). It tests the proxies, not the stores: it runs
 * only when WXAUTH_TEST_BACKEND is unset or sqlite, so once per .ci/run.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Child,
  findBinary,
  freePort,
  fromRecipe,
  installedTool,
  spawnChild,
  startedChildren,
  stopChild,
  waitFor,
} from './children'

let workdir = ''
const ECHO_BACKEND = join(import.meta.dir, 'fixtures', 'forward-auth', 'echo_backend.py')
const TEST_TIMEOUT_MS = 20_000
const START_TIMEOUT_MS = 20_000
/** The only X-Wxauth-* headers wxauth sets, and so the only ones a backend may trust. */
const IDENTITY_HEADERS = ['x-wxauth-user-id', 'x-wxauth-openid', 'x-wxauth-unionid', 'x-wxauth-expires-at']

type ProxyName = 'nginx' | 'caddy'
type Tool = ProxyName | 'python3'

const onSqlite = (process.env.WXAUTH_TEST_BACKEND ?? 'sqlite') === 'sqlite'
const binaries: Record<Tool, string | null> = {
  nginx: findBinary('nginx'),
  caddy: findBinary('caddy'),
  python3: findBinary('python3'),
}

/** Whether `tool` is installed; says once what is skipped and why, and refuses to skip under CI. */
const installed = (tool: Tool) =>
  installedTool(tool, {
    testFile: 'test/forward-auth.test.ts',
    how: tool === 'python3' ? 'apt-get install python3' : 'bash .ci/services.sh installs nginx and caddy from Debian',
    skipped:
      tool === 'python3' ? 'all forward-auth suites (the echo backend needs python3)' : `forward auth through ${tool}`,
  })

const backendRuns = onSqlite && installed('python3')
const ready: Record<ProxyName, boolean> = {
  nginx: backendRuns && installed('nginx'),
  caddy: backendRuns && installed('caddy'),
}

const env = (extra: Record<string, string>) => ({ PATH: process.env.PATH ?? '', ...extra })

let wxauth: Child | undefined
let wxauthAddress = '' // 127.0.0.1:<port>
let backend: Child | undefined
let backendAddress = ''
let requestLog = ''

/** How many requests reached the echo backend so far. */
const backendCalls = () => readFileSync(requestLog, 'utf8').split('\n').filter(Boolean).length

beforeAll(async () => {
  if (!ready.nginx && !ready.caddy) return
  workdir = mkdtempSync(join(tmpdir(), 'wxauth-forward-auth-'))

  wxauth = spawnChild(
    'wxauth',
    [process.execPath, 'src/index.ts', 'dev'],
    env({
      HOME: process.env.HOME ?? workdir,
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_PATH: join(workdir, 'wxauth.db'),
      // info: the start-up line carries the URL, and every request line is searched for skeys below.
      LOG_LEVEL: 'info',
      // As the recipes say: behind the proxy, with the web login on (its cookie goes through them too).
      TRUST_PROXY: 'true',
      WEB_LOGIN: 'true',
    }),
  )
  wxauthAddress = await waitFor(
    wxauth,
    () => /wxauth listening on http:\/\/([^\s"]+)/.exec(wxauth?.output() ?? '')?.[1],
  )

  requestLog = join(workdir, 'backend-requests.log')
  backend = spawnChild('echo backend', [binaries.python3 as string, ECHO_BACKEND, '0', requestLog], env({}))
  backendAddress = await waitFor(backend, () => /listening on (127\.0\.0\.1:\d+)/.exec(backend?.output() ?? '')?.[1])
}, 2 * START_TIMEOUT_MS)

afterAll(async () => {
  await Promise.all(startedChildren().map(stopChild)) // the proxies too, should their own afterAll not have run
  if (workdir) rmSync(workdir, { recursive: true, force: true })
})

interface Proxy {
  child: Child
  url: string
  accessLog: string
}

async function startNginx(dir: string): Promise<Proxy> {
  const port = freePort()
  const accessLog = join(dir, 'access.log')
  const server = fromRecipe(
    'deploy/forward-auth/nginx.conf',
    [
      ['127.0.0.1:3000', wxauthAddress],
      ['127.0.0.1:8000', backendAddress],
      ['listen 127.0.0.1:8080;', `listen 127.0.0.1:${port};`],
      ['/var/log/nginx/wxauth-access.log', accessLog],
    ],
    'test/forward-auth.test.ts',
  )
  writeFileSync(join(dir, 'wxauth.conf'), server)
  // One process in the foreground (no workers to outlive it), every file under `dir`.
  const main = `
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/wxauth.conf;
}
`
  writeFileSync(join(dir, 'nginx.conf'), main)
  const cmd = [binaries.nginx as string, '-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf')]
  return { child: spawnChild('nginx', cmd, env({})), url: `http://127.0.0.1:${port}`, accessLog }
}

async function startCaddy(dir: string): Promise<Proxy> {
  const port = freePort()
  const accessLog = join(dir, 'access.log')
  // Global options of this run only: no admin endpoint, plain HTTP.
  const caddyfile = `{\n\tadmin off\n\tauto_https off\n}\n\n${fromRecipe(
    'deploy/forward-auth/Caddyfile',
    [
      ['127.0.0.1:3000', wxauthAddress],
      ['127.0.0.1:8000', backendAddress],
      [':8080 {', `:${port} {`],
      ['/var/log/caddy/wxauth-access.log', accessLog],
    ],
    'test/forward-auth.test.ts',
  )}`
  writeFileSync(join(dir, 'Caddyfile'), caddyfile)
  const cmd = [binaries.caddy as string, 'run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile']
  // Caddy's storage and autosaved config go under `dir`, not the user's home.
  const caddyEnv = env({ HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') })
  return { child: spawnChild('caddy', cmd, caddyEnv), url: `http://127.0.0.1:${port}`, accessLog }
}

const START: Record<ProxyName, (dir: string) => Promise<Proxy>> = { nginx: startNginx, caddy: startCaddy }

interface Answer {
  status: number
  headers: Headers
  text: string
  body: unknown
}

/** What the echo backend saw: method, path, headers (lowercased names, in order) and the body's text. */
interface Echo {
  method: string
  path: string
  headers: [string, string][]
  body: string
}

interface Login {
  skey: string
  expiresAt: string
  user: { id: number; openid: string; unionid: string | null }
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null
  } catch {
    return text
  }
}

/** Each X-Wxauth-* identity header the backend saw, by name, with every value it got under that name. */
function identityOf(echo: Echo): Record<string, string[]> {
  const seen: Record<string, string[]> = {}
  for (const [name, value] of echo.headers) {
    // X_Wxauth_Openid counts as X-Wxauth-Openid: PHP-FPM, CGI and some WSGI servers read it so.
    const normalized = name.replaceAll('_', '-')
    if (IDENTITY_HEADERS.includes(normalized)) seen[normalized] = [...(seen[normalized] ?? []), value]
  }
  return seen
}

/** Exactly what wxauth says about this login's user, and nothing a client made up. */
function identityFor(login: Login): Record<string, string[]> {
  return {
    'x-wxauth-user-id': [String(login.user.id)],
    'x-wxauth-openid': [login.user.openid],
    ...(login.user.unionid ? { 'x-wxauth-unionid': [login.user.unionid] } : {}),
    'x-wxauth-expires-at': [login.expiresAt],
  }
}

const FORGED = {
  'X-Wxauth-User-Id': '999999',
  'X-Wxauth-Openid': 'someone-else',
  'X-Wxauth-Unionid': 'forged',
  'X-Wxauth-Expires-At': '2999-01-01T00:00:00.000Z',
  X_Wxauth_Openid: 'someone-else-underscored',
  x_wxauth_unionid: 'forged-underscored',
}

describe.each(['nginx', 'caddy'] as const)('forward auth through %s', (name) => {
  const check = ready[name] ? test : test.skip
  let proxy: Proxy | undefined
  const skeys: string[] = []

  beforeAll(async () => {
    if (!ready[name]) return
    const dir = join(workdir, name)
    mkdirSync(dir)
    proxy = await START[name](dir)
    const { child, url } = proxy
    // Up once it answers; /auth/* goes to wxauth, so the backend's request log stays untouched.
    await waitFor(child, () =>
      fetch(`${url}/auth/me`).then(
        (response) => response.status === 401,
        () => false,
      ),
    )
  }, START_TIMEOUT_MS + 5000)

  afterAll(async () => {
    await stopChild(proxy?.child)
  })

  /** Every process's output and the proxy's access log, for a failure message only. */
  function transcript(): string {
    const tail = (text: string) => (text.length > 6000 ? `…${text.slice(-6000)}` : text)
    const accessLog = proxy && existsSync(proxy.accessLog) ? readFileSync(proxy.accessLog, 'utf8') : ''
    const parts = [proxy?.child, wxauth, backend].map((child) => child && `--- ${child.name}:\n${tail(child.output())}`)
    return [...parts, `--- ${name} access log:\n${tail(accessLog)}`].filter(Boolean).join('\n')
  }

  /** A test whose failure message carries the processes' output; quiet when it passes. */
  function scenario(title: string, run: (url: string) => Promise<void>) {
    check(
      title,
      async () => {
        try {
          await run(proxy?.url as string)
        } catch (error) {
          if (error instanceof Error) error.message += `\n\n${transcript()}`
          throw error
        }
      },
      TEST_TIMEOUT_MS,
    )
  }

  async function send(
    url: string,
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ): Promise<Answer> {
    const response = await fetch(url + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, body: parse(text) }
  }

  async function login(url: string, who: string): Promise<Login> {
    const code = `${name}-${who}#${crypto.randomUUID()}`
    const answer = await send(url, 'POST', '/auth/login', {}, { code })
    expect(answer.status).toBe(200)
    const body = answer.body as Login
    skeys.push(body.skey)
    return body
  }

  /** A request the proxy must refuse with wxauth's own 401, without calling the backend. */
  async function expectRefused(answer: Promise<Answer>, code: 'SKEY_MISSING' | 'SKEY_INVALID', callsBefore: number) {
    const { status, body, headers } = await answer
    expect({ status, body }).toEqual({ status: 401, body: { code, msg: expect.any(String) } })
    expect(headers.get('content-type')).toContain('application/json')
    // Exactly one challenge (a second copy would show up joined with ", Bearer").
    const challenge = code === 'SKEY_MISSING' ? 'Bearer realm="wxauth"' : 'Bearer realm="wxauth", error="invalid_token"'
    expect(headers.get('www-authenticate')).toBe(challenge)
    expect(backendCalls()).toBe(callsBefore)
  }

  /** A request the proxy must pass on: what the backend saw. */
  async function expectPassed(answer: Promise<Answer>): Promise<Echo> {
    const { status, body } = await answer
    expect(status).toBe(200)
    return body as Echo
  }

  let alice: Login

  scenario("no skey: wxauth's 401 SKEY_MISSING, for GET and POST; the backend is not called", async (url) => {
    const before = backendCalls()
    await expectRefused(send(url, 'GET', '/api/anything'), 'SKEY_MISSING', before)
    await expectRefused(send(url, 'POST', '/api/anything', {}, { some: 'body' }), 'SKEY_MISSING', before)
    // Forged identity headers alone get nobody in.
    await expectRefused(send(url, 'GET', '/api/anything', FORGED), 'SKEY_MISSING', before)
  })

  scenario("a bad skey in either header: wxauth's 401 SKEY_INVALID; the backend is not called", async (url) => {
    const before = backendCalls()
    await expectRefused(send(url, 'GET', '/api/anything', { skey: 'not-a-real-skey' }), 'SKEY_INVALID', before)
    const bearer = { authorization: 'Bearer not-a-real-skey', ...FORGED }
    await expectRefused(send(url, 'POST', '/api/anything', bearer, { some: 'body' }), 'SKEY_INVALID', before)
  })

  scenario('log in through the proxy; the backend gets the user, never the skey', async (url) => {
    alice = await login(url, 'alice')
    expect(alice.user.unionid).toBeNull()
    const before = backendCalls()
    const echo = await expectPassed(send(url, 'GET', '/api/anything?page=2', { skey: alice.skey }))
    expect(backendCalls()).toBe(before + 1)
    expect(echo).toMatchObject({ method: 'GET', path: '/api/anything?page=2' })
    expect(identityOf(echo)).toEqual(identityFor(alice)) // no x-wxauth-unionid: the simulator gave alice none
    expect(alice.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    const names = echo.headers.map(([header]) => header)
    expect(names).not.toContain('skey')
    expect(names).not.toContain('authorization')
  })

  scenario('forged X-Wxauth-* identity headers never reach the backend', async (url) => {
    const echo = await expectPassed(send(url, 'GET', '/api/anything', { ...FORGED, skey: alice.skey }))
    expect(identityOf(echo)).toEqual(identityFor(alice))

    // A user with a unionid: the real one arrives, the forged one does not.
    const bob = await login(url, 'bob+unionid')
    expect(bob.user.unionid).toEqual(expect.any(String))
    const withUnionid = await expectPassed(send(url, 'GET', '/api/anything', { ...FORGED, skey: bob.skey }))
    expect(identityOf(withUnionid)).toEqual(identityFor(bob))

    if (name === 'caddy') {
      // Caddy drops every X-Wxauth-* name; nginx (no wildcard) replaces the four wxauth sets.
      const other = await expectPassed(send(url, 'GET', '/api/anything', { 'X-Wxauth-Role': 'admin', skey: bob.skey }))
      expect(other.headers.map(([header]) => header)).not.toContain('x-wxauth-role')
    }
  })

  scenario('Authorization: Bearer works the same; a POST body reaches the backend whole', async (url) => {
    const headers = { ...FORGED, authorization: `Bearer ${alice.skey}` }
    const echo = await expectPassed(send(url, 'POST', '/api/notes', headers, { text: 'through the proxy' }))
    expect(echo).toMatchObject({ method: 'POST', path: '/api/notes' })
    expect(JSON.parse(echo.body)).toEqual({ text: 'through the proxy' })
    expect(identityOf(echo)).toEqual(identityFor(alice))
    expect(echo.headers.map(([header]) => header)).not.toContain('authorization')
  })

  scenario('log out through the proxy: the skey is refused at once', async (url) => {
    const session = await login(url, 'carol')
    expect((await expectPassed(send(url, 'GET', '/api/anything', { skey: session.skey }))).path).toBe('/api/anything')
    const logout = await send(url, 'POST', '/auth/logout', { skey: session.skey })
    expect(logout.status).toBe(204)
    const before = backendCalls()
    await expectRefused(send(url, 'GET', '/api/anything', { skey: session.skey }), 'SKEY_INVALID', before)
    const bearer = { authorization: `Bearer ${session.skey}` }
    await expectRefused(send(url, 'GET', '/api/anything', bearer), 'SKEY_INVALID', before)
    // alice's session is another one: still in.
    expect((await send(url, 'GET', '/api/anything', { skey: alice.skey })).status).toBe(200)
  })

  scenario(
    'a web-login session cookie: the backend gets the user and the other cookies, never the session; a cross-site write is refused',
    async (url) => {
      const phone = await login(url, 'web-user')
      const started = await fetch(`${url}/web/login`, { method: 'POST' })
      expect(started.status).toBe(201)
      const { ticket } = (await started.json()) as { ticket: string }
      const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      expect((await send(url, 'POST', `/web/login/${ticket}/confirm`, { skey: phone.skey })).status).toBe(204)
      const collected = await fetch(`${url}/web/login/${ticket}`, { headers: { cookie: binding } })
      const token = /wxauth_session=([^;]+)/.exec(collected.headers.getSetCookie().join('\n'))?.[1] ?? ''
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      skeys.push(token)

      const cookie = `theme=dark; wxauth_session=${token}; lang=zh`
      const read = await expectPassed(send(url, 'GET', '/api/anything', { cookie, ...FORGED }))
      expect(identityOf(read)).toEqual(identityFor({ ...phone, expiresAt: expect.any(String) } as Login))
      const cookies = read.headers.filter(([header]) => header === 'cookie').map(([, value]) => value)
      expect(cookies.join('; ')).not.toContain('wxauth_session')
      expect(cookies.join('; ')).toContain('theme=dark')
      expect(cookies.join('; ')).toContain('lang=zh')

      // The browser's own origin (the proxy's) may write; another site's page may not, and the backend never hears of it.
      const written = await expectPassed(
        send(url, 'POST', '/api/notes', { cookie, origin: url }, { text: 'from the page' }),
      )
      expect(written).toMatchObject({ method: 'POST', path: '/api/notes' })
      const before = backendCalls()
      const forged = await send(url, 'POST', '/api/notes', { cookie, origin: 'https://evil.example' }, { text: 'csrf' })
      expect(forged.status).toBe(403)
      if (name === 'caddy') expect(forged.body).toEqual({ code: 'CSRF_REJECTED', msg: expect.any(String) })
      const noOrigin = await send(url, 'DELETE', '/api/notes/1', { cookie })
      expect(noOrigin.status).toBe(403)
      expect(backendCalls()).toBe(before)

      // Logging out through the proxy (same origin) ends it.
      expect((await send(url, 'POST', '/auth/logout', { cookie, origin: url })).status).toBe(204)
      await expectRefused(send(url, 'GET', '/api/anything', { cookie }), 'SKEY_INVALID', before)
    },
  )

  scenario("no skey in the access log, the proxy's output or wxauth's", async () => {
    await Bun.sleep(200) // wxauth writes its log lines at most 100 ms late
    const accessLog = readFileSync(proxy?.accessLog as string, 'utf8')
    expect(accessLog).toContain('/api/anything') // the access log is really written
    expect(skeys.length).toBeGreaterThanOrEqual(3)
    for (const skey of skeys) {
      expect(accessLog).not.toContain(skey)
      expect(proxy?.child.output()).not.toContain(skey)
      expect(wxauth?.output()).not.toContain(skey)
    }
  })
})
