/**
 * The TLS fronts in deploy/ (nginx.conf, Caddyfile), run for real: a self-signed certificate for
 * 127.0.0.1/localhost made with openssl, wxauth as a process (`bun src/index.ts dev`, SQLite in a
 * temporary folder, TRUST_PROXY=true as deploy/wxauth.env.example sets it), and each proxy started from
 * its recipe file with free ports and that certificate in place of its production values. A second
 * instance of each recipe fronts an in-process echo server instead, to show the exact headers wxauth gets.
 * A missing proxy (or openssl) is skipped with one line; under CI=true that fails instead (.ci/services.sh
 * installs nginx and caddy, .ci/run openssl). Runs only when WXAUTH_TEST_BACKEND is unset or sqlite.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
} from '../children'

const START_TIMEOUT_MS = 20_000
const TEST_TIMEOUT_MS = 20_000
/** As the test starts wxauth: the 4th login a minute from one address is refused. */
const LOGIN_RATE_LIMIT = 3

type ProxyName = 'nginx' | 'caddy'
type Tool = ProxyName | 'openssl'

const onSqlite = (process.env.WXAUTH_TEST_BACKEND ?? 'sqlite') === 'sqlite'
const binaries: Record<Tool, string | null> = {
  nginx: findBinary('nginx'),
  caddy: findBinary('caddy'),
  openssl: findBinary('openssl'),
}

/** Whether `tool` is installed; says once what is skipped and why, and refuses to skip under CI. */
const installed = (tool: Tool) =>
  installedTool(tool, {
    testFile: 'test/deploy/tls-proxy.test.ts',
    how: tool === 'openssl' ? 'apt-get install openssl' : 'bash .ci/services.sh installs nginx and caddy',
    skipped: tool === 'openssl' ? 'every TLS proxy test' : `TLS through ${tool}`,
  })

const certificates = onSqlite && installed('openssl')
const ready: Record<ProxyName, boolean> = {
  nginx: certificates && installed('nginx'),
  caddy: certificates && installed('caddy'),
}

let workdir = ''
let cert = ''
let key = ''
let ca = ''

/** What the echo upstream saw of one request: its headers and the proxy's source port. */
interface Echo {
  headers: Record<string, string>
  peerPort: number
}

/** Stands in for wxauth behind the second instance of each recipe: answers with what it received. */
const echo = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(request, server) {
    const seen: Echo = { headers: request.headers.toJSON(), peerPort: server.requestIP(request)?.port ?? 0 }
    return Response.json(seen)
  },
})

beforeAll(() => {
  if (!ready.nginx && !ready.caddy) return
  workdir = mkdtempSync(join(tmpdir(), 'wxauth-tls-proxy-'))
  cert = join(workdir, 'cert.pem')
  key = join(workdir, 'key.pem')
  const made = Bun.spawnSync(
    [
      binaries.openssl as string,
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  if (made.exitCode !== 0) throw new Error(`openssl req failed:\n${made.stderr.toString()}`)
  ca = readFileSync(cert, 'utf8')
})

afterAll(async () => {
  await Promise.all(startedChildren().map(stopChild))
  echo.stop(true)
  if (workdir) rmSync(workdir, { recursive: true, force: true })
})

/** wxauth as deploy/wxauth.env.example runs it, plus the web login and metrics (to show the proxy hides them). */
async function startWxauth(dir: string): Promise<{ child: Child; address: string }> {
  const child = spawnChild('wxauth', [process.execPath, 'src/index.ts', 'dev'], {
    HOME: process.env.HOME ?? dir,
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_PATH: join(dir, 'wxauth.db'),
    TRUST_PROXY: 'true',
    LOGIN_RATE_LIMIT: String(LOGIN_RATE_LIMIT),
    WEB_LOGIN: 'true',
    METRICS: 'true',
    LOG_LEVEL: 'info',
  })
  const address = await waitFor(child, () => /wxauth listening on http:\/\/([^\s"]+)/.exec(child.output())?.[1])
  return { child, address }
}

interface Proxy {
  child: Child
  /** https://127.0.0.1:<port> */
  url: string
  /** http://127.0.0.1:<port>, the recipe's port 80 */
  plain: string
}

function startNginx(dir: string, upstream: string): Proxy {
  mkdirSync(dir)
  const http = freePort()
  const https = freePort()
  const server = fromRecipe(
    'deploy/nginx.conf',
    [
      ['server 127.0.0.1:3000;', `server ${upstream};`],
      ['listen 80;', `listen 127.0.0.1:${http};`],
      ['listen 443 ssl http2;', `listen 127.0.0.1:${https} ssl http2;`],
      // IPv6 may be missing where this runs; the IPv4 listeners stand for both.
      ['listen [::]:80;', ''],
      ['listen [::]:443 ssl http2;', ''],
      ['/etc/ssl/wxauth/fullchain.pem', cert],
      ['/etc/ssl/wxauth/privkey.pem', key],
    ],
    'test/deploy/tls-proxy.test.ts',
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
  access_log ${dir}/access.log;
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
  return { child: spawnChild('nginx', cmd, {}), url: `https://127.0.0.1:${https}`, plain: `http://127.0.0.1:${http}` }
}

function startCaddy(dir: string, upstream: string): Proxy {
  mkdirSync(dir)
  const http = freePort()
  const https = freePort()
  // Global options of this run only: no admin endpoint, free ports on 127.0.0.1, storage under `dir`.
  const global = `{\n\tadmin off\n\thttp_port ${http}\n\thttps_port ${https}\n\tdefault_bind 127.0.0.1\n}\n\n`
  const caddyfile = fromRecipe(
    'deploy/Caddyfile',
    [
      ['reverse_proxy 127.0.0.1:3000 {', `reverse_proxy ${upstream} {`],
      // The self-signed certificate instead of one from an ACME CA.
      ['api.example.com {', `127.0.0.1, localhost {\n\ttls ${cert} ${key}`],
    ],
    'test/deploy/tls-proxy.test.ts',
  )
  writeFileSync(join(dir, 'Caddyfile'), global + caddyfile)
  const cmd = [binaries.caddy as string, 'run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile']
  const env = { HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') }
  return { child: spawnChild('caddy', cmd, env), url: `https://127.0.0.1:${https}`, plain: `http://127.0.0.1:${http}` }
}

const START: Record<ProxyName, (dir: string, upstream: string) => Proxy> = { nginx: startNginx, caddy: startCaddy }

/** Over HTTPS, trusting only the test's own certificate. */
function send(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, redirect: 'manual', tls: { ca } })
}

/** Which TLS versions the proxy accepts, asked with openssl s_client (SECLEVEL=0 so openssl itself would offer 1.1). */
function handshakes(url: string, version: 'tls1_1' | 'tls1_2' | 'tls1_3'): boolean {
  const { host } = new URL(url)
  const run = Bun.spawnSync(
    // -brief says the protocol as soon as the handshake is done (the full report of TLS 1.3 waits for a
    // session ticket, which may not come before stdin closes).
    [
      binaries.openssl as string,
      's_client',
      '-brief',
      '-connect',
      host,
      `-${version}`,
      '-cipher',
      'DEFAULT@SECLEVEL=0',
    ],
    { stdin: new TextEncoder().encode('Q\n'), stdout: 'pipe', stderr: 'pipe', timeout: 10_000 },
  )
  const said = run.stdout.toString() + run.stderr.toString()
  return run.exitCode === 0 && /Protocol version:\s*TLSv1\.[123]/.test(said)
}

describe.each(['nginx', 'caddy'] as const)('wxauth behind %s over TLS', (name) => {
  const check = ready[name] ? test : test.skip
  let wxauth: Child | undefined
  let wxauthAddress = ''
  let proxy: Proxy | undefined
  let echoProxy: Proxy | undefined
  let logins = 0
  let skey = ''

  beforeAll(async () => {
    if (!ready[name]) return
    const dir = join(workdir, name)
    mkdirSync(dir)
    // A wxauth of its own: each proxy reaches it from 127.0.0.1, and each needs a fresh login budget.
    const started = await startWxauth(dir)
    wxauth = started.child
    wxauthAddress = started.address
    proxy = START[name](join(dir, 'to-wxauth'), wxauthAddress)
    echoProxy = START[name](join(dir, 'to-echo'), `127.0.0.1:${echo.port}`)
    for (const { child, url } of [proxy, echoProxy]) {
      await waitFor(child, () =>
        send(`${url}/healthz`).then(
          (response) => response.status === 200,
          () => false,
        ),
      )
    }
  }, 2 * START_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all([stopChild(proxy?.child), stopChild(echoProxy?.child), stopChild(wxauth)])
  })

  /** A test whose failure message carries the processes' output; quiet when it passes. */
  function scenario(title: string, run: (url: string) => Promise<void>, timeout = TEST_TIMEOUT_MS) {
    check(
      title,
      async () => {
        try {
          await run(proxy?.url as string)
        } catch (error) {
          const tail = (text: string) => (text.length > 6000 ? `…${text.slice(-6000)}` : text)
          const parts = [proxy?.child, echoProxy?.child, wxauth].map((c) => c && `--- ${c.name}:\n${tail(c.output())}`)
          if (error instanceof Error) error.message += `\n\n${parts.filter(Boolean).join('\n')}`
          throw error
        }
      },
      timeout,
    )
  }

  async function login(url: string, headers: Record<string, string> = {}): Promise<Response> {
    logins++
    return send(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ code: `${name}-${logins}#${crypto.randomUUID()}` }),
    })
  }

  scenario('log in and ask who I am over HTTPS, with HSTS', async (url) => {
    const answer = await login(url)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('strict-transport-security')).toBe('max-age=31536000')
    const body = (await answer.json()) as { skey: string; user: { id: number } }
    skey = body.skey
    const me = await send(`${url}/auth/me`, { headers: { skey } })
    expect(me.status).toBe(200)
    expect(((await me.json()) as { user: { id: number } }).user.id).toBe(body.user.id)
  })

  scenario('TLS 1.2 and 1.3 only', async (url) => {
    expect(handshakes(url, 'tls1_3')).toBe(true)
    expect(handshakes(url, 'tls1_2')).toBe(true)
    expect(handshakes(url, 'tls1_1')).toBe(false)
  })

  scenario('plain HTTP is sent to HTTPS', async () => {
    const answer = await fetch(`${proxy?.plain}/auth/me?x=1`, { redirect: 'manual' })
    expect(answer.status).toBe(name === 'nginx' ? 301 : 308)
    // To the same host and path on the default port, as in production.
    expect(answer.headers.get('location')).toBe('https://127.0.0.1/auth/me?x=1')
  })

  scenario('/metrics is refused from outside, in every spelling wxauth itself would serve', async (url) => {
    const spellings = ['/metrics', '/metrics/', '/METRICS', '/Metrics/', '//metrics', '/%6Detrics', '/metrics?x=1']
    const served: string[] = []
    for (const path of spellings) {
      const direct = await fetch(`http://${wxauthAddress}${path}`)
      if ((await direct.text()).includes('wxauth_http_requests_total')) served.push(path)
    }
    expect(served).toContain('/metrics') // METRICS=true: wxauth serves it to whoever reaches 127.0.0.1
    for (const path of spellings) {
      const answer = await send(url + path)
      const text = await answer.text()
      expect({ path, status: answer.status, leaked: text.includes('wxauth_') }).toEqual({
        path,
        status: 404,
        leaked: false,
      })
    }
    const answer = await send(`${url}/metrics`)
    expect(answer.headers.get('content-type')).toContain('application/json')
    expect(await answer.json()).toEqual({ code: 'NOT_FOUND', msg: expect.any(String) })
  })

  scenario('/openapi is public', async (url) => {
    const answer = await send(`${url}/openapi/json`)
    expect(answer.status).toBe(200)
    expect(((await answer.json()) as { paths: object }).paths).toHaveProperty('/auth/login')
  })

  scenario("wxauth gets the proxy's X-Forwarded-* and request id, never the client's", async () => {
    const url = echoProxy?.url as string
    const port = new URL(url).port
    const forged = {
      'x-forwarded-for': '203.0.113.7, 198.51.100.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'evil.example',
      'x-request-id': 'chosen-by-the-client',
    }
    const seen: Echo[] = []
    for (let i = 0; i < 3; i++) seen.push((await (await send(`${url}/auth/me`, { headers: forged })).json()) as Echo)
    for (const { headers } of seen) {
      expect(headers).toMatchObject({
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': `127.0.0.1:${port}`,
        host: name === 'nginx' ? '127.0.0.1' : `127.0.0.1:${port}`, // nginx's $host has no port
      })
      expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{32,36}$/)
      expect(headers.connection ?? '').not.toMatch(/close/i)
    }
    // One id per request; the upstream connection is kept open between requests (keepalive).
    expect(new Set(seen.map(({ headers }) => headers['x-request-id'])).size).toBe(3)
    expect(new Set(seen.map(({ peerPort }) => peerPort)).size).toBe(1)
  })

  scenario(
    "the rate limiter counts the client's own address: a forged X-Forwarded-For does not reset it",
    async (url) => {
      while (logins < LOGIN_RATE_LIMIT) expect((await login(url)).status).toBe(200)
      const refused = await login(url)
      expect(refused.status).toBe(429)
      expect(await refused.json()).toEqual({ code: 'RATE_LIMITED', msg: expect.any(String) })
      for (const last of [11, 12, 13]) {
        const spoofed = await login(url, { 'x-forwarded-for': `203.0.113.${last}` })
        expect(spoofed.status).toBe(429)
        expect(((await spoofed.json()) as { code: string }).code).toBe('RATE_LIMITED')
      }
    },
  )

  scenario(
    'web login: Secure cookie, the HTTPS origin accepted, the real client address shown to the scanner',
    async (url) => {
      // Logs carry no client address; the scan answer shows the one wxauth recorded for the browser.
      const started = await send(`${url}/web/login`, {
        method: 'POST',
        headers: { origin: url, 'x-forwarded-for': '203.0.113.99' },
      })
      expect(started.status).toBe(201)
      const [cookie] = started.headers.getSetCookie()
      expect(cookie).toMatch(/; Secure/i)
      const { ticket } = (await started.json()) as { ticket: string }
      const scan = await send(`${url}/web/login/${ticket}/scan`, { method: 'POST', headers: { skey } })
      expect(scan.status).toBe(200)
      expect(((await scan.json()) as { browser: { ip: string } }).browser.ip).toBe('127.0.0.1')

      // The same page over plain HTTP is another origin.
      const insecureOrigin = url.replace('https://', 'http://')
      const foreign = await send(`${url}/web/login`, { method: 'POST', headers: { origin: insecureOrigin } })
      expect(foreign.status).toBe(403)
      expect(((await foreign.json()) as { code: string }).code).toBe('CSRF_REJECTED')
    },
  )

  scenario('a web-login long poll answers after its wait, not with a proxy timeout', async (url) => {
    const started = await send(`${url}/web/login`, { method: 'POST' })
    expect(started.status).toBe(201)
    const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
    const { ticket } = (await started.json()) as { ticket: string }
    const at = performance.now()
    const polled = await send(`${url}/web/login/${ticket}?wait=3`, { headers: { cookie: binding } })
    const seconds = (performance.now() - at) / 1000
    expect(polled.status).toBe(200)
    expect(((await polled.json()) as { status: string }).status).toBe('waiting')
    expect(seconds).toBeGreaterThan(2.5)
    expect(seconds).toBeLessThan(10)
  })

  scenario('a body over 64 KiB: 413 PAYLOAD_TOO_LARGE as JSON', async (url) => {
    const answer = await send(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'x'.repeat(70_000) }),
    })
    expect(answer.status).toBe(413)
    expect(await answer.json()).toEqual({ code: 'PAYLOAD_TOO_LARGE', msg: expect.any(String) })
  })
})
