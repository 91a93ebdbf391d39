// `bun run bench`: drives the real server with wrk and writes BENCHMARKS.md. See BENCHMARKS.md for the method.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createSessionStore, openDatabase, startSweeper } from '../src/server'
import { seedDatabase } from './seed'

const ROOT = resolve(import.meta.dir, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = 64
const DATA = join(tmpdir(), 'wxauth-bench')
/** How long the idle event loop is watched before each sweep, for the machine's own stalls. */
const IDLE_WATCH_MS = 15_000
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

if (!Bun.which('wrk')) {
  console.error('bench: wrk is missing. Install it with: sudo apt-get install -y wrk')
  process.exit(1)
}
mkdirSync(DATA, { recursive: true })

interface WrkResult {
  rps: number
  p50Ms: number
  p99Ms: number
  requests: number
  /** Connect, read, write and timeout errors. */
  socketErrors: number
  /** Answers with a status of 400 or more (what wrk counts as a status error; 204 is a success). */
  httpErrors: number
  /** The server process's CPU time (user + system, all its threads) during the run, per request. */
  cpuUsPerRequest: number
}

/** The line bench/wrk/report.lua prints after `WRK_RESULT `. */
interface WrkReport {
  requests: number
  duration_us: number
  socket_errors: number
  non_2xx: number
  p50_us: number
  p99_us: number
  max_us: number
}

/** Clock ticks per second: the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS = clockTicksPerSecond()

function clockTicksPerSecond(): number {
  const ticks = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim())
  if (!Number.isInteger(ticks) || ticks <= 0) throw new Error('bench: `getconf CLK_TCK` gave no tick rate')
  return ticks
}

/** utime and stime are fields 14 and 15 of /proc/<pid>/stat; field 3 is the first after the comm. */
const UTIME_AFTER_COMM = 14 - 3
const STIME_AFTER_COMM = 15 - 3

/** A process's user + system CPU time so far, all its threads included, in µs (clock-tick resolution). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The comm (field 2) is in parentheses and may itself hold spaces and ')': the fields after it follow the last ')'.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/)
  const ticks = Number(fields[UTIME_AFTER_COMM]) + Number(fields[STIME_AFTER_COMM])
  if (!Number.isFinite(ticks)) throw new Error(`bench: no utime/stime in /proc/${pid}/stat: ${stat}`)
  return (ticks / CLOCK_TICKS) * 1e6
}

/** A server under load: where wrk sends requests, and whose CPU time is counted. */
interface Target {
  url: string
  pid: number
}

let wrkRuns = 0
let warmingUp = false

/** Runs wrk against `path` on `server`, and reads the server's CPU time before and after. */
async function wrk(server: Target, path: string, script: string, env: Record<string, string> = {}): Promise<WrkResult> {
  const seconds = warmingUp ? 1 : SECONDS
  const url = `${server.url}${path}`
  const cpuBeforeUs = processCpuUs(server.pid)
  const proc = Bun.spawn(
    ['wrk', '-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', join(ROOT, 'bench/wrk', script), url],
    {
      env: {
        ...process.env,
        WRK_REPORT: join(ROOT, 'bench/wrk/report.lua'),
        RUN_ID: `${process.pid}-${++wrkRuns}`,
        ...env,
      },
      stdout: 'pipe',
    },
  )
  const out = await new Response(proc.stdout).text()
  await proc.exited
  const cpuUs = processCpuUs(server.pid) - cpuBeforeUs
  const line = out.split('\n').find((l) => l.startsWith('WRK_RESULT '))
  if (!line) throw new Error(`wrk gave no result for ${url}:\n${out}`)
  const r: WrkReport = JSON.parse(line.slice('WRK_RESULT '.length))
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    requests: r.requests,
    socketErrors: r.socket_errors,
    httpErrors: r.non_2xx,
    cpuUsPerRequest: r.requests > 0 ? cpuUs / r.requests : Number.NaN,
  }
}

/** "0", or the errors by kind, so that answers of 400 and more stand out from dropped connections. */
function errorsText({ socketErrors, httpErrors }: Pick<WrkResult, 'socketErrors' | 'httpErrors'>): string {
  if (socketErrors + httpErrors === 0) return '0'
  return [socketErrors > 0 ? `${socketErrors} socket` : '', httpErrors > 0 ? `${httpErrors} HTTP ≥ 400` : '']
    .filter(Boolean)
    .join(', ')
}

interface Proc {
  url: string
  pid: number
  stop(): Promise<void>
  output(): string
  logPath: string
}

let serverLogs = 0
const removeServerLogs = () => {
  for (const name of readdirSync(DATA))
    if (/^server-\d+-\d+\.log$/.test(name)) rmSync(join(DATA, name), { force: true })
}

/**
 * Starts a process whose stdout goes to a file, as under journald or Docker: the server's request
 * log lines cost what they cost in production, and nothing piles up in this process's memory.
 */
async function spawnServer(cmd: string[], env: Record<string, string>, ready: RegExp): Promise<Proc> {
  const logPath = join(DATA, `server-${process.pid}-${++serverLogs}.log`)
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: Bun.file(logPath),
    stderr: 'inherit',
  })
  const deadline = Date.now() + 30_000
  const head = async () => ((await Bun.file(logPath).exists()) ? Bun.file(logPath).slice(0, 65_536).text() : '')
  let match: RegExpMatchArray | null = null
  while (!match) {
    if (Date.now() > deadline) throw new Error(`${cmd.join(' ')} did not start:\n${await head()}`)
    if (proc.exitCode !== null) throw new Error(`${cmd.join(' ')} exited:\n${await head()}`)
    await Bun.sleep(20)
    match = (await head()).match(ready)
  }
  return {
    url: match[1] as string,
    pid: proc.pid,
    output: () => readFileSync(logPath, 'utf8'),
    logPath,
    async stop() {
      proc.kill('SIGTERM')
      await proc.exited
    },
  }
}

const serverCmd = ['bun', 'src/index.ts']
const serverEnv = (path: string, wechatUrl: string, extra: Record<string, string> = {}) => ({
  HOST: '127.0.0.1',
  PORT: '0',
  DATABASE_PATH: path,
  WECHAT_APPID: 'wxbench',
  WECHAT_SECRET: 'bench-secret',
  WECHAT_API_BASE: wechatUrl,
  SWEEP_INTERVAL: '3600',
  // wrk logs in from one address thousands of times a second: measure the write path, not the limiter.
  LOGIN_RATE_LIMIT: '0',
  ...extra,
})
const LISTENING = /wxauth listening on (http:\/\/[^\s"]+)/

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb / 1024
}

// ---- databases (seeded once, reused between runs)
function seeded(name: string, live: number, expired = 0): { path: string; skey: string } {
  const path = join(DATA, `${name}.db`)
  const skeyFile = `${path}.skey`
  if (!existsSync(skeyFile)) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
    console.log(`bench: seeding ${name} (${live} live, ${expired} expired sessions)…`)
    const { skeys } = seedDatabase(path, { liveSessions: live, expiredSessions: expired, keep: 1 })
    Bun.write(skeyFile, skeys[0] as string)
    return { path, skey: skeys[0] as string }
  }
  return { path, skey: readFileSync(skeyFile, 'utf8') }
}

const dbs = {
  k1: seeded('sessions-1k', 1_000),
  k100: seeded('sessions-100k', 100_000),
  m1: seeded('sessions-1m', 1_000_000),
}
const sweepTemplate = seeded('sweep-1m-expired', 1_000, 1_000_000)

// ---- micro: lookups and the sweep, in this process
function microLookupUs(path: string): { uncached: number; cached: number } {
  const db = openDatabase(path)
  const tokens = db.query<{ n: number }, []>('SELECT count(*) AS n FROM sessions').get()
  void tokens
  const skey = readFileSync(`${path}.skey`, 'utf8')
  const cold = createSessionStore(db, { cacheEntries: 1 })
  const other = createSessionStore(db, { cacheEntries: 1 })
  const otherSkey = 'A'.repeat(43)
  const n = 20_000
  let t = Bun.nanoseconds()
  for (let i = 0; i < n; i++) {
    cold.validate(skey, Date.now())
    other.validate(otherSkey, Date.now()) // a miss in between keeps `cold` from answering from memory
  }
  const uncached = (Bun.nanoseconds() - t) / n / 1000 / 2
  const warm = createSessionStore(db)
  t = Bun.nanoseconds()
  for (let i = 0; i < n * 10; i++) warm.validate(skey, Date.now())
  const cached = (Bun.nanoseconds() - t) / (n * 10) / 1000
  db.close()
  return { uncached, cached }
}

/** This thread's time on a CPU and waiting for one, in ms (Linux schedstat); null where the kernel has none. */
function threadCpuTimes(): { onCpuMs: number; waitingMs: number } | null {
  try {
    const [onCpuNs, waitingNs] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number)
    return { onCpuMs: (onCpuNs as number) / 1e6, waitingMs: (waitingNs as number) / 1e6 }
  } catch {
    return null
  }
}

/** The longest gap between two ticks, and what this thread did during it. */
interface LoopGap {
  gapMs: number
  /** Running JavaScript or in a system call: the event loop's own block. */
  onCpuMs: number | null
  /** Runnable, but every core was busy with other threads. */
  waitingMs: number | null
}

/**
 * Watches the event loop with a 1 ms timer; `stop()` gives the longest gap beyond the timer's own 1 ms
 * and, from schedstat, how much of it this thread spent on a CPU, waiting for one, or neither (asleep:
 * the timer fired late, which on a VM is the host not running the guest's CPU).
 */
function watchEventLoop() {
  let longest: LoopGap = { gapMs: 0, onCpuMs: null, waitingMs: null }
  let busiestMs = 0
  let last = performance.now()
  let lastTimes = threadCpuTimes()
  const monitor = setInterval(() => {
    const now = performance.now()
    const times = threadCpuTimes()
    const onCpuMs = times && lastTimes ? times.onCpuMs - lastTimes.onCpuMs : null
    const waitingMs = times && lastTimes ? times.waitingMs - lastTimes.waitingMs : null
    if (onCpuMs !== null) busiestMs = Math.max(busiestMs, onCpuMs)
    if (now - last > longest.gapMs) longest = { gapMs: now - last, onCpuMs, waitingMs }
    last = now
    lastTimes = times
  }, 1)
  return {
    restart() {
      longest = { gapMs: 0, onCpuMs: null, waitingMs: null }
      busiestMs = 0
      last = performance.now()
      lastTimes = threadCpuTimes()
    },
    /** The longest gap, and the most time the thread itself was on a CPU between two ticks. */
    stop(): { longest: LoopGap; busiestMs: number | null } {
      clearInterval(monitor)
      return {
        longest: { ...longest, gapMs: Math.max(0, longest.gapMs - 1) },
        busiestMs: lastTimes ? busiestMs : null,
      }
    },
  }
}

interface SweepRun {
  totalMs: number
  deleted: number
  /** The longest gap while the sweep ran, and while nothing ran (the machine's floor). */
  during: ReturnType<ReturnType<typeof watchEventLoop>['stop']>
  idle: ReturnType<ReturnType<typeof watchEventLoop>['stop']>
}

async function microSweep(): Promise<SweepRun> {
  // The floor: the same watch over an event loop with nothing to do, for as long as a sweep takes.
  // On a shared VM the thread is sometimes not scheduled for 10–30 ms, sweep or no sweep.
  const idleWatch = watchEventLoop()
  await Bun.sleep(IDLE_WATCH_MS)
  const idle = idleWatch.stop()

  const path = join(DATA, 'sweep-micro.db')
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  copyFileSync(sweepTemplate.path, path)
  const db = openDatabase(path)
  const sessions = createSessionStore(db)
  const watch = watchEventLoop()
  const sweeper = startSweeper({ sessions, intervalMs: 3_600_000, clock: Date.now, worker: { db, path } })
  await Bun.sleep(1000) // the worker's start-up is a one-time cost at server start, not part of the sweep
  watch.restart()
  const started = performance.now()
  const deleted = await sweeper.sweepNow()
  const totalMs = performance.now() - started
  const during = watch.stop()
  await sweeper.stop()
  db.close()
  return { totalMs, deleted, during, idle }
}

const ms = (value: number | null) => (value === null ? 'n/a' : value.toFixed(1))

/** The sweep micro runs `rounds` times: a single run on a shared machine catches other tenants' stalls. */
async function microSweeps(rounds: number) {
  const runs: SweepRun[] = []
  for (let i = 0; i < rounds; i++) runs.push(await microSweep())
  const each = (pick: (run: SweepRun) => number | null) => runs.map((run) => ms(pick(run))).join(', ')
  const medianOf = (pick: (run: SweepRun) => number | null) => {
    const values = runs.map(pick)
    return values.includes(null) ? null : median(values as number[])
  }
  /** "gap (on a CPU x, waiting for one y)" for each run. */
  const breakdown = (pick: (run: SweepRun) => LoopGap) =>
    runs
      .map((run) => {
        const gap = pick(run)
        return `${ms(gap.gapMs)} (on CPU ${ms(gap.onCpuMs)}, waiting ${ms(gap.waitingMs)})`
      })
      .join('; ')
  return {
    deleted: runs[0]?.deleted ?? 0,
    totalMs: median(runs.map((run) => run.totalMs)),
    longestBlockMs: median(runs.map((run) => run.during.longest.gapMs)),
    blocks: each((run) => run.during.longest.gapMs),
    blockBreakdown: breakdown((run) => run.during.longest),
    busiestMs: medianOf((run) => run.during.busiestMs),
    busiest: each((run) => run.during.busiestMs),
    idleGapMs: median(runs.map((run) => run.idle.longest.gapMs)),
    idleGaps: each((run) => run.idle.longest.gapMs),
    idleBreakdown: breakdown((run) => run.idle.longest),
  }
}

console.log('bench: micro measurements…')
const micro = {
  k1: microLookupUs(dbs.k1.path),
  k100: microLookupUs(dbs.k100.path),
  m1: microLookupUs(dbs.m1.path),
  sweep: await microSweeps(ROUNDS),
}

// ---- PostgreSQL and Redis for the backend scenarios: TEST_DATABASE_URL / TEST_REDIS_URL when set,
// else throwaway servers from .ci/services.sh (installed from Debian when absent), stopped at the end.
async function remoteServices(): Promise<{ databaseUrl: string; redisUrl: string; stop: () => void }> {
  const { TEST_DATABASE_URL, TEST_REDIS_URL } = process.env
  if (TEST_DATABASE_URL && TEST_REDIS_URL)
    return { databaseUrl: TEST_DATABASE_URL, redisUrl: TEST_REDIS_URL, stop() {} }
  console.log('bench: starting PostgreSQL and Redis with .ci/services.sh…')
  const started = Bun.spawnSync(['bash', join(ROOT, '.ci/services.sh')], { stderr: 'inherit' })
  const exports = Object.fromEntries(
    started.stdout
      .toString()
      .split('\n')
      .map((line) => /^export (\w+)=(.*)$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1], match[2]]),
  )
  if (started.exitCode !== 0 || !exports.TEST_DATABASE_URL || !exports.TEST_REDIS_URL) {
    throw new Error('bench: .ci/services.sh could not start PostgreSQL and Redis')
  }
  return {
    databaseUrl: exports.TEST_DATABASE_URL,
    redisUrl: exports.TEST_REDIS_URL,
    stop: () =>
      Bun.spawnSync(['bash', join(ROOT, '.ci/services.sh'), 'stop'], {
        env: { ...process.env, WXAUTH_SERVICES_DIR: exports.WXAUTH_SERVICES_DIR },
      }),
  }
}

/** 1,000 logins through the server (as on SQLite, 1k sessions), then one of their skeys. */
async function seedOverHttp(server: Proc, runId: string): Promise<string> {
  let skey = ''
  for (let i = 0; i < 1000; i += 50) {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        fetch(`${server.url}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ code: `user${i + j}#seed-${runId}-${i + j}` }),
        }).then((response) => response.json() as Promise<{ skey: string }>),
      ),
    )
    skey = answers[0]?.skey ?? skey
  }
  if (!skey) throw new Error('bench: seeding logins failed')
  return skey
}

// ---- HTTP scenarios
const wechat = await spawnServer(['bun', 'bench/wechat-standin.ts'], {}, /wechat listening on (http:\/\/\S+)/)
const remote = await remoteServices()
/**
 * A server on PostgreSQL (and Redis), seeded once; it runs only during its own scenario, as the login
 * scenario's does, so no idle extra server shares the cores with the SQLite scenarios.
 */
async function remoteBackend(extra: Record<string, string>) {
  const start = () => spawnServer(serverCmd, serverEnv(join(DATA, 'unused.db'), wechat.url, extra), LISTENING)
  const seeding = await start()
  const skey = await seedOverHttp(seeding, `${process.pid}-${Object.keys(extra).length}`)
  await seeding.stop()
  rmSync(seeding.logPath, { force: true })
  return async () => {
    const server = await start()
    try {
      return await wrk(server, '/auth/me', 'skey.lua', { SKEY: skey })
    } finally {
      await server.stop()
      rmSync(server.logPath, { force: true })
    }
  }
}
const onPostgres = await remoteBackend({ DATABASE_URL: remote.databaseUrl })
const onRedis = await remoteBackend({ DATABASE_URL: remote.databaseUrl, REDIS_URL: remote.redisUrl })
const servers = {
  k1: await spawnServer(serverCmd, serverEnv(dbs.k1.path, wechat.url), LISTENING),
  k100: await spawnServer(serverCmd, serverEnv(dbs.k100.path, wechat.url), LISTENING),
  m1: await spawnServer(serverCmd, serverEnv(dbs.m1.path, wechat.url), LISTENING),
}
/** What GET /auth/me answers the 1k scenario's skey: raw Bun.serve answers the same JSON (the issue's floor). */
const meBody = await fetch(`${servers.k1.url}/auth/me`, { headers: { skey: dbs.k1.skey } }).then((response) =>
  response.ok ? response.text() : Promise.reject(new Error(`bench: GET /auth/me answered ${response.status}`)),
)
const rawServer = (env: Record<string, string>) =>
  spawnServer(['bun', 'bench/raw-server.ts'], { PORT: '0', ...env }, /raw listening on (http:\/\/\S+)/)
const raw = await rawServer({ RAW_BODY: meBody })
/** For the breakdown only: the same bare server with the smallest JSON answer. */
const rawOk = await rawServer({})
const loginDb = join(DATA, 'login.db')
/** GET /auth/me built up part by part (bench/steps-server.ts), on the 1k database: where the µs go. */
const STEPS = {
  json: "the same JSON from an entry in Bun's native routes instead of the fetch handler, no skey read",
  headers:
    "+ reading the `x-request-id` and `skey` headers, as the real route does: Bun builds the request's Headers on first use",
  check:
    "+ the skey check and the answer: wxauth's plain /auth/me (SHA-256, cache, user, the body serialized once per session instead of Response.json)",
  id: '+ the request id and its echo: the real route through servedWithTelemetry at LOG_LEVEL=warn',
} as const
const stepServer = (step: string) =>
  spawnServer(
    ['bun', 'bench/steps-server.ts'],
    { STEP: step, DATABASE_PATH: dbs.k1.path, SKEY: dbs.k1.skey },
    /listening on (http:\/\/\S+)/,
  )
const steps = {
  json: await stepServer('json'),
  headers: await stepServer('headers'),
  check: await stepServer('check'),
  id: await stepServer('id'),
  elysia: await stepServer('elysia'),
  echo: await stepServer('echo'),
}
const stepScenario = (step: keyof typeof steps) => ({
  name: `step: ${step}`,
  run: () => wrk(steps[step], '/auth/me', 'skey.lua', { SKEY: dbs.k1.skey }),
})

type Scenario = { name: string; run: () => Promise<WrkResult> }
/**
 * /auth/me on a fresh copy of the 1M-expired database, on a fresh server: with SWEEP_INTERVAL=1 it
 * sweeps under the load; with 3600 it does not, the control that differs from it by the sweep alone.
 */
async function onSweepTemplate(sweepInterval: string, afterwards: (server: Proc) => void = () => {}) {
  const path = join(DATA, 'sweep-run.db')
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  copyFileSync(sweepTemplate.path, path)
  const server = await spawnServer(serverCmd, serverEnv(path, wechat.url, { SWEEP_INTERVAL: sweepInterval }), LISTENING)
  try {
    return await wrk(server, '/auth/me', 'skey.lua', { SKEY: sweepTemplate.skey })
  } finally {
    await server.stop()
    afterwards(server)
    rmSync(server.logPath, { force: true })
  }
}

const scenarios: Scenario[] = [
  // raw, /auth/me and /auth/verify back to back: the ratios' pairs see the same machine in each round.
  { name: "raw Bun.serve, /auth/me's JSON (separate process)", run: () => wrk(raw, '/', 'skey.lua', { SKEY: '' }) },
  { name: 'GET /auth/me, 1k sessions', run: () => wrk(servers.k1, '/auth/me', 'skey.lua', { SKEY: dbs.k1.skey }) },
  {
    name: 'GET /auth/verify (forward auth, 204), 1k sessions',
    run: () => wrk(servers.k1, '/auth/verify', 'skey.lua', { SKEY: dbs.k1.skey }),
  },
  { name: 'step: ok', run: () => wrk(rawOk, '/', 'skey.lua', { SKEY: '' }) },
  stepScenario('json'),
  stepScenario('headers'),
  stepScenario('check'),
  stepScenario('id'),
  stepScenario('elysia'),
  stepScenario('echo'),
  { name: 'GET /healthz', run: () => wrk(servers.k1, '/healthz', 'skey.lua', { SKEY: '' }) },
  {
    name: 'GET /auth/me, 100k sessions',
    run: () => wrk(servers.k100, '/auth/me', 'skey.lua', { SKEY: dbs.k100.skey }),
  },
  { name: 'GET /auth/me, 1M sessions', run: () => wrk(servers.m1, '/auth/me', 'skey.lua', { SKEY: dbs.m1.skey }) },
  { name: 'GET /notes', run: () => wrk(servers.k1, '/notes', 'skey.lua', { SKEY: dbs.k1.skey }) },
  {
    name: 'POST /auth/login (local WeChat stand-in)',
    async run() {
      for (const suffix of ['', '-wal', '-shm']) rmSync(loginDb + suffix, { force: true })
      const server = await spawnServer(serverCmd, serverEnv(loginDb, wechat.url), LISTENING)
      try {
        return await wrk(server, '/auth/login', 'login.lua')
      } finally {
        await server.stop()
      }
    },
  },
  {
    name: 'GET /auth/me during a sweep of 1M expired sessions',
    run: () =>
      onSweepTemplate('1', (server) =>
        sweepLogs.push(
          server
            .output()
            .split('\n')
            .find((l) => l.includes('swept')) ?? 'no sweep logged',
        ),
      ),
  },
  {
    name: 'GET /auth/me on the same database, sweep off (control)',
    run: () => onSweepTemplate('3600'),
  },
  { name: 'GET /auth/me on PostgreSQL (users and sessions)', run: onPostgres },
  { name: 'GET /auth/me on PostgreSQL + Redis (sessions in Redis)', run: onRedis },
]
const sweepLogs: string[] = []
const results = new Map<string, WrkResult[]>(scenarios.map((s) => [s.name, []]))
console.log('bench: warm-up pass (1 s per scenario, not recorded)…')
warmingUp = true
for (const scenario of scenarios) await scenario.run()
warmingUp = false
sweepLogs.length = 0
for (let round = 1; round <= ROUNDS; round++) {
  for (const scenario of scenarios) {
    const result = await scenario.run()
    results.get(scenario.name)?.push(result)
    console.log(
      `round ${round}: ${scenario.name}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, CPU ${result.cpuUsPerRequest.toFixed(1)} µs/request, errors ${errorsText(result)}`,
    )
  }
}
const peakRss = peakRssMb(servers.m1.pid)
for (const server of [wechat, raw, rawOk, ...Object.values(servers), ...Object.values(steps)]) await server.stop()
remote.stop()
removeServerLogs()

// ---- report
const stat = (name: string, pick: (r: WrkResult) => number) => {
  const xs = (results.get(name) ?? []).map(pick)
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
}
/** The sum over a scenario's rounds. */
const total = (name: string, pick: (r: WrkResult) => number) =>
  (results.get(name) ?? []).reduce((sum, r) => sum + pick(r), 0)
const rows = scenarios
  .filter((s) => !s.name.startsWith('step: '))
  .map((s) => {
    const rps = stat(s.name, (r) => r.rps)
    const p50 = stat(s.name, (r) => r.p50Ms)
    const p99 = stat(s.name, (r) => r.p99Ms)
    const cpu = stat(s.name, (r) => r.cpuUsPerRequest)
    const httpErrors = total(s.name, (r) => r.httpErrors)
    const errors = errorsText({ socketErrors: total(s.name, (r) => r.socketErrors), httpErrors })
    return `| ${s.name} | ${Math.round(rps.median)} (${Math.round(rps.min)}–${Math.round(rps.max)}) | ${p50.median.toFixed(2)} | ${p99.median.toFixed(2)} (${p99.min.toFixed(2)}–${p99.max.toFixed(2)}) | ${cpu.median.toFixed(1)} (${cpu.min.toFixed(1)}–${cpu.max.toFixed(1)}) | ${httpErrors > 0 ? `**${errors}**` : errors} |`
  })
/** A scenario's place in the table, by the start of its name. */
const scenarioAt = (prefix: string) => {
  const index = scenarios.findIndex((s) => s.name.startsWith(prefix))
  if (index < 0) throw new Error(`bench: no scenario named ${prefix}…`)
  return index
}
const at = {
  raw: scenarioAt("raw Bun.serve, /auth/me's"),
  me1k: scenarioAt('GET /auth/me, 1k'),
  verify: scenarioAt('GET /auth/verify'),
  me1m: scenarioAt('GET /auth/me, 1M'),
  login: scenarioAt('POST /auth/login'),
  sweep: scenarioAt('GET /auth/me during a sweep'),
  sweepOff: scenarioAt('GET /auth/me on the same database, sweep off'),
  postgres: scenarioAt('GET /auth/me on PostgreSQL (users'),
  redis: scenarioAt('GET /auth/me on PostgreSQL + Redis'),
}
const nameOf = (i: number) => (scenarios[i] as Scenario).name
const rpsOf = (i: number) => stat(nameOf(i), (r) => r.rps).median
const cpuOf = (i: number) => stat(nameOf(i), (r) => r.cpuUsPerRequest).median
const roundsOf = (i: number) => results.get(nameOf(i)) ?? []
const cpu = (r: WrkResult) => r.cpuUsPerRequest
const listed = (xs: number[], digits = 2) => xs.map((x) => x.toFixed(digits)).join(', ')
/** a ÷ b measured in the same round, for each round, so noise between rounds cancels. */
const perRound = (a: number, b: number, pick: (r: WrkResult) => number) =>
  roundsOf(a).map((r, round) => pick(r) / pick(roundsOf(b)[round] as WrkResult))
/** Median over rounds of a ÷ b measured in the same round. */
function ratio(a: number, b: number, pick: (r: WrkResult) => number = (r) => r.rps): string {
  const per = perRound(a, b, pick)
  return `${median(per).toFixed(2)} (per round: ${listed(per)})`
}
/** The lowest per-round a ÷ b, for a target that must hold in every round. */
function minRatio(a: number, b: number, pick: (r: WrkResult) => number = (r) => r.rps): string {
  const per = perRound(a, b, pick)
  return `min ${Math.min(...per).toFixed(2)} (median ${median(per).toFixed(2)}; per round: ${listed(per)})`
}
/** A CPU ratio with the two medians it comes from. */
const cpuRatio = (a: number, b: number) =>
  `${ratio(a, b, cpu)}; medians ${cpuOf(a).toFixed(1)} ÷ ${cpuOf(b).toFixed(1)} µs${httpErrorNote(a, b)}`
/**
 * A warning beside a figure from scenarios that answered with errors (an endpoint not deployed yet, say):
 * their req/s and CPU are then those of the error answer, not of the route.
 */
function httpErrorNote(...indices: number[]): string {
  return indices
    .map((i) => {
      const failed = roundsOf(i).reduce((sum, r) => sum + r.httpErrors, 0)
      const requests = roundsOf(i).reduce((sum, r) => sum + r.requests, 0)
      return failed === 0
        ? ''
        : ` — **not a measure of ${nameOf(i)}: ${failed} of ${requests} answers had a status ≥ 400**`
    })
    .join('')
}
const sweep = micro.sweep
const cpuRounds = (name: string) => (results.get(name) ?? []).map((r) => r.cpuUsPerRequest)
/** A breakdown row: the CPU of a step, and what it adds to the one before, as the median of the per-round differences. */
function breakdownRow(part: string, what: string, name: string, before?: string): string {
  const { median: mid, min, max } = stat(name, (r) => r.cpuUsPerRequest)
  const earlier = before ? cpuRounds(before) : []
  const added = before ? median(cpuRounds(name).map((x, i) => x - (earlier[i] ?? Number.NaN))) : Number.NaN
  const addedText = before ? `${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(1)}` : '—'
  return `| ${part} | ${what} | ${mid.toFixed(1)} (${min.toFixed(1)}–${max.toFixed(1)}) | ${addedText} |`
}
const breakdown = [
  breakdownRow("Bun's HTTP", 'raw Bun.serve answering `{"status":"ok"}` from its fetch handler', 'step: ok'),
  breakdownRow(
    'the /auth/me JSON',
    "the same bare server answering /auth/me's JSON: the floor the targets divide by",
    nameOf(at.raw),
    'step: ok',
  ),
  breakdownRow("a route in Bun's routes", STEPS.json, 'step: json', nameOf(at.raw)),
  breakdownRow("the request's headers", STEPS.headers, 'step: headers', 'step: json'),
  breakdownRow('skey check', STEPS.check, 'step: check', 'step: headers'),
  breakdownRow('request id', STEPS.id, 'step: id', 'step: check'),
  breakdownRow(
    'access log line',
    `+ one JSON line per request to a file: "${nameOf(at.me1k)}", the real server at LOG_LEVEL=info`,
    nameOf(at.me1k),
    'step: id',
  ),
  breakdownRow(
    'for comparison: Elysia',
    "the real server's answer from an Elysia route with the `auth` macro instead of a plain route (id and log line included), against the line above",
    'step: elysia',
    nameOf(at.me1k),
  ),
  breakdownRow(
    'for comparison: the id echo',
    "the json step's answer with a fresh id in a second response header (`response.headers.set`), against that step",
    'step: echo',
    'step: json',
  ),
].join('\n')
/** The least CPU time a measured run charged its server, in s: against it, the clock tick's share of a figure. */
const leastRunCpuS = Math.min(...[...results.values()].flat().map((r) => (r.cpuUsPerRequest * r.requests) / 1e6))
/** The command that reproduces this report, with the settings that differ from the defaults. */
const BENCH_COMMAND = [
  process.env.BENCH_ROUNDS ? `BENCH_ROUNDS=${ROUNDS}` : '',
  process.env.BENCH_SECONDS ? `BENCH_SECONDS=${SECONDS}` : '',
  'bun run bench',
]
  .filter(Boolean)
  .join(' ')
const report = `# Benchmarks

Produced by \`${BENCH_COMMAND}\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Bun ${Bun.version}.
wrk 2 threads, ${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds with the scenarios interleaved;
medians with the min–max over the rounds, after a 1 s warm-up pass;
ratios are the median of the per-round ratios; CPU per request is the server process's, see below. wrk, the server and the stand-ins share the same ${cpus().length} cores.

The servers run with the shipped defaults: \`LOG_LEVEL=info\` writes one JSON line per request (stdout goes to
a file here, as under journald or Docker) and \`MAX_SESSIONS_PER_USER=10\` makes every login of a user already
at the cap end that user's oldest session (the login script cycles through 5,000 users). Only
\`LOGIN_RATE_LIMIT\` is off, since wrk logs in from one address.

Spread between runs on this shared 2-core machine is large (raw Bun.serve alone moves between about 45k and
85k req/s within one run), so the targets lead with CPU per request (below), and every ratio comes with its
per-round values: /auth/me and /auth/verify run right after raw Bun.serve in each round, so the three see the
same machine. The sweep scenario is compared with a control that differs from it by the sweep alone: a fresh
server on a fresh copy of the same database with the sweep off (a fresh server's p99 is higher than a warmed
one's while its JIT settles).

PostgreSQL and Redis are throwaway servers on the same machine, started by \`.ci/services.sh\` unless
TEST_DATABASE_URL and TEST_REDIS_URL point at running ones; each wxauth on them runs only during its own
scenario.

## HTTP scenarios

Each run is \`wrk -t2 -c${CONNECTIONS} -d${SECONDS}s -s bench/wrk/SCRIPT.lua URL\` (skey.lua sends the
\`skey\` header, login.lua posts a fresh code per request); bench/wrk/report.lua prints wrk's request count,
duration, latency percentiles and errors. The errors column counts socket errors and, in bold, answers with
a status of 400 or more (wrk's own rule, so /auth/verify's 204 is a success).

**CPU per request** is the server process's CPU time during a run divided by the requests wrk completed in
it: utime + stime, fields 14 and 15 of \`/proc/<pid>/stat\`, which add up all the process's threads (the
JavaScript thread, Bun's HTTP and GC threads, the sweep worker), read just before wrk starts and just after
it exits. The unit is the clock tick (1/${CLOCK_TICKS} s): a run's figure is off by at most 2 ticks, and the
least CPU time a measured run charged here was ${leastRunCpuS.toFixed(1)} s, so at most ${((2 / CLOCK_TICKS / leastRunCpuS) * 100).toFixed(1)}%.
What the server does per request is in it, its request log line included (stdout goes to a file); wrk, the
WeChat stand-in, PostgreSQL and Redis are not. Raw Bun.serve runs in its own process (bench/raw-server.ts)
like the other servers, so its figure is the bare runtime's alone.

On this shared 2-core machine CPU per request is steadier than req/s: req/s depends on how much CPU the
server gets, and it shares the two cores with wrk's two threads and with the host's other tenants, which
take a core away for tens of ms at a time; the CPU a request costs depends mostly on the code it runs, and
time the process does not run is not charged to it, so a core taken away lowers req/s but not the figure.
It is not immune to the machine: at lower throughput each event-loop turn answers fewer requests, so the
turn's fixed costs are shared by fewer of them, and other work on the same cores (another tenant's, or a
test suite run beside the bench) contends for caches and memory and slows every instruction; a round in
which that happens moves both figures, which the per-round values show.

| scenario | req/s median (min–max) | p50 ms | p99 ms median (min–max) | server CPU µs/request median (min–max) | errors |
|---|---|---|---|---|---|
${rows.join('\n')}

Sweep during "${nameOf(at.sweep)}" (server log, one line per round): ${sweepLogs.join('; ')}

## Where the microseconds go (GET /auth/me)

The same wrk run against servers that each add one part of /auth/me to the one before
(bench/raw-server.ts and bench/steps-server.ts, on the 1k database, in the same rounds as the scenarios
above, not listed there). "Added" is the median over the rounds of the difference to the row before,
measured in the same round. The second row is the floor the targets divide by: raw Bun.serve answering
the very JSON /auth/me answers (the issue's "raw Bun.serve returning the same JSON"). Reading a
header at all is Bun's own cost (it builds the request's Headers on first use), and so is a second response
header (the id's echo, last row); the raw floor does neither. Of the skey check, the SHA-256 of the skey and
the two cache lookups take ${micro.k1.cached.toFixed(2)} µs in-process (Micro below); the rest of that row is
the answer (its body serialized once per session, where the floor serializes it on every request) and the
note of the user for the log line.

| part | what runs | server CPU µs/request median (min–max) | added, µs |
|---|---|---|---|
${breakdown}

## Micro (in-process)

| measure | value |
|---|---|
| session lookup from SQLite (cache miss), 1k / 100k / 1M sessions | ${micro.k1.uncached.toFixed(2)} / ${micro.k100.uncached.toFixed(2)} / ${micro.m1.uncached.toFixed(2)} µs |
| session lookup, cached (what /auth/me pays for a hot skey), 1k / 100k / 1M | ${micro.k1.cached.toFixed(2)} / ${micro.k100.cached.toFixed(2)} / ${micro.m1.cached.toFixed(2)} µs |
| sweep of ${sweep.deleted} expired sessions (worker thread): total, median of ${ROUNDS} | ${Math.round(sweep.totalMs)} ms |
| longest gap of a 1 ms timer on the server thread during that sweep, median of ${ROUNDS} | ${ms(sweep.longestBlockMs)} ms |
| … each run: the gap (the thread's time on a CPU in it, and waiting for a CPU) | ${sweep.blockBreakdown} |
| most time the server thread was itself on a CPU between two ticks during the sweep, median (each run) | ${ms(sweep.busiestMs)} ms (${sweep.busiest}) |
| the floor: longest gap of the same timer with nothing running, ${IDLE_WATCH_MS / 1000} s before each sweep, median | ${ms(sweep.idleGapMs)} ms |
| … each run: the gap (on a CPU, waiting for a CPU) | ${sweep.idleBreakdown} |
| peak RSS of the server with 1M sessions after its load runs (VmHWM) | ${peakRss.toFixed(0)} MB |

A gap's time neither on a CPU nor waiting for one is time the thread slept past its timer: in this micro
the thread runs nothing but the timer (the sweep is in the worker), so it cannot be waiting on a SQLite
lock, and on this VM that is the host not running the guest's CPU, which no code in the guest can
shorten; it shows up as often with no sweep at all. The thread's own time on a CPU is the event loop's
block in the sense the target means: work that holds the loop (GC included).

## Targets

| measure | target | measured |
|---|---|---|
| /auth/me CPU per request ÷ raw Bun.serve's (1k sessions) | ≤ 1.3 | ${cpuRatio(at.me1k, at.raw)} |
| /auth/verify CPU per request ÷ raw Bun.serve's (1k sessions) | ≤ 1.3 | ${cpuRatio(at.verify, at.raw)} |
| /auth/me req/s ÷ raw Bun.serve's (1k sessions), in every round | ≥ 0.75 | ${minRatio(at.me1k, at.raw)}${httpErrorNote(at.me1k, at.raw)} |
| login req/s against a local stand-in; the server's CPU per login | ≥ 5,000; reported | ${Math.round(rpsOf(at.login))} req/s; ${cpuOf(at.login).toFixed(1)} µs per login (per round: ${listed(roundsOf(at.login).map(cpu), 1)})${httpErrorNote(at.login)} |
| /auth/me at 1M ÷ at 1k sessions | ≥ 0.90 | ${ratio(at.me1m, at.me1k)} |
| longest event-loop block during a 1M-row sweep | ≤ 10 ms | the thread's own: ${ms(sweep.busiestMs)} ms (per run: ${sweep.busiest}); wall-clock gap: ${ms(sweep.longestBlockMs)} ms (per run: ${sweep.blocks}), and with no sweep at all ${ms(sweep.idleGapMs)} ms (${sweep.idleGaps}) |
| /auth/me p99 during the sweep ÷ without | ≤ 2 | ${ratio(at.sweep, at.sweepOff, (r) => r.p99Ms)}; ÷ the warmed 1k server's p99: ${ratio(at.sweep, at.me1k, (r) => r.p99Ms)} |
| peak RSS, 1M sessions, under load | ≤ 150 MB | ${peakRss.toFixed(0)} MB |
| /auth/me on SQLite ÷ on Redis (1k sessions each) | ≥ 1.5 | ${ratio(at.me1k, at.redis)} |

## Backends side by side

The same GET /auth/me with 1k sessions, in the same rounds: what the network hop to a store costs.
PostgreSQL and Redis run on the same 2 cores, over loopback. SQLite answers a hot skey from memory;
PostgreSQL and Redis are asked on every request, so a logout on one instance holds at once on every other.

| backend | req/s median | p50 ms | p99 ms | ÷ SQLite |
|---|---|---|---|---|
${[at.me1k, at.postgres, at.redis]
  .map((i) => {
    const name = nameOf(i)
    const rps = stat(name, (r) => r.rps).median
    return `| ${name} | ${Math.round(rps)} | ${stat(name, (r) => r.p50Ms).median.toFixed(2)} | ${stat(name, (r) => r.p99Ms).median.toFixed(2)} | ${ratio(i, at.me1k)} |`
  })
  .join('\n')}
`
await Bun.write(join(ROOT, 'BENCHMARKS.md'), report)
console.log(report)
