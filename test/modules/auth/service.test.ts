import { describe, expect, test } from 'bun:test'
import { createLoginService } from '../../../src/modules/auth/service'
import { createWechatClient, createWechatSimulator, openDatabase, sqliteStores } from '../../../src/server'
import { APPID, captureWarnings, manualClock, SECRET } from '../../helpers'

// Some tests here provoke these on purpose; they are captured, not printed.
captureWarnings(['WeChat unavailable'])

function setup(options: { upstreamDelayMs?: number } = {}) {
  const db = openDatabase(':memory:')
  const clock = manualClock()
  const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
  let calls = 0
  let failNext = false
  const wechat = createWechatClient({
    appid: APPID,
    secret: SECRET,
    apiBase: 'http://wechat.invalid',
    timeoutMs: 1000,
    fetch: async (request) => {
      calls++
      if (options.upstreamDelayMs) await Bun.sleep(options.upstreamDelayMs)
      if (failNext) {
        failNext = false
        throw new Error('network down')
      }
      return simulator.fetch(request)
    },
  })
  const stores = sqliteStores(db)
  const { sessions } = stores
  const logins = createLoginService({
    stores,
    wechat,
    clock,
    sessionTtlSeconds: 7200,
    maxSessionsPerUser: 10,
  })
  return { db, stores, logins, sessions, simulator, clock, calls: () => calls, failNextCall: () => (failNext = true) }
}

describe('login idempotency', () => {
  test('concurrent logins with one code share one WeChat call and one skey', async () => {
    const { logins, simulator, calls } = setup({ upstreamDelayMs: 20 })
    const code = simulator.issueCode('alice')
    const results = await Promise.all(Array.from({ length: 10 }, () => logins.login(code)))
    expect(calls()).toBe(1)
    expect(new Set(results.map((r) => r.skey)).size).toBe(1)
  })

  test('a repeated code within five minutes gets the same answer without asking WeChat', async () => {
    const { logins, simulator, clock, calls } = setup()
    const code = simulator.issueCode('alice')
    const first = await logins.login(code)
    clock.advance(4 * 60 * 1000)
    const again = await logins.login(code)
    expect(again).toEqual(first)
    expect(calls()).toBe(1)
  })

  test('after five minutes the code is WeChat’s business again (and spent)', async () => {
    const { logins, simulator, clock, calls } = setup()
    const code = simulator.issueCode('alice')
    await logins.login(code)
    clock.advance(5 * 60 * 1000)
    await expect(logins.login(code)).rejects.toMatchObject({ code: 'WECHAT_CODE_INVALID' })
    expect(calls()).toBe(2)
  })

  test('a repeat after logout does not revive the dead skey', async () => {
    const { logins, sessions, simulator, clock } = setup()
    const code = simulator.issueCode('alice')
    const first = await logins.login(code)
    const found = sessions.validate(first.skey, clock())
    if (!found) throw new Error('session should exist')
    sessions.delete(found.session.tokenHash)
    await expect(logins.login(code)).rejects.toMatchObject({ code: 'WECHAT_CODE_INVALID' })
  })

  test('a failed exchange is not remembered: the retry reaches WeChat', async () => {
    const { logins, simulator, calls, failNextCall } = setup()
    const code = simulator.issueCode('alice')
    failNextCall()
    await expect(logins.login(code)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' })
    const result = await logins.login(code)
    expect(result.skey).toBeString()
    expect(calls()).toBe(2)
  })

  test('different codes give different sessions for the same user', async () => {
    const { logins, simulator } = setup()
    const a = await logins.login(simulator.issueCode('alice'))
    const b = await logins.login(simulator.issueCode('alice'))
    expect(a.user.id).toBe(b.user.id)
    expect(a.skey).not.toBe(b.skey)
  })

  test('a unionid seen later is filled in, and never erased', async () => {
    const { logins, simulator } = setup()
    const without = await logins.login(simulator.issueCode('alice'))
    expect(without.user.unionid).toBeNull()
    const withUnion = await logins.login(simulator.issueCode('alice', { unionid: true }))
    expect(withUnion.user.unionid).toBeString()
    const later = await logins.login(simulator.issueCode('alice'))
    expect(later.user.unionid).toBe(withUnion.user.unionid)
    expect(later.user.createdAt).toBe(without.user.createdAt)
  })
})

describe('login writes (SQLite group commit)', () => {
  test('a login rolled back after its user upsert leaves no unstored user in the cache', async () => {
    const { db, stores, logins, sessions, simulator, clock } = setup()
    const alice = await logins.login(simulator.issueCode('alice'))
    expect(alice.user.unionid).toBeNull()
    // The session insert fails after the upsert, so each login's savepoint rolls back.
    db.run(`CREATE TRIGGER sessions_refused BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
    await expect(logins.login(simulator.issueCode('alice', { unionid: true }))).rejects.toThrow('disk full')
    await expect(logins.login(simulator.issueCode('mallory'))).rejects.toThrow('disk full')
    db.run('DROP TRIGGER sessions_refused')

    // Alice's unionid was never stored, and neither was mallory (who would have had the next id).
    expect(sessions.validate(alice.skey, clock())?.user.unionid).toBeNull()
    const phantomId = alice.user.id + 1
    expect(stores.users.byId(phantomId)).toBeNull()
    expect(stores.users.count()).toBe(1)

    // The id goes to the next new user.
    const bob = await logins.login(simulator.issueCode('bob'))
    expect(bob.user.id).toBe(phantomId)
    expect(sessions.validate(bob.skey, clock())?.user.openid).toBe(simulator.openidFor('bob'))
  })
})
