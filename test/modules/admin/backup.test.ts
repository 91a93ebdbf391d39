/**
 * `wxauth backup` and `wxauth restore`: a copy taken from a running server under a login load holds
 * every login answered before it began; neither command ever damages a file it does not own.
 */
import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PG_DUMP_COMMAND, PG_RESTORE_COMMAND, runBackup } from '../../../src/modules/admin/backup'
import { type BackupCommand, parseCommand } from '../../../src/modules/admin/cli'
import { MIGRATIONS } from '../../../src/modules/db/migrations'
import { openDatabase, schemaVersion } from '../../../src/modules/db/service'
import { sqliteStores } from '../../../src/modules/store/service'

const ROOT = resolve(import.meta.dir, '../../..')
const NOW = Date.UTC(2026, 0, 1)
const workdir = mkdtempSync(join(tmpdir(), 'wxauth-backup-'))
afterAll(() => rmSync(workdir, { recursive: true, force: true }))

let folders = 0
/** A fresh folder per test, so each can check that nothing else was left in it. */
function folder(): string {
  const path = join(workdir, `t${++folders}`)
  mkdirSync(path)
  return path
}

function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = ''
  void (async () => {
    for await (const chunk of stream) text += Buffer.from(chunk).toString()
  })()
  return () => text
}

/** `bun src/index.ts <args>` as an operator runs it. */
async function cli(env: Record<string, string>, ...args: string[]) {
  const proc = Bun.spawn(['bun', 'src/index.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ])
  return { code, stdout, stderr }
}

/** The same command in this process. */
function run(env: Record<string, string>, ...args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const code = runBackup(parseCommand(args) as BackupCommand, {
    env,
    io: { out: (text) => out.push(text), err: (text) => err.push(text) },
  })
  return { code, out, err }
}

async function startDevServer(databasePath: string) {
  const proc = Bun.spawn(['bun', 'src/index.ts', 'dev'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_PATH: databasePath,
      HOST: '127.0.0.1',
      PORT: '0',
      LOGIN_RATE_LIMIT: '0',
      LOG_LEVEL: 'info',
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const stdout = collect(proc.stdout)
  const stderr = collect(proc.stderr)
  const deadline = Date.now() + 20_000
  for (;;) {
    const url = /wxauth listening on (http:\/\/[^\s"]+)/.exec(stdout())?.[1]
    if (url) return { proc, url }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`wxauth dev did not start:\n${stdout()}\n${stderr()}`)
    }
    await Bun.sleep(20)
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const sha256Hex = (text: string) => hex(Bun.SHA256.hash(text) as Uint8Array)

function integrityOf(path: string): string {
  const db = new Database(path, { readonly: true })
  try {
    return db
      .query<{ integrity_check: string }, []>('PRAGMA integrity_check')
      .all()
      .map((row) => row.integrity_check)
      .join('; ')
  } finally {
    db.close()
  }
}

function openidsIn(path: string): string[] {
  const db = new Database(path, { readonly: true })
  try {
    return db
      .query<{ openid: string }, []>('SELECT openid FROM users ORDER BY openid')
      .all()
      .map((row) => row.openid)
  } finally {
    db.close()
  }
}

/** A database as the server leaves it, with `openids` logged in once each. */
async function databaseWith(path: string, openids: string[]): Promise<void> {
  const stores = sqliteStores(openDatabase(path))
  for (const openid of openids) {
    const user = await stores.users.upsert(openid, null, NOW)
    await stores.sessions.create({ userId: user.id, sessionKey: 'k', nowMs: NOW, ttlSeconds: 3600 })
  }
  await stores.close()
}

const slowest = (logins: Login[]) => Math.max(0, ...logins.map((login) => login.latencyMs))

interface Login {
  openid: string
  skey: string
  answeredAt: number
  latencyMs: number
}

describe('wxauth backup beside a running server', () => {
  test('under a login load: exit 0, an intact copy with every login answered before it began, no failed request', async () => {
    const dir = folder()
    const databasePath = join(dir, 'live', 'wxauth.db')
    // Some bulk, so that VACUUM INTO reads for a while as logins commit beside it.
    const seed = openDatabase(databasePath)
    seed.transaction(() => {
      const user = seed.query('INSERT INTO users (openid, created_at, last_login_at) VALUES (?, ?, ?)')
      const session = seed.query(
        'INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      )
      for (let id = 1; id <= 50_000; id++) {
        user.run(`seed-${id}`, NOW, NOW)
        session.run(crypto.getRandomValues(new Uint8Array(32)), id, 'k'.repeat(24), NOW, NOW + 3_600_000)
      }
    })()
    seed.close()

    const { proc, url } = await startDevServer(databasePath)
    const logins: Login[] = []
    const failures: string[] = []
    let running = true
    let next = 0
    async function loginLoop(): Promise<void> {
      while (running) {
        const who = `load${next++}`
        const sentAt = performance.now()
        try {
          const response = await fetch(`${url}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ code: `${who}#1` }),
          })
          const body = (await response.json()) as { skey: string; user: { openid: string } }
          if (response.status !== 200) failures.push(`${who}: ${response.status} ${JSON.stringify(body)}`)
          else {
            const answeredAt = performance.now()
            logins.push({ openid: body.user.openid, skey: body.skey, answeredAt, latencyMs: answeredAt - sentAt })
          }
        } catch (error) {
          failures.push(`${who}: ${error}`)
        }
      }
    }

    const copy = join(dir, 'copies', 'wxauth-backup.db')
    mkdirSync(join(dir, 'copies'))
    try {
      const load = Array.from({ length: 8 }, loginLoop)
      await Bun.sleep(800)
      const startedAt = performance.now()
      const backup = await cli({ DATABASE_PATH: databasePath }, 'backup', copy)
      const endedAt = performance.now()
      await Bun.sleep(800)
      running = false
      await Promise.all(load)

      expect(backup.stderr).toBe('')
      expect(backup.code).toBe(0)
      expect(failures).toEqual([])
      const before = logins.filter((login) => login.answeredAt < startedAt)
      const during = logins.filter((login) => login.answeredAt >= startedAt && login.answeredAt <= endedAt)
      expect(before.length).toBeGreaterThan(50)
      expect(during.length).toBeGreaterThan(0) // the server kept answering while the copy was taken

      expect(integrityOf(copy)).toBe('ok')
      const db = new Database(copy, { readonly: true })
      const openids = new Set(
        db
          .query<{ openid: string }, []>('SELECT openid FROM users')
          .all()
          .map((r) => r.openid),
      )
      const hashes = new Set(
        db
          .query<{ token_hash: Uint8Array }, []>('SELECT token_hash FROM sessions')
          .all()
          .map((r) => hex(r.token_hash)),
      )
      db.close()
      expect(before.filter((login) => !openids.has(login.openid))).toEqual([])
      expect(before.filter((login) => !hashes.has(sha256Hex(login.skey)))).toEqual([])
      expect(openids.size).toBeGreaterThanOrEqual(50_000 + before.length)
      // The line names the file, its size and what the copy holds.
      const bytes = Bun.file(copy).size
      expect(backup.stdout).toBe(
        `backed up ${databasePath} to ${copy}: ${bytes} bytes, ${openids.size} users, ${hashes.size} sessions\n`,
      )
      expect(readdirSync(join(dir, 'copies'))).toEqual(['wxauth-backup.db'])
      console.log(
        `backup under load: ${Math.round(endedAt - startedAt)} ms for the command (${Math.round(bytes / 1024)} KiB), ` +
          `${during.length} logins answered meanwhile (slowest ${Math.round(slowest(during))} ms, ` +
          `${Math.round(slowest(before))} ms before it), ${logins.length} in all, ${failures.length} failed`,
      )
    } finally {
      running = false
      proc.kill('SIGTERM')
      await proc.exited
    }
  }, 60_000)
})

describe('wxauth backup refuses', () => {
  test('an existing file: left untouched, exit 1, one line naming it', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann'])
    const target = join(dir, 'taken.db')
    writeFileSync(target, 'yesterday’s backup')
    const before = readdirSync(dir).sort()
    expect(run({ DATABASE_PATH: databasePath }, 'backup', target)).toEqual({
      code: 1,
      out: [],
      err: [`wxauth: ${target} already exists; a backup never overwrites a file: choose another name`],
    })
    expect(readFileSync(target, 'utf8')).toBe('yesterday’s backup')
    expect(readdirSync(dir).sort()).toEqual(before)
  })

  test('a folder that does not exist: not created, exit 1', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann'])
    const { code, out, err } = run({ DATABASE_PATH: databasePath }, 'backup', join(dir, 'missing', 'x.db'))
    expect({ code, out }).toEqual({ code: 1, out: [] })
    expect(err).toEqual([
      `wxauth: no folder ${join(dir, 'missing')} for ${join(dir, 'missing', 'x.db')}; create it first`,
    ])
    expect(readdirSync(dir)).not.toContain('missing')
  })

  test('on PostgreSQL, before connecting: exit 2 with the pg_dump / pg_restore command', async () => {
    const dir = folder()
    const env = { DATABASE_URL: 'postgres://wx:s3cret@127.0.0.1:1/wxauth' }
    const backup = await cli(env, 'backup', join(dir, 'x.dump'))
    expect(backup.code).toBe(2)
    expect(backup.stdout).toBe('')
    expect(backup.stderr).toContain(`use PostgreSQL's: ${PG_DUMP_COMMAND}`)
    expect(PG_DUMP_COMMAND).toBe('pg_dump --format=custom --file=wxauth.dump "$DATABASE_URL"')
    const restore = run(env, 'restore', '--yes', join(dir, 'x.dump'))
    expect(restore.code).toBe(2)
    expect(restore.err[0]).toContain(PG_RESTORE_COMMAND)
    expect(readdirSync(dir)).toEqual([])
  })

  test('the --json form reports the same as the line', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann', 'o-bob'])
    const file = join(dir, 'b.db')
    const { code, out } = run({ DATABASE_PATH: databasePath }, 'backup', file, '--json')
    expect(code).toBe(0)
    expect(JSON.parse(out[0] as string)).toEqual({ file, bytes: Bun.file(file).size, users: 2, sessions: 2 })
  })

  test('the copy is readable by its owner only (it holds session_keys and the access_token), whatever the umask', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann'])
    const file = join(dir, 'private.db')
    const umask = process.umask(0o022)
    try {
      expect(run({ DATABASE_PATH: databasePath }, 'backup', file).code).toBe(0)
    } finally {
      process.umask(umask)
    }
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})

describe('wxauth restore', () => {
  test('brings back the backed-up state over a changed database, and migrates an older backup', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann', 'o-bob'])
    const file = join(dir, 'monday.db')
    expect(run({ DATABASE_PATH: databasePath }, 'backup', file).code).toBe(0)
    await databaseWith(databasePath, ['o-cid'])
    const changed = new Database(databasePath)
    changed.run("DELETE FROM users WHERE openid = 'o-ann'")
    changed.close()
    expect(openidsIn(databasePath)).toEqual(['o-bob', 'o-cid'])

    expect(run({ DATABASE_PATH: databasePath }, 'restore', file, '--yes')).toEqual({
      code: 0,
      out: [`restored ${file} to ${databasePath}: 2 users, 2 sessions, schema version ${MIGRATIONS.length}`],
      err: [],
    })
    expect(openidsIn(databasePath)).toEqual(['o-ann', 'o-bob'])
    expect(integrityOf(databasePath)).toBe('ok')
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([])

    // A backup from schema version 1 comes back at the current version, its rows kept.
    const old = join(dir, 'old.db')
    const oldDb = new Database(old, { create: true })
    oldDb.run(MIGRATIONS[0] as string)
    oldDb.run('PRAGMA user_version = 1')
    oldDb.run("INSERT INTO users (openid, created_at, last_login_at) VALUES ('o-old', 1, 1)")
    oldDb.close()
    const { code, out } = run({ DATABASE_PATH: databasePath }, 'restore', '--yes', '--json', old)
    expect(code).toBe(0)
    expect(JSON.parse(out[0] as string)).toMatchObject({ users: 1, schema: { from: 1, to: MIGRATIONS.length } })
    const restored = new Database(databasePath, { readonly: true })
    expect(schemaVersion(restored)).toBe(MIGRATIONS.length)
    restored.close()
    expect(openidsIn(databasePath)).toEqual(['o-old'])
  })

  test('without --yes: says what it would do, exit 2, nothing changed', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann'])
    const file = join(dir, 'b.db')
    expect(run({ DATABASE_PATH: databasePath }, 'backup', file).code).toBe(0)
    await databaseWith(databasePath, ['o-bob'])
    const bytes = readFileSync(databasePath)
    const { code, out, err } = run({ DATABASE_PATH: databasePath }, 'restore', file)
    expect({ code, out }).toEqual({ code: 2, out: [] })
    expect(err).toEqual([
      `wxauth: restore would replace DATABASE_PATH=${databasePath} with ${file} (schema version ${MIGRATIONS.length}, 1 user, 1 session) and migrate it; stop the server, then run: wxauth restore --yes ${file}`,
    ])
    expect(readFileSync(databasePath).equals(bytes)).toBe(true)
    expect(openidsIn(databasePath)).toEqual(['o-ann', 'o-bob'])
  })

  test.each([
    [
      'a file that is not SQLite',
      'is not a SQLite database',
      (path: string) => writeFileSync(path, 'a spreadsheet '.repeat(500)),
    ],
    [
      'a truncated copy',
      'fails PRAGMA integrity_check|is damaged',
      (path: string) => truncateSync(path, Math.floor(Bun.file(path).size / 2)),
    ],
    [
      'a SQLite file without wxauth’s tables',
      'is not a wxauth database',
      (path: string) => {
        rmSync(path)
        const other = new Database(path, { create: true })
        other.run('CREATE TABLE t (x)')
        other.close()
      },
    ],
  ])('refuses %s (exit 1) and leaves the database as it was', async (_, message, spoil) => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(
      databasePath,
      Array.from({ length: 300 }, (_, i) => `o-${i}`),
    )
    const file = join(dir, 'spoilt.db')
    expect(run({ DATABASE_PATH: databasePath }, 'backup', file).code).toBe(0)
    spoil(file)
    const names = readdirSync(dir).sort()
    const bytes = readFileSync(databasePath)
    const { code, out, err } = run({ DATABASE_PATH: databasePath }, 'restore', '--yes', file)
    expect({ code, out }).toEqual({ code: 1, out: [] })
    expect(err).toHaveLength(1)
    expect(err[0]).toMatch(new RegExp(`^wxauth: ${file} (${message})`))
    expect(readFileSync(databasePath).equals(bytes)).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(names)
  })

  test('refuses while another connection (a running server) has the database open', async () => {
    const dir = folder()
    const databasePath = join(dir, 'wxauth.db')
    await databaseWith(databasePath, ['o-ann'])
    const file = join(dir, 'b.db')
    expect(run({ DATABASE_PATH: databasePath }, 'backup', file).code).toBe(0)
    const server = sqliteStores(openDatabase(databasePath))
    await server.users.upsert('o-bob', null, NOW)
    try {
      expect(run({ DATABASE_PATH: databasePath }, 'restore', '--yes', file)).toEqual({
        code: 1,
        out: [],
        err: [`wxauth: ${databasePath} is in use by another process; stop the server first`],
      })
      expect(await server.users.byOpenid('o-bob')).not.toBeNull()
    } finally {
      await server.close()
    }
    expect(openidsIn(databasePath)).toEqual(['o-ann', 'o-bob'])
  })
})
