/**
 * The container files (Dockerfile, .dockerignore, compose.yaml, deploy/compose/) checked without a container
 * engine, which CI does not have: no image is built or run here, no compose project started.
 *
 * - The files themselves: versions, user, volume, health check, ports, environment and secrets, read from
 *   the Dockerfile's instructions and from compose.yaml parsed with Bun.YAML.
 * - What the image would run: the build stage's COPY lines applied to the repository (filtered by
 *   .dockerignore), its `bun run build` run on that copy, and the binary started the way the run stage
 *   does (ENTRYPOINT + CMD, its ENV, WORKDIR and numeric USER, every path under a temporary root), with the
 *   HEALTHCHECK command run against it. `bun install --frozen-lockfile` is not run (it needs the registry):
 *   the checkout's node_modules stands in for it.
 * - nginx.conf: `nginx -t` with the service names replaced by 127.0.0.1 ports, and with TEST_DATABASE_URL and
 *   TEST_REDIS_URL (test/backends.ts) nginx in front of two of those binaries on PostgreSQL + Redis.
 *
 * Processes run only when WXAUTH_TEST_BACKEND is unset or sqlite, so once per .ci/run; a missing nginx or
 * curl skips with one line, and fails under CI=true.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative, resolve } from 'node:path'
import packageJson from '../../package.json'
import { parseCommand } from '../../src/modules/admin/cli'
import { createWechatSimulator } from '../../src/server'
import { freshStores, reachableBackends } from '../backends'
import { type Child, findBinary, freePort, installedTool, spawnChild, stopChild, waitFor } from '../children'

const ROOT = resolve(import.meta.dir, '..', '..')
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')
const RUN_TIMEOUT_MS = 60_000

// ---------------------------------------------------------------------------------------------------------
// The Dockerfile, as instructions per stage

interface Instruction {
  keyword: string
  args: string
}

interface Stage {
  image: string
  name: string | null
  instructions: Instruction[]
}

/** Stages with their instructions: comments dropped, `\` continuations joined, keywords upper-cased. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line))
  const logical: string[] = []
  let pending = ''
  for (const line of lines) {
    if (/\\\s*$/.test(line)) {
      pending += `${line.replace(/\\\s*$/, '')} `
      continue
    }
    logical.push(pending + line)
    pending = ''
  }
  for (const line of logical.map((l) => l.trim()).filter(Boolean)) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const instruction = { keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ').trim() }
    if (instruction.keyword === 'FROM') {
      const [, image = '', name = null] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args) ?? []
      stages.push({ image, name, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword)
function one(stage: Stage, keyword: string): string {
  const found = all(stage, keyword)
  if (found.length !== 1)
    throw new Error(`expected one ${keyword} in the stage FROM ${stage.image}, found ${found.length}`)
  return (found[0] as Instruction).args
}

/** ["a", "b"] (exec form) or a shell command line (shell form). */
function commandOf(args: string): string[] | string {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : args
}

/** `ENV A=1 B=2` lines of a stage (the `ENV A 1` form is not used here). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const { args } of all(stage, 'ENV')) {
    for (const [, key = '', quoted, bare] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g))
      env[key] = quoted ?? bare ?? ''
  }
  return env
}

/** COPY [--from=stage] source... destination */
function copiesOf(stage: Stage): { from: string | null; sources: string[]; destination: string }[] {
  return all(stage, 'COPY').map(({ args }) => {
    const words = args.split(' ')
    const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length) ?? null
    const paths = words.filter((word) => !word.startsWith('--'))
    return { from, sources: paths.slice(0, -1), destination: paths.at(-1) ?? '' }
  })
}

const stages = parseDockerfile(read('Dockerfile'))
const runStage = stages.at(-1) as Stage
const binaryCopy = copiesOf(runStage).find((copy) => copy.from !== null)
const buildStage = stages.find((stage) => stage.name === binaryCopy?.from)
const runEnv = envOf(runStage)
const [uid = Number.NaN, gid = uid] = one(runStage, 'USER').split(':').map(Number)
const volume = commandOf(one(runStage, 'VOLUME'))
const volumePath = Array.isArray(volume) ? (volume[0] ?? '') : volume
const entrypoint = commandOf(one(runStage, 'ENTRYPOINT'))
const cmd = commandOf(one(runStage, 'CMD'))
const healthcheck = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(one(runStage, 'HEALTHCHECK'))?.[1] ?? ''

/** The build artifact the run stage copies, relative to the build stage's WORKDIR. */
function artifactPath(): string {
  if (!buildStage || !binaryCopy) throw new Error('the run stage copies no binary from a named build stage')
  return posix.relative(one(buildStage, 'WORKDIR'), binaryCopy.sources[0] ?? '')
}

// ---------------------------------------------------------------------------------------------------------
// .dockerignore, approximated with Bun.Glob: a path is out when a pattern matches it or one of its folders

const ignorePatterns = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const negated = line.startsWith('!')
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '')
    return { negated, glob: new Bun.Glob(pattern) }
  })

function ignored(path: string): boolean {
  const parts = path.split('/')
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let out = false
  for (const { negated, glob } of ignorePatterns) {
    if (prefixes.some((prefix) => glob.match(prefix))) out = !negated
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// compose.yaml

type Yaml = Record<string, unknown>
const isMap = (value: unknown): value is Yaml => typeof value === 'object' && value !== null && !Array.isArray(value)
const compose = Bun.YAML.parse(read('compose.yaml'))
const services: Record<string, Yaml> = isMap(compose) && isMap(compose.services) ? (compose.services as never) : {}
const buildsThisImage = (service: Yaml) =>
  service.build === '.' || (isMap(service.build) && (service.build.context ?? '.') === '.')
const wxauthServices = Object.keys(services).filter((name) => buildsThisImage(services[name] as Yaml))

/** A service's environment, from either the map or the list form. */
function environmentOf(service: Yaml | undefined): Record<string, string> {
  const env = service?.environment
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => String(entry).split(/=(.*)/s).slice(0, 2)))
  }
  return isMap(env) ? Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)])) : {}
}

const INTERPOLATION = /^\$\{[A-Z_][A-Z0-9_]*(?::?[?-][^}]*)?\}$/

/** KEY=VALUE lines of deploy/compose/env.example: what `docker run --env-file .env` would pass. */
const envExample: Record<string, string> = Object.fromEntries(
  read('deploy/compose/env.example')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => line.split(/=(.*)/s).slice(0, 2)),
)

// ---------------------------------------------------------------------------------------------------------
// Processes

const onSqlite = (process.env.WXAUTH_TEST_BACKEND ?? 'sqlite') === 'sqlite'

/** Whether `tool` is installed; says what is skipped, and refuses to skip under CI. */
const installed = (tool: string, what: string) =>
  installedTool(tool, { testFile: what, how: `apt-get install ${tool}`, skipped: what })

const healthProgram = typeof healthcheck === 'string' ? (healthcheck.split(' ')[0] ?? '') : ''
const canRunImage = onSqlite && installed(healthProgram, "test/deploy/container.test.ts's run of the image")
const canRunNginx = onSqlite && installed('nginx', "test/deploy/container.test.ts's nginx checks")
const withStores = canRunNginx && reachableBackends().includes('postgres+redis')

const children: Child[] = []
const scratch: string[] = []

/** Started from the repository's root unless `cwd` is given; stopped in afterAll. */
function spawn(argv: string[], env: Record<string, string>, cwd?: string): Child {
  const child = spawnChild(argv[0] ?? '', argv, env, cwd)
  children.push(child)
  return child
}

const listening = (child: Child) => () => /wxauth listening on (http:\/\/[^\s"]+)/.exec(child.output())?.[1]

function temporary(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  scratch.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(children.map(stopChild))
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  test('the build stage runs the Bun that package.json pins, installs from the lockfile and builds the binary the run stage copies', () => {
    expect(buildStage).toBeDefined()
    const stage = buildStage as Stage
    const pinned = packageJson.devDependencies['@types/bun']
    expect(stage.image).toBe(`oven/bun:${pinned}`)
    expect(packageJson.engines.bun).toBe(`>=${pinned}`)
    expect(read('.ci/run')).toContain(`BUN_VERSION=${pinned}\n`)
    const runs = all(stage, 'RUN').map((run) => run.args)
    expect(runs).toContain('bun install --frozen-lockfile')
    expect(runs.at(-1)).toBe('bun run build')
    // The artifact the run stage copies is the one `bun run build` writes.
    expect(packageJson.scripts.build).toContain(`--outfile ${artifactPath()}`)
  })

  test('the run stage: glibc base, numeric non-root USER owning the VOLUME, data under it, health check, SIGTERM, the copied binary serving', () => {
    expect(['debian:bookworm-slim', 'gcr.io/distroless/cc-debian12']).toContain(runStage.image)
    expect(uid).toBeGreaterThan(0)
    expect(gid).toBeGreaterThan(0)
    expect(volumePath).toBe('/var/lib/wxauth')
    const owned = all(runStage, 'RUN').some(
      ({ args }) =>
        new RegExp(`install -d (?:-\\S+ \\S+ )*-o ${uid} -g ${gid} (?:-\\S+ \\S+ )*${volumePath}(?: |$)`).test(args) ||
        new RegExp(`chown (?:-R )?${uid}:${gid} ${volumePath}(?: |$)`).test(args),
    )
    expect(owned).toBe(true)
    expect(one(runStage, 'WORKDIR')).toBe(volumePath)
    expect(runEnv).toMatchObject({ DATABASE_PATH: `${volumePath}/wxauth.db`, HOST: '0.0.0.0', PORT: '3000' })
    expect(one(runStage, 'EXPOSE')).toBe(runEnv.PORT as string)
    expect(healthcheck).toContain('/healthz')
    expect(one(runStage, 'STOPSIGNAL')).toBe('SIGTERM')
    expect(entrypoint).toEqual([binaryCopy?.destination as string])
    expect(Array.isArray(cmd) && parseCommand(cmd).name).toBe('serve')
  })

  test('.dockerignore keeps installed packages, local data, builds, git and secrets out of the build context', () => {
    for (const path of ['node_modules/elysia/package.json', 'data/wxauth.db', 'dist/wxauth', '.git/HEAD', '.env']) {
      expect(ignored(path)).toBe(true)
    }
    // ...but not what the build stage copies.
    for (const copy of copiesOf(buildStage as Stage))
      for (const source of copy.sources) expect(ignored(source)).toBe(false)
  })
})

let imageBuild: Promise<string> | null = null

/**
 * The build stage, once: its WORKDIR is a temporary folder, its COPY lines copy from the repository what
 * .dockerignore lets into the context, the checkout's node_modules stands in for `bun install`, and its
 * other RUN lines run there. Returns the path of the binary the run stage copies.
 */
function buildImageBinary(): Promise<string> {
  imageBuild ??= (async () => {
    const stage = buildStage as Stage
    const context = temporary('wxauth-image-build-')
    for (const copy of copiesOf(stage).filter((c) => c.from === null)) {
      if (copy.destination.startsWith('/')) throw new Error(`COPY to ${copy.destination}: only relative targets`)
      for (const source of copy.sources) {
        const isDirectory = statSync(join(ROOT, source)).isDirectory()
        const files = isDirectory
          ? readdirSync(join(ROOT, source), { recursive: true, encoding: 'utf8' }).map((f) => posix.join(source, f))
          : [source]
        for (const file of files.filter((f) => statSync(join(ROOT, f)).isFile() && !ignored(f))) {
          // A folder's contents go into the target; a file goes into a target ending in / or becomes it.
          const target = isDirectory
            ? join(context, copy.destination, relative(source, file))
            : copy.destination.endsWith('/')
              ? join(context, copy.destination, posix.basename(file))
              : join(context, copy.destination)
          mkdirSync(dirname(target), { recursive: true })
          copyFileSync(join(ROOT, file), target)
        }
      }
    }
    symlinkSync(join(ROOT, 'node_modules'), join(context, 'node_modules'))
    for (const { args } of all(stage, 'RUN').filter((run) => run.args !== 'bun install --frozen-lockfile')) {
      const run = Bun.spawn(['sh', '-c', args], { cwd: context, stdout: 'ignore', stderr: 'pipe' })
      if ((await run.exited) !== 0) throw new Error(`RUN ${args} failed:\n${await new Response(run.stderr).text()}`)
    }
    return join(context, artifactPath())
  })()
  return imageBuild
}

describe.if(canRunImage)('the image, run without Docker', () => {
  test(
    "the build stage's COPY lines and `bun run build` on the context .dockerignore leaves make the binary the run stage copies",
    async () => {
      const artifact = await buildImageBinary()
      expect(existsSync(artifact)).toBe(true)
      const version = Bun.spawnSync([artifact, '--version'])
      expect(version.stdout.toString()).toBe(`${packageJson.version}\n`)
    },
    RUN_TIMEOUT_MS,
  )

  test(
    'ENTRYPOINT + CMD with the ENV, WORKDIR and USER of the run stage: HEALTHCHECK passes, data lands in the VOLUME, STOPSIGNAL exits 0',
    async () => {
      const artifact = await buildImageBinary()
      // The image's file system under a temporary root: /usr/local/bin/wxauth, /var/lib/wxauth.
      const rootfs = temporary('wxauth-image-root-')
      chmodSync(rootfs, 0o755)
      const image = (path: string) => join(rootfs, path)
      mkdirSync(dirname(image(binaryCopy?.destination as string)), { recursive: true })
      copyFileSync(artifact, image(binaryCopy?.destination as string))
      chmodSync(image(binaryCopy?.destination as string), 0o755)
      mkdirSync(dirname(image(volumePath)), { recursive: true, mode: 0o755 })
      mkdirSync(image(volumePath), { mode: 0o750 }) // install -d -m 0750 in the run stage
      const asRoot = process.getuid?.() === 0
      if (asRoot) chownSync(image(volumePath), uid, gid)
      // Root here runs it as the image's USER; anyone else already runs it as a non-root user.
      const asUser = asRoot ? ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] : []

      // `docker run --env-file .env` on top of the image's ENV; a free port in place of 3000 (the same
      // value for the server and the health check, as in the container).
      const imageEnv = Object.fromEntries(
        Object.entries(runEnv).map(([key, value]) => [key, value.startsWith('/') ? image(value) : value]),
      )
      const env = { PATH: process.env.PATH ?? '', ...imageEnv, ...envExample, PORT: String(freePort()) }
      const [program = '', ...args] = entrypoint as string[]
      const server = spawn([...asUser, image(program), ...args, ...(cmd as string[])], env, image(volumePath))
      await waitFor(server, listening(server))

      const check = async () => {
        const probe = Bun.spawn([...asUser, 'sh', '-c', healthcheck], { env, stdout: 'ignore', stderr: 'ignore' })
        return probe.exited
      }
      expect(await check()).toBe(0)
      const database = statSync(imageEnv.DATABASE_PATH as string)
      if (asRoot) expect(database.uid).toBe(uid)

      server.proc.kill(one(runStage, 'STOPSIGNAL') as NodeJS.Signals)
      const stopped = await Promise.race([server.proc.exited, Bun.sleep(10_000).then(() => 'still running')])
      expect(stopped).toBe(0) // within `docker stop`'s 10 s
      expect(await check()).not.toBe(0)
    },
    RUN_TIMEOUT_MS,
  )
})

describe('compose.yaml', () => {
  test('two wxauth instances of this image on PostgreSQL + Redis, behind a proxy, started once the stores are healthy', () => {
    expect(wxauthServices).toHaveLength(2)
    for (const name of wxauthServices) {
      const service = services[name] as Yaml
      const env = environmentOf(service)
      const url = (value = '') => new URL(value.replace(/\$\{[^}]*\}/g, 'interpolated'))
      const database = url(env.DATABASE_URL)
      expect(database.protocol).toBe('postgres:')
      expect(services[database.hostname]).toBeDefined()
      const redis = url(env.REDIS_URL)
      expect(redis.protocol).toBe('redis:')
      expect(services[redis.hostname]).toBeDefined()
      expect(env.TRUST_PROXY).toBe('true')
      expect(env.WECHAT_APPID).toMatch(INTERPOLATION)
      expect(env.WECHAT_SECRET).toMatch(INTERPOLATION)
      expect(service.depends_on).toMatchObject({
        [database.hostname]: { condition: 'service_healthy' },
        [redis.hostname]: { condition: 'service_healthy' },
      })
    }
  })

  test('PostgreSQL and Redis: named volumes, health checks, Redis with its append-only file', () => {
    const volumes = isMap(compose) && isMap(compose.volumes) ? Object.keys(compose.volumes) : []
    const postgres = services.postgres as Yaml
    const redis = services.redis as Yaml
    expect(String(postgres.image)).toStartWith('postgres:')
    expect(String(redis.image)).toStartWith('redis:')
    const namedVolumeAt = (service: Yaml, target: string) =>
      (service.volumes as string[]).some(
        (v) => volumes.includes(v.split(':')[0] as string) && v.split(':')[1] === target,
      )
    expect(namedVolumeAt(postgres, '/var/lib/postgresql/data')).toBe(true)
    expect(namedVolumeAt(redis, '/data')).toBe(true)
    expect(JSON.stringify((postgres.healthcheck as Yaml).test)).toContain('pg_isready')
    expect(JSON.stringify((redis.healthcheck as Yaml).test)).toContain('redis-cli ping')
    const command = Array.isArray(redis.command) ? redis.command.join(' ') : String(redis.command)
    expect(command).toContain('--appendonly yes')
    expect(command).toContain('--appendfsync everysec')
    expect(redis.ports).toBeUndefined()
    expect(postgres.ports).toBeUndefined()
  })

  test('nginx publishes a port, uses deploy/compose/nginx.conf and waits for healthy instances', () => {
    const nginx = services.nginx as Yaml
    expect((nginx.ports as unknown[]).length).toBeGreaterThan(0)
    expect(nginx.volumes).toContain('./deploy/compose/nginx.conf:/etc/nginx/conf.d/default.conf:ro')
    for (const name of wxauthServices) {
      expect(nginx.depends_on).toMatchObject({ [name]: { condition: 'service_healthy' } })
    }
  })

  test('no secret in the file: passwords and secrets come from .env, and env.example names each of them', () => {
    for (const service of Object.values(services)) {
      for (const [key, value] of Object.entries(environmentOf(service))) {
        if (/PASSWORD|SECRET|TOKEN|KEY/.test(key)) expect(value).toMatch(INTERPOLATION)
        const password = /^[a-z]+:\/\/[^:/@]+:(\$\{[^}]*\}|[^@/]*)@/.exec(value)?.[1]
        if (password !== undefined) expect(password).toMatch(INTERPOLATION)
      }
    }
    const referenced = [...read('compose.yaml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((match) => match[1])
    expect(referenced.length).toBeGreaterThan(0)
    for (const name of referenced) expect(Object.keys(envExample)).toContain(name as string)
  })
})

describe.if(canRunNginx)('deploy/compose/nginx.conf', () => {
  const recipe = read('deploy/compose/nginx.conf')
  const port = runEnv.PORT as string

  /** The recipe with the instances and the listener on 127.0.0.1 ports, in a main nginx.conf of its own. */
  function nginxConfig(instances: number[], listen: number): string {
    const dir = temporary('wxauth-compose-nginx-')
    let site = recipe
    wxauthServices.forEach((name, i) => {
      const from = `server ${name}:${port};`
      if (!site.includes(from)) throw new Error(`deploy/compose/nginx.conf no longer has "${from}"`)
      site = site.replace(from, `server 127.0.0.1:${instances[i]};`)
    })
    if (!site.includes('listen 80;')) throw new Error('deploy/compose/nginx.conf no longer has "listen 80;"')
    site = site.replace('listen 80;', `listen 127.0.0.1:${listen};`)
    writeFileSync(join(dir, 'default.conf'), site)
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((name) => `${name}_temp_path ${join(dir, name)};`)
      .join('\n  ')
    const main = `pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events {}
http {
  access_log ${join(dir, 'access.log')};
  ${temp}
  include ${join(dir, 'default.conf')};
}
`
    writeFileSync(join(dir, 'nginx.conf'), main)
    return join(dir, 'nginx.conf')
  }

  test('balances over both instances at the image port with keep-alive, replaces X-Forwarded-For, denies /metrics; nginx -t accepts it', async () => {
    expect(recipe).toMatch(/^\s*keepalive \d+;/m)
    expect(recipe).toMatch(/^\s*proxy_set_header X-Forwarded-For \$remote_addr;/m)
    expect(recipe).not.toContain('$proxy_add_x_forwarded_for;')
    expect(recipe).toMatch(/^\s*proxy_set_header X-Forwarded-Proto \$scheme;/m)
    expect(recipe).toMatch(/location \^~ \/metrics \{\s*(?:deny all|return 404);/)
    const conf = nginxConfig([freePort(), freePort()], freePort())
    const nginx = Bun.spawn([findBinary('nginx') as string, '-t', '-q', '-c', conf], { stderr: 'pipe' })
    const [code, stderr] = await Promise.all([nginx.exited, new Response(nginx.stderr).text()])
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })

  test.if(withStores)(
    "in front of two image binaries on PostgreSQL + Redis with compose.yaml's environment: a login on one works on the other, /metrics stays inside, a forged X-Forwarded-For buys no login budget",
    async () => {
      const binary = await buildImageBinary()
      await freshStores('postgres+redis')
      const simulator = createWechatSimulator({ appid: 'wxcompose', secret: 'compose-secret' })
      const wechat = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => simulator.fetch(request) })
      try {
        const ports = [freePort(), freePort()]
        const composed = environmentOf(services[wxauthServices[0] as string])
        const instances = ports.map((instancePort) =>
          spawn([binary, ...(cmd as string[])], {
            PATH: process.env.PATH ?? '',
            ...composed,
            DATABASE_URL: process.env.TEST_DATABASE_URL ?? '',
            REDIS_URL: process.env.TEST_REDIS_URL ?? '',
            WECHAT_APPID: 'wxcompose',
            WECHAT_SECRET: 'compose-secret',
            WECHAT_API_BASE: `http://127.0.0.1:${wechat.port}`,
            HOST: '127.0.0.1',
            PORT: String(instancePort),
            METRICS: 'true',
            LOGIN_RATE_LIMIT: '3',
          }),
        )
        for (const instance of instances) await waitFor(instance, listening(instance))
        const listen = freePort()
        const nginx = spawn([findBinary('nginx') as string, '-c', nginxConfig(ports, listen), '-g', 'daemon off;'], {
          PATH: process.env.PATH ?? '',
        })
        const url = `http://127.0.0.1:${listen}`
        await waitFor(nginx, () =>
          fetch(`${url}/healthz`).then(
            (r) => r.status === 200,
            () => false,
          ),
        )

        const login = (forged: string) =>
          fetch(`${url}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': forged },
            body: JSON.stringify({ code: simulator.issueCode('through-nginx') }),
          })
        const first = await login('203.0.113.1')
        expect(first.status).toBe(200)
        const { skey } = (await first.json()) as { skey: string }
        for (let i = 0; i < 4; i++) {
          expect((await fetch(`${url}/auth/me`, { headers: { skey } })).status).toBe(200)
        }
        // TRUST_PROXY=true and the header replaced: every client here is 127.0.0.1, whatever it claims.
        const statuses = [first.status]
        for (const forged of ['203.0.113.2', '203.0.113.3', '203.0.113.4']) statuses.push((await login(forged)).status)
        expect(statuses).toEqual([200, 200, 200, 429])
        expect((await fetch(`${url}/metrics`)).status).toBe(404)
        expect((await fetch(`http://127.0.0.1:${ports[0]}/metrics`)).status).toBe(200)

        await Bun.sleep(300) // request log lines are written at most 100 ms late
        for (const instance of instances) expect(instance.output()).toContain('"path":"/auth/me"')
      } finally {
        await wechat.stop(true)
      }
    },
    RUN_TIMEOUT_MS,
  )
})
