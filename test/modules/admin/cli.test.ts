import { describe, expect, test } from 'bun:test'
import {
  type AdminCommand,
  devBanner,
  formatTable,
  parseCommand,
  runAdminCommand,
  UsageError,
} from '../../../src/modules/admin/cli'
import { createAdminService } from '../../../src/modules/admin/service'
import { countRows, freshStores, reachableBackends } from '../../backends'

describe('devBanner', () => {
  test.each(['bun run start', 'wxauth serve'])('names %s; every line ends at the same column', (command) => {
    const banner = devBanner(command, { databasePath: './data/wxauth-dev.db' })
    expect(banner).toContain(`NOT FOR PRODUCTION: use ${command}.`)
    expect(banner).toContain('./data/wxauth-dev.db')
    const lines = banner.split('\n').filter((line) => line !== '')
    expect(lines.length).toBeGreaterThan(3)
    for (const line of lines) expect(line.length).toBe(lines[0]?.length ?? 0)
    expect(lines.slice(1, -1).every((line) => line.endsWith('│'))).toBe(true)
  })
})

describe('parseCommand', () => {
  test.each([
    [[], { name: 'serve' }],
    [['serve'], { name: 'serve' }],
    [['start'], { name: 'serve' }],
    [['dev'], { name: 'dev' }],
    [['migrate'], { name: 'migrate' }],
    [['--help'], { name: 'help' }],
    [['help'], { name: 'help' }],
    [['-h'], { name: 'help' }],
    [['users', 'list', '-h'], { name: 'help' }],
    [['--version'], { name: 'version' }],
    [['users', 'list'], { name: 'users list', limit: 50, json: false }],
    [['users', 'list', '--limit', '5', '--json'], { name: 'users list', limit: 5, json: true }],
    [['users', 'list', '--limit=7'], { name: 'users list', limit: 7, json: false }],
    [['-v', 'stats'], { name: 'version' }],
    [['users', 'show', 'oABC'], { name: 'users show', openid: 'oABC', json: false }],
    [['sessions', 'revoke', '--user', 'oABC'], { name: 'sessions revoke', openid: 'oABC', json: false }],
    [['sessions', 'revoke', '--all', '--json'], { name: 'sessions revoke', openid: null, json: true }],
    [['stats', '--json'], { name: 'stats', json: true }],
    [['backup', 'x.db'], { name: 'backup', file: 'x.db', json: false }],
    [['backup', '--json', '/tmp/x.db'], { name: 'backup', file: '/tmp/x.db', json: true }],
    [['restore', 'x.db'], { name: 'restore', file: 'x.db', yes: false, json: false }],
    [['restore', '--yes', 'x.db', '--json'], { name: 'restore', file: 'x.db', yes: true, json: true }],
  ])('%j', (args, expected) => {
    expect(parseCommand(args)).toEqual(expected as ReturnType<typeof parseCommand>)
  })

  test.each([
    [['serev'], 'unknown command'],
    [['users'], 'unknown command'],
    [['users', 'delete'], 'unknown command'],
    [['stats', '--verbose'], 'unknown flag --verbose'],
    [['serve', '--json'], '--json does not apply'],
    [['users', 'list', '--limit'], '--limit needs a value'],
    [['users', 'list', '--limit', '--json'], '--limit needs a value'],
    [['sessions', 'revoke', '--user'], '--user needs a value'],
    [['stats', '--json=yes'], '--json takes no value'],
    [['stats', '-x'], 'unknown flag -x'],
    [['users', 'list', '--limit', '0'], '--limit must be'],
    [['users', 'list', '--limit', 'ten'], '--limit must be'],
    [['users', 'show'], 'needs an openid'],
    [['users', 'show', 'a', 'b'], 'unexpected argument b'],
    [['sessions', 'revoke'], 'exactly one'],
    [['sessions', 'revoke', '--all', '--user', 'x'], 'exactly one'],
    [['sessions', 'revoke', '--limit', '3', '--all'], '--limit does not apply'],
    [['backup'], 'backup needs a file name'],
    [['backup', 'a.db', 'b.db'], 'unexpected argument b.db'],
    [['backup', 'a.db', '--yes'], '--yes does not apply'],
    [['restore', '--yes'], 'restore needs a file name'],
    [['restore', 'a.db', '--limit', '3'], '--limit does not apply'],
    [['stats', '--yes'], '--yes does not apply'],
  ])('%j → UsageError (%s)', (args, message) => {
    expect(() => parseCommand(args)).toThrow(UsageError)
    expect(() => parseCommand(args)).toThrow(message)
  })
})

test('formatTable aligns columns under a header and shows null as -', () => {
  expect(
    formatTable(
      [
        { id: 1, name: 'a', note: null },
        { id: 22, name: 'bbb', note: 'x' },
      ],
      ['id', 'name', 'note'],
    ),
  ).toBe('id  name  note\n1   a     -\n22  bbb   x')
})

describe.each(reachableBackends())('admin commands on %s', (backend) => {
  const NOW = Date.UTC(2026, 0, 1)

  async function seeded() {
    const stores = await freshStores(backend)
    const { sessions } = stores
    const ann = await stores.users.upsert('o-ann', 'u-ann', NOW - 2000)
    const bob = await stores.users.upsert('o-bob', null, NOW - 1000)
    for (let i = 0; i < 3; i++) await sessions.create({ userId: ann.id, sessionKey: 'k', nowMs: NOW, ttlSeconds: 60 })
    await sessions.create({ userId: bob.id, sessionKey: 'k', nowMs: NOW - 120_000, ttlSeconds: 60 }) // expired
    const admin = createAdminService(stores)
    const out: string[] = []
    const err: string[] = []
    const run = (args: string[]) =>
      runAdminCommand(parseCommand(args) as AdminCommand, admin, NOW, {
        out: (text) => out.push(text),
        err: (text) => err.push(text),
      })
    return { stores, out, err, run }
  }

  test('users list: newest login first, live session counts; --json for scripts', async () => {
    const { out, run } = await seeded()
    expect(await run(['users', 'list'])).toBe(0)
    const lines = (out[0] as string).split('\n')
    expect(lines[0]).toMatch(/^id\s+openid\s+unionid\s+createdAt\s+lastLoginAt\s+liveSessions$/)
    expect(lines[1]).toMatch(/^2\s+o-bob\s+-\s+\S+\s+\S+\s+0$/)
    expect(lines[2]).toMatch(/^1\s+o-ann\s+u-ann\s+\S+\s+\S+\s+3$/)
    expect(await run(['users', 'list', '--limit', '1', '--json'])).toBe(0)
    expect(JSON.parse(out[1] as string)).toEqual([
      {
        id: 2,
        openid: 'o-bob',
        unionid: null,
        createdAt: new Date(NOW - 1000).toISOString(),
        lastLoginAt: new Date(NOW - 1000).toISOString(),
        liveSessions: 0,
      },
    ])
  })

  test('users show: the user and their live sessions; an unknown openid exits 1', async () => {
    const { out, err, run } = await seeded()
    expect(await run(['users', 'show', 'o-ann', '--json'])).toBe(0)
    const shown = JSON.parse(out[0] as string)
    expect(shown.user).toMatchObject({ openid: 'o-ann', liveSessions: 3 })
    expect(shown.sessions).toEqual(
      Array(3).fill({ createdAt: new Date(NOW).toISOString(), expiresAt: new Date(NOW + 60_000).toISOString() }),
    )
    expect(await run(['users', 'show', 'o-ann'])).toBe(0)
    expect(out[1]).toContain('live sessions:')
    expect(await run(['users', 'show', 'o-nobody'])).toBe(1)
    expect(err).toEqual(['wxauth: no user with openid o-nobody'])
  })

  test('sessions revoke --user ends that user’s sessions; --all ends every one', async () => {
    const { stores, out, err, run } = await seeded()
    const count = () => countRows(stores, 'sessions')
    expect(await run(['sessions', 'revoke', '--user', 'o-ann'])).toBe(0)
    expect(out[0]).toBe('revoked 3 sessions of o-ann')
    expect(await count()).toBe(1)
    expect(await run(['sessions', 'revoke', '--user', 'o-nobody'])).toBe(1)
    expect(err[0]).toContain('no user')
    expect(await run(['sessions', 'revoke', '--all', '--json'])).toBe(0)
    expect(JSON.parse(out[1] as string)).toEqual({ revoked: 1 })
    expect(await count()).toBe(0)
  })

  test('stats: users, live sessions, expired rows awaiting the sweep', async () => {
    const { out, run } = await seeded()
    expect(await run(['stats', '--json'])).toBe(0)
    const stats = JSON.parse(out[0] as string)
    // Redis drops expired sessions by itself; SQLite :memory: has no file to measure.
    expect(stats).toEqual({
      users: 2,
      liveSessions: 3,
      expiredAwaitingSweep: backend === 'postgres+redis' ? 0 : 1,
      databaseBytes: backend === 'sqlite' ? 0 : expect.any(Number),
    })
    if (backend !== 'sqlite') expect(stats.databaseBytes).toBeGreaterThan(0)
    expect(await run(['stats'])).toBe(0)
    expect(out[1]).toContain(`expired, awaiting the sweep  ${stats.expiredAwaitingSweep}`)
  })
})
