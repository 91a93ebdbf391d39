/**
 * The published package: `bun pm pack` makes the tarball npm would get; it is installed into a
 * temporary host project beside elysia, which then runs the plugin from node_modules (login, a route
 * of its own behind `{ auth: true }`, the mini program client's export) and type-checks against it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import packageJson from '../package.json'

const ROOT = resolve(import.meta.dir, '..')
const BUN = process.execPath
const RESULT_PREFIX = 'WXAUTH_HOST_RESULT '

let workdir = ''
let host = ''
let tarball = ''

interface Run {
  code: number | null
  output: string
}

/** Runs a command to its end (killed after timeoutMs), stdout and stderr captured together. */
async function run(cmd: string[], cwd: string, timeoutMs: number): Promise<Run> {
  const child = Bun.spawn(cmd, { cwd, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: timeoutMs })
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ])
  return { code, output: `$ ${cmd.join(' ')} (in ${cwd}, exit ${code})\n${stdout}${stderr}` }
}

/** Fails with the command's whole output, shown only when it did not succeed. */
function expectSuccess(result: Run) {
  if (result.code !== 0) throw new Error(result.output)
}

// A host written the way the README's "Embedding the plugin" shows, on the WeChat simulator.
const HOST_SCRIPT = `import { Elysia } from 'elysia'
import { createWechatClient, createWechatSimulator, openDatabase, wxauth } from 'wxauth'
import { createWxAuth } from 'wxauth/client'

const simulator = createWechatSimulator({ appid: 'wxhost', secret: 'host-secret' })
const wechat = createWechatClient({
  appid: 'wxhost',
  secret: 'host-secret',
  apiBase: 'http://wechat.invalid',
  timeoutMs: 1000,
  fetch: (request) => simulator.fetch(request),
})
const app = new Elysia()
  .use(wxauth({ db: openDatabase(':memory:'), wechat }))
  // The auth macro types \`user\` in the host's own handler.
  .get('/mine', ({ user }) => ({ id: user.id satisfies number }), { auth: true })

const login = await app.handle(
  new Request('http://host.test/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: simulator.issueCode('alice') }),
  }),
)
const { skey } = (await login.json()) as { skey?: unknown }
const mine = await app.handle(new Request('http://host.test/mine', { headers: { skey: String(skey) } }))
const anonymous = await app.handle(new Request('http://host.test/mine'))
const result = {
  login: login.status,
  skey: typeof skey,
  mine: mine.status,
  mineBody: await mine.json(),
  anonymous: anonymous.status,
  client: typeof createWxAuth,
}
console.log('${RESULT_PREFIX}' + JSON.stringify(result))
// Elysia keeps a timer (its inference cache's clean-up, about 5 minutes) once a hook is registered.
process.exit(0)
`

// Strict, bundler resolution, Bun's types. skipLibCheck as in every Elysia project (elysia's own .d.ts
// do not compile without it) and lib ESNext as \`bun init\` writes it (the DOM lib's Worker has no unref()).
const HOST_TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'ESNext',
    lib: ['ESNext'],
    module: 'Preserve',
    moduleResolution: 'bundler',
    types: ['bun'],
    skipLibCheck: true,
    noEmit: true,
  },
  files: ['host.ts'],
}

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'wxauth-package-'))
  const packed = await run([BUN, 'pm', 'pack', '--destination', workdir, '--quiet'], ROOT, 30_000)
  expectSuccess(packed)
  tarball = join(workdir, `wxauth-${packageJson.version}.tgz`)
  if (!(await Bun.file(tarball).exists())) throw new Error(`no ${tarball}\n${packed.output}`)

  host = join(workdir, 'host')
  mkdirSync(host)
  const { elysia, typescript } = packageJson.devDependencies
  await Bun.write(
    join(host, 'package.json'),
    JSON.stringify({
      name: 'wxauth-host',
      private: true,
      type: 'module',
      dependencies: { elysia, wxauth: `file:${tarball}` },
      devDependencies: { '@types/bun': packageJson.devDependencies['@types/bun'], typescript },
    }),
  )
  await Bun.write(join(host, 'host.ts'), HOST_SCRIPT)
  await Bun.write(join(host, 'tsconfig.json'), JSON.stringify(HOST_TSCONFIG))
  // Metadata from the local cache when it has it; only what is missing comes from the registry.
  expectSuccess(await run([BUN, 'install', '--prefer-offline', '--no-progress'], host, 60_000))
}, 100_000)

afterAll(() => {
  if (workdir) rmSync(workdir, { recursive: true, force: true })
})

describe('the npm package', () => {
  test('holds the server source, the client build, README and LICENSE, and nothing else', async () => {
    const files = [...(await new Bun.Archive(await Bun.file(tarball).arrayBuffer()).files()).keys()].sort()
    const paths = files.map((path) => path.replace(/^package\//, ''))
    const outside = paths.filter(
      (path) =>
        !['package.json', 'README.md', 'LICENSE'].includes(path) &&
        !path.startsWith('src/') &&
        !path.startsWith('client/dist/'),
    )
    expect(outside).toEqual([])
    expect(paths.filter((path) => /\.(test|spec)\.ts$/.test(path))).toEqual([])
    expect(paths).toContain('src/server.ts')
    expect(paths).toContain('src/modules/sessions/sweep-worker.ts') // loaded by path at run time
    expect(paths).toContain('client/dist/wxauth.js')
    expect(paths).toContain('client/dist/wxauth.d.ts')

    const installed = await Bun.file(join(host, 'node_modules', 'wxauth', 'package.json')).json()
    expect(installed.private).toBeUndefined()
    expect(installed.license).toBe('MIT')
  }, 10_000)

  test('shares one copy of elysia with the host project', async () => {
    expect(
      await Bun.file(join(host, 'node_modules', 'wxauth', 'node_modules', 'elysia', 'package.json')).exists(),
    ).toBe(false)
    const elysia = await Bun.file(join(host, 'node_modules', 'elysia', 'package.json')).json()
    expect(elysia.version).toBe(packageJson.devDependencies.elysia)
  }, 10_000)

  test('runs in a host project: login, a route of its own behind { auth: true }, the client', async () => {
    const result = await run([BUN, 'run', 'host.ts'], host, 30_000)
    expectSuccess(result)
    const line = result.output.split('\n').find((text) => text.startsWith(RESULT_PREFIX))
    if (!line) throw new Error(`host.ts printed no result\n${result.output}`)
    expect(JSON.parse(line.slice(RESULT_PREFIX.length)), result.output).toEqual({
      login: 200,
      skey: 'string',
      mine: 200,
      mineBody: { id: 1 },
      anonymous: 401,
      client: 'function',
    })
  }, 40_000)

  test('type-checks in a strict TypeScript host (moduleResolution bundler)', async () => {
    const tsc = join(host, 'node_modules', 'typescript', 'bin', 'tsc')
    expectSuccess(await run([BUN, tsc, '-p', '.'], host, 90_000))
  }, 100_000)
})
