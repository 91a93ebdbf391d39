import type { Database } from 'bun:sqlite'
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectDatabase } from '../../../src/modules/db/service'
import { AppError, createAccessTokenManager, openDatabase, sqliteTokenStore } from '../../../src/server'
import { APPID, captureWarnings, manualClock, simulatedWechat } from '../../helpers'

/** These tests provoke WeChat failures on purpose: their warn lines are captured, not printed. */
captureWarnings(['WeChat unavailable'])

const dirs: string[] = []
const open: Database[] = []
afterEach(() => {
  for (const db of open.splice(0)) db.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Two connections to one new database file, as two processes would have; closed after the test. */
function twoConnections(): [Database, Database] {
  const path = tempDatabasePath()
  const connections: [Database, Database] = [openDatabase(path), connectDatabase(path)]
  open.push(...connections)
  return connections
}

function tempDatabasePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-tokens-'))
  dirs.push(dir)
  return join(dir, 'wxauth.db')
}

/** A fake WeChat token endpoint: counts fetches, can be slow or fail, hands out T1, T2, … */
function tokenSource({ delayMs = 0, expiresIn = 7200 } = {}) {
  let fetches = 0
  let failNext = false
  const wechat = {
    appid: APPID,
    timeoutMs: 1000,
    async fetchAccessToken() {
      fetches++
      await Bun.sleep(delayMs)
      if (failNext) {
        failNext = false
        throw new AppError(502, 'WECHAT_UNAVAILABLE', 'WeChat refused the access_token request (errcode -1)', -1)
      }
      return { accessToken: `T${fetches}`, expiresInSeconds: expiresIn }
    },
  }
  return { wechat, fetches: () => fetches, failNextFetch: () => (failNext = true) }
}

const rejected = (errcode: number) => new AppError(502, 'WECHAT_UNAVAILABLE', `errcode ${errcode}`, errcode)

describe('access_token manager', () => {
  test('50 concurrent callers with no token cause exactly one fetch', async () => {
    const source = tokenSource({ delayMs: 20 })
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: source.wechat,
      clock: manualClock(),
    })
    const got = await Promise.all(Array.from({ length: 50 }, () => tokens.get()))
    expect(new Set(got)).toEqual(new Set(['T1']))
    expect(source.fetches()).toBe(1)
  })

  test('reuses the token until fewer than 300 s remain, then refreshes once', async () => {
    const source = tokenSource()
    const clock = manualClock()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: source.wechat,
      clock,
    })
    expect(await tokens.get()).toBe('T1')
    clock.advance((7200 - 301) * 1000)
    expect(await tokens.get()).toBe('T1')
    clock.advance(2000)
    const refreshed = await Promise.all([tokens.get(), tokens.get(), tokens.get()])
    expect(refreshed).toEqual(['T2', 'T2', 'T2'])
    expect(source.fetches()).toBe(2)
  })

  test('survives a restart: a new process on the same file reuses the stored token', async () => {
    const path = tempDatabasePath()
    const clock = manualClock()
    const first = tokenSource()
    const db = openDatabase(path)
    expect(await createAccessTokenManager({ store: sqliteTokenStore(db), wechat: first.wechat, clock }).get()).toBe(
      'T1',
    )
    db.close()
    const second = tokenSource()
    const reopened = openDatabase(path)
    open.push(reopened)
    expect(
      await createAccessTokenManager({ store: sqliteTokenStore(reopened), wechat: second.wechat, clock }).get(),
    ).toBe('T1')
    expect(second.fetches()).toBe(0)
  })

  test('two processes on one database: the lease lets only one fetch, the other waits and reads', async () => {
    const clock = manualClock()
    const [dbA, dbB] = twoConnections()
    const a = tokenSource({ delayMs: 150 })
    const b = tokenSource({ delayMs: 150 })
    const managerA = createAccessTokenManager({ store: sqliteTokenStore(dbA), wechat: a.wechat, clock })
    const managerB = createAccessTokenManager({ store: sqliteTokenStore(dbB), wechat: b.wechat, clock })
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? managerA.get() : managerB.get())))
    expect(a.fetches() + b.fetches()).toBe(1)
    expect(new Set(got).size).toBe(1)
  })

  test('two real processes on one database file fetch once between them', async () => {
    const path = tempDatabasePath()
    openDatabase(path).close()
    const startAt = Date.now() + 400
    const script = join(import.meta.dir, 'refresh-process.ts')
    const outputs = await Promise.all(
      [1, 2].map(async () => {
        const child = Bun.spawn(['bun', script, path, String(startAt)], { stdout: 'pipe', stderr: 'inherit' })
        expect(await child.exited).toBe(0)
        return JSON.parse(await new Response(child.stdout).text()) as { fetches: number; tokens: string[] }
      }),
    )
    expect(outputs.reduce((sum, output) => sum + output.fetches, 0)).toBe(1)
    expect(new Set(outputs.flatMap((output) => output.tokens)).size).toBe(1)
  })

  test('a lease left by a crashed process is taken over once it expires', async () => {
    const db = openDatabase(':memory:')
    const clock = manualClock()
    db.query('INSERT INTO wechat_access_tokens (appid, lease_owner, lease_until) VALUES (?, ?, ?)').run(
      APPID,
      'crashed-process',
      clock() + 60_000,
    )
    const source = tokenSource()
    const tokens = createAccessTokenManager({ store: sqliteTokenStore(db), wechat: source.wechat, clock, pollMs: 5 })
    const waiting = tokens.get()
    await Bun.sleep(30)
    expect(source.fetches()).toBe(0)
    clock.advance(60_001)
    expect(await waiting).toBe('T1')
    expect(source.fetches()).toBe(1)
  })

  test('waiting on another process gives up with 502 after the lease time', async () => {
    const db = openDatabase(':memory:')
    const clock = manualClock()
    db.query('INSERT INTO wechat_access_tokens (appid, lease_owner, lease_until) VALUES (?, ?, ?)').run(
      APPID,
      'slow-process',
      clock() + 3_600_000,
    )
    const source = tokenSource()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(db),
      wechat: source.wechat,
      clock,
      pollMs: 5,
      leaseMs: 100,
    })
    await expect(tokens.get()).rejects.toMatchObject({ status: 502, code: 'WECHAT_UNAVAILABLE' })
    expect(source.fetches()).toBe(0)
  })

  test('a failed fetch releases the lease, is not cached, and the next call fetches again', async () => {
    const db = openDatabase(':memory:')
    const source = tokenSource()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(db),
      wechat: source.wechat,
      clock: manualClock(),
    })
    source.failNextFetch()
    await expect(tokens.get()).rejects.toMatchObject({ errcode: -1 })
    const row = db.query<{ lease_owner: string | null }, []>('SELECT lease_owner FROM wechat_access_tokens').get()
    expect(row?.lease_owner).toBeNull()
    expect(await tokens.get()).toBe('T2')
  })

  test.each([40001, 40014, 42001])('errcode %p: drop the token, fetch once, retry once', async (errcode) => {
    const source = tokenSource()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: source.wechat,
      clock: manualClock(),
    })
    await tokens.get()
    const usedTokens: string[] = []
    const result = await tokens.withToken(async (token) => {
      usedTokens.push(token)
      if (token === 'T1') throw rejected(errcode)
      return 'done'
    })
    expect(result).toBe('done')
    expect(usedTokens).toEqual(['T1', 'T2'])
    expect(source.fetches()).toBe(2)
  })

  test('a token refused twice fails after one retry: never a loop', async () => {
    const source = tokenSource()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: source.wechat,
      clock: manualClock(),
    })
    let calls = 0
    const failing = tokens.withToken(async () => {
      calls++
      throw rejected(40001)
    })
    await expect(failing).rejects.toMatchObject({ errcode: 40001 })
    expect(calls).toBe(2)
    expect(source.fetches()).toBe(2)
  })

  test('other errors pass through without touching the token', async () => {
    const source = tokenSource()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: source.wechat,
      clock: manualClock(),
    })
    await expect(
      tokens.withToken(async () => {
        throw new AppError(400, 'PHONE_CODE_INVALID', 'invalid', 40029)
      }),
    ).rejects.toMatchObject({ code: 'PHONE_CODE_INVALID' })
    expect(await tokens.get()).toBe('T1')
    expect(source.fetches()).toBe(1)
  })

  test('drops the failed token only if it is still current: a newer one is used without a fetch', async () => {
    const clock = manualClock()
    const [dbA, dbB] = twoConnections()
    const a = tokenSource()
    const managerA = createAccessTokenManager({ store: sqliteTokenStore(dbA), wechat: a.wechat, clock })
    const usedTokens: string[] = []
    await managerA.withToken(async (token) => {
      usedTokens.push(token)
      if (token !== 'T1') return token
      // While this call was in flight, another process saw T1 refused and stored a new token.
      dbB.query("UPDATE wechat_access_tokens SET access_token = 'T-from-B'").run()
      throw rejected(40001)
    })
    expect(usedTokens).toEqual(['T1', 'T-from-B'])
    expect(a.fetches()).toBe(1)
  })

  test('with the simulator: 50 concurrent callers after a revocation refetch once', async () => {
    const { simulator, wechat, callsTo } = simulatedWechat()
    const { openid, sessionKey } = await wechat.code2Session(simulator.issueCode('yuri'))
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat,
      clock: Date.now,
    })
    await tokens.withToken((token) => wechat.checkSessionKey(token, openid, sessionKey))
    simulator.revokeAccessTokens()
    const checks = await Promise.all(
      Array.from({ length: 50 }, () => tokens.withToken((token) => wechat.checkSessionKey(token, openid, sessionKey))),
    )
    expect(checks.every(Boolean)).toBe(true)
    expect(callsTo('/cgi-bin/stable_token')).toBe(2)
  })
})
