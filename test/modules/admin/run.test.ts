import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type AdminCommand, parseCommand } from '../../../src/modules/admin/cli'
import { runAdmin } from '../../../src/modules/admin/run'
import { MIGRATIONS } from '../../../src/modules/db/migrations'
import { schemaVersion } from '../../../src/modules/db/service'
import { openDatabase, sqliteStores } from '../../../src/server'
import { freshStores, reachableBackends } from '../../backends'

const NOW = Date.UTC(2026, 0, 1)
const workdir = mkdtempSync(join(tmpdir(), 'wxauth-admin-run-'))
afterAll(() => rmSync(workdir, { recursive: true, force: true }))

async function admin(env: Record<string, string>, ...args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io = { out: (text: string) => out.push(text), err: (text: string) => err.push(text) }
  const code = await runAdmin(parseCommand(args) as AdminCommand, { env, io, nowMs: NOW })
  return { code, out, err }
}

describe('runAdmin on SQLite', () => {
  test('a database that does not exist is neither created nor migrated: exit 1', async () => {
    const path = join(workdir, 'missing.db')
    expect(await admin({ DATABASE_PATH: path }, 'stats')).toEqual({
      code: 1,
      out: [],
      err: [`wxauth: no database at ${path}; start the server or run wxauth migrate first`],
    })
    expect(existsSync(path)).toBe(false)
  })

  test('another schema version is refused, with advice, and left as it is', async () => {
    const older = join(workdir, 'older.db')
    new Database(older).close()
    const newer = join(workdir, 'newer.db')
    const db = new Database(newer)
    db.run('PRAGMA user_version = 999')
    db.close()
    const expected = MIGRATIONS.length
    expect((await admin({ DATABASE_PATH: older }, 'users', 'list')).err).toEqual([
      `wxauth: ${older} is at schema version 0, this wxauth expects ${expected}; run wxauth migrate first`,
    ])
    const refused = await admin({ DATABASE_PATH: newer }, 'stats')
    expect(refused.code).toBe(1)
    expect(refused.err).toEqual([
      `wxauth: ${newer} is at schema version 999, this wxauth expects ${expected}; use a newer wxauth`,
    ])
    const check = new Database(older)
    expect(schemaVersion(check)).toBe(0)
    check.close()
  })

  test('a file that is not a database: one line, exit 1', async () => {
    const path = join(workdir, 'garbage.db')
    await Bun.write(path, 'not a database, but long enough to have a header of sorts '.repeat(4))
    const { code, err } = await admin({ DATABASE_PATH: path }, 'stats')
    expect(code).toBe(1)
    expect(err[0]).toStartWith(`wxauth: cannot open DATABASE_PATH=${path}: `)
  })

  test('the commands work on the server’s file: stats measure it, revoke ends sessions', async () => {
    const path = join(workdir, 'wxauth.db')
    const stores = sqliteStores(openDatabase(path))
    const user = await stores.users.upsert('o-ann', null, NOW - 1000)
    await stores.sessions.create({ userId: user.id, sessionKey: 'k', nowMs: NOW, ttlSeconds: 60 })
    await stores.sessions.create({ userId: user.id, sessionKey: 'k', nowMs: NOW - 120_000, ttlSeconds: 60 })
    const env = { DATABASE_PATH: path }

    const stats = await admin(env, 'stats', '--json')
    expect(stats.code).toBe(0)
    const measured = JSON.parse(stats.out[0] as string)
    expect(measured).toEqual({ users: 1, liveSessions: 1, expiredAwaitingSweep: 1, databaseBytes: expect.any(Number) })
    expect(measured.databaseBytes).toBeGreaterThan(0)
    expect(await admin(env, 'sessions', 'revoke', '--user', 'o-ann')).toEqual({
      code: 0,
      out: ['revoked 2 sessions of o-ann'],
      err: [],
    })
    expect(stores.sessions.countLive(0)).toBe(0)
    expect(await admin(env, 'users', 'show', 'o-nobody')).toEqual({
      code: 1,
      out: [],
      err: ['wxauth: no user with openid o-nobody'],
    })
    await stores.close()
  })
})

describe('runAdmin refuses before reaching a store', () => {
  test('REDIS_URL without DATABASE_URL names DATABASE_URL', async () => {
    const { code, err } = await admin({ REDIS_URL: 'redis://127.0.0.1:1' }, 'stats')
    expect(code).toBe(1)
    expect(err).toHaveLength(1)
    expect(err[0]).toContain('the admin commands need DATABASE_URL')
  })

  test('a malformed variable is named, as at server start', async () => {
    expect(await admin({ DATABASE_URL: 'mysql://db/x' }, 'stats')).toEqual({
      code: 1,
      out: [],
      err: ['wxauth: DATABASE_URL must be a URL like postgres://user:password@host:5432/db'],
    })
  })

  test('an unreachable DATABASE_URL is named without its password', async () => {
    const { code, err } = await admin({ DATABASE_URL: 'postgres://wx:s3cret@127.0.0.1:1/wxauth' }, 'stats')
    expect(code).toBe(1)
    expect(err[0]).toStartWith('wxauth: cannot reach DATABASE_URL (postgres://127.0.0.1:1/wxauth): ')
    expect(err[0]).not.toContain('s3cret')
  })
})

describe.if(reachableBackends().includes('postgres'))('runAdmin on PostgreSQL', () => {
  const databaseUrl = process.env.TEST_DATABASE_URL as string

  test('reads the migrated database; an unreachable REDIS_URL is named', async () => {
    const stores = await freshStores('postgres')
    await stores.users.upsert('o-pg', null, NOW)
    const listed = await admin({ DATABASE_URL: databaseUrl }, 'users', 'list', '--json')
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.out[0] as string)).toMatchObject([{ openid: 'o-pg', liveSessions: 0 }])
    const { code, err } = await admin({ DATABASE_URL: databaseUrl, REDIS_URL: 'redis://127.0.0.1:1' }, 'stats')
    expect(code).toBe(1)
    expect(err[0]).toStartWith('wxauth: cannot reach REDIS_URL (redis://127.0.0.1:1): ')
  })
})

describe('wxauth admin-link', () => {
  test('prints a one-time URL on the server’s address (or --base) that signs the admin in; refuses others', async () => {
    const path = join(workdir, 'console.db')
    const stores = sqliteStores(openDatabase(path))
    const admin_ = await stores.users.upsert('o-boss', null, NOW)
    await stores.users.upsert('o-guest', null, NOW)
    await stores.close()
    const env = { DATABASE_PATH: path, WEB_LOGIN: 'true', ADMIN_OPENIDS: 'o-boss,o-never-logged-in', PORT: '4000' }
    const made = await admin(env, 'admin-link', 'o-boss')
    expect(made.code).toBe(0)
    const [url, note] = made.out[0]?.split('\n') ?? []
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:4000\/admin\/link\/[A-Za-z0-9_-]{24}#[A-Za-z0-9_-]{43}$/)
    expect(note).toContain(`until ${new Date(NOW + 10 * 60 * 1000).toISOString()}`)
    const json = await admin(env, 'admin-link', 'o-boss', '--base', 'https://auth.example.com/', '--json')
    expect(JSON.parse(json.out[0] ?? '')).toEqual({
      url: expect.stringMatching(/^https:\/\/auth\.example\.com\/admin\/link\//),
      expiresAt: new Date(NOW + 10 * 60 * 1000).toISOString(),
    })
    // The link is a ticket in the server's store, for that admin.
    const check = sqliteStores(openDatabase(path))
    const id = url?.split('/').pop()?.split('#')[0] ?? ''
    expect((await check.tickets.get(id))?.userId).toBe(admin_.id)
    await check.close()
    expect(await admin(env, 'admin-link', 'o-guest')).toEqual({
      code: 1,
      out: [],
      err: ['wxauth: o-guest is not in ADMIN_OPENIDS'],
    })
    const unknown = await admin(env, 'admin-link', 'o-never-logged-in')
    expect(unknown.err[0]).toContain('log in once with the mini program first')
    expect(() => parseCommand(['admin-link'])).toThrow('admin-link needs an openid')
    expect(() => parseCommand(['admin-link', 'o-boss', '--base', 'auth.example.com'])).toThrow('--base must be')
  })
})
