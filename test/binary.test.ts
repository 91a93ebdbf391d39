/**
 * The single binary: `bun run build` makes dist/wxauth, which is then run from an empty folder
 * (nothing may be read from src/) against a temporary database and a mock WeChat on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import packageJson from '../package.json'
import { ASSETS, ASSETS_PATH } from '../src/modules/docs/reference'
import { createWechatSimulator } from '../src/server'

const ROOT = resolve(import.meta.dir, '..')
const BINARY = join(ROOT, 'dist', 'wxauth')
const simulator = createWechatSimulator({ appid: 'wxbin', secret: 'bin-secret' })
let wechat: ReturnType<typeof Bun.serve>
let workdir = ''

beforeAll(async () => {
  const build = Bun.spawn(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'ignore', stderr: 'pipe' })
  if ((await build.exited) !== 0) throw new Error(`bun run build failed:\n${await new Response(build.stderr).text()}`)
  wechat = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: simulator.fetch })
  workdir = mkdtempSync(join(tmpdir(), 'wxauth-binary-'))
}, 120_000)

afterAll(async () => {
  await wechat?.stop(true)
  rmSync(workdir, { recursive: true, force: true })
})

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    DATABASE_PATH: join(workdir, 'data', 'wxauth.db'),
    WECHAT_APPID: 'wxbin',
    WECHAT_SECRET: 'bin-secret',
    WECHAT_API_BASE: `http://127.0.0.1:${wechat.port}`,
    HOST: '127.0.0.1',
    PORT: '0',
    ...extra,
  }
}

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BINARY, ...args], { cwd: workdir, env: env(), stdout: 'pipe', stderr: 'pipe' })
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ])
  return { code, stdout, stderr }
}

async function startServer(command = 'serve', extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn([BINARY, command], { cwd: workdir, env: env(extraEnv), stdout: 'pipe', stderr: 'pipe' })
  const reader = proc.stdout.getReader()
  let output = ''
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    output += new TextDecoder().decode(value)
    const url = /wxauth listening on (http:\/\/[^\s"]+)/.exec(output)?.[1]
    if (url) return { proc, url, output: () => output, reader }
  }
  proc.kill('SIGKILL')
  throw new Error(`the binary did not start:\n${output}\n${await new Response(proc.stderr).text()}`)
}

describe('dist/wxauth', () => {
  test('--version, --help; an unknown command prints usage on stderr and exits 2', async () => {
    expect(await run('--version')).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' })
    const help = await run('--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('wxauth sessions revoke --all')
    const bad = await run('frobnicate')
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toContain('unknown command "frobnicate"')
    expect(bad.stderr).toContain('Usage:')
    expect((await run('stats', '--verbose')).code).toBe(2)
  })

  test('admin commands refuse a database that does not exist yet; migrate creates it', async () => {
    const missing = await run('stats')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('no database at')
    const migrated = await run('migrate')
    expect(migrated.code).toBe(0)
    expect(migrated.stdout).toContain('schema version')
    expect(JSON.parse((await run('stats', '--json')).stdout)).toMatchObject({ users: 0, liveSessions: 0 })
  })

  test('serve: /healthz, login through the mock WeChat, admin commands beside it, SIGTERM exits 0', async () => {
    const { proc, url } = await startServer()
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(200)
      const login = await fetch(`${url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: simulator.issueCode('binny') }),
      })
      expect(login.status).toBe(200)
      const { skey, user } = (await login.json()) as { skey: string; user: { openid: string } }
      const me = () => fetch(`${url}/auth/me`, { headers: { skey } }).then((response) => response.status)
      expect(await me()).toBe(200)

      const listed = await run('users', 'list')
      expect(listed.code).toBe(0)
      expect(listed.stdout).toContain(user.openid)
      const shown = JSON.parse((await run('users', 'show', user.openid, '--json')).stdout)
      expect(shown.user.liveSessions).toBe(1)
      const stats = JSON.parse((await run('stats', '--json')).stdout)
      expect(stats).toMatchObject({ users: 1, liveSessions: 1, expiredAwaitingSweep: 0 })
      expect(stats.databaseBytes).toBeGreaterThan(0)

      const revoked = await run('sessions', 'revoke', '--user', user.openid)
      expect(revoked).toMatchObject({ code: 0, stdout: `revoked 1 session of ${user.openid}\n` })
      await Bun.sleep(250) // the running server notices another process's write within 100 ms
      expect(await me()).toBe(401)
      expect((await run('sessions', 'revoke', '--all', '--json')).stdout).toBe('{"revoked":0}\n')
    } finally {
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    }
  }, 30_000)

  test('/openapi: the reference page and its viewer (swagger-ui-dist) are embedded', async () => {
    const { proc, url } = await startServer()
    try {
      const page = await fetch(`${url}/openapi`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(await page.text()).toContain(`${ASSETS_PATH}/${ASSETS.bundle.name}`.slice(1))
      for (const asset of Object.values(ASSETS)) {
        const response = await fetch(`${url}${ASSETS_PATH}/${asset.name}`)
        expect(response.status, asset.name).toBe(200)
        expect(response.headers.get('content-type'), asset.name).toBe(asset.contentType)
        expect((await response.text()).length, asset.name).toBe((await Bun.file(asset.path).text()).length)
      }
    } finally {
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    }
  }, 30_000)

  test('the web-login page, its simulated code and the admin console are embedded too', async () => {
    const { proc, url } = await startServer('dev', {
      DATABASE_PATH: join(workdir, 'pages', 'dev.db'),
      WEB_LOGIN: 'true',
      ADMIN_OPENIDS: 'o-binary-admin',
    })
    try {
      for (const path of ['/web', '/admin', '/admin/link/x']) {
        const page = await fetch(url + path)
        expect(page.status, path).toBe(200)
        expect(page.headers.get('content-security-policy'), path).toContain("script-src 'sha256-")
        expect(await page.text(), path).toContain('<script>')
      }
      const started = await fetch(`${url}/web/login`, { method: 'POST' })
      const { qrcodeUrl } = (await started.json()) as { qrcodeUrl: string }
      const binding = started.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      const code = await fetch(url + qrcodeUrl, { headers: { cookie: binding } })
      expect(code.status).toBe(200)
      expect(code.headers.get('content-type')).toBe('image/png')
    } finally {
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    }
  }, 30_000)

  test('dev: the simulator and the embedded sweep worker run inside the binary', async () => {
    const { proc, url, reader } = await startServer('dev', {
      DATABASE_PATH: join(workdir, 'dev', 'dev.db'),
      SESSION_TTL: '1',
      SWEEP_INTERVAL: '1',
    })
    try {
      const login = await fetch(`${url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'anyone#1' }),
      })
      expect(login.status).toBe(200)
      let output = ''
      const deadline = Date.now() + 10_000
      while (!output.includes('"swept 1 expired sessions"') && Date.now() < deadline) {
        const { value, done } = await reader.read()
        if (done) break
        output += new TextDecoder().decode(value)
      }
      expect(output).toContain('"swept 1 expired sessions"')
      expect(output).not.toContain('sweep failed')
    } finally {
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    }
    // The binary's user has no `bun run start`.
    expect(await new Response(proc.stderr).text()).toContain('NOT FOR PRODUCTION: use wxauth serve.')
  }, 30_000)
})
