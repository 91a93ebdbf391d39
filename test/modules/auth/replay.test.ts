import { describe, expect, test } from 'bun:test'
import { createApp } from '../../../src/server'
import { freshStores, reachableBackends } from '../../backends'
import { captureWarnings, jsonRequest, manualClock, simulatedWechat } from '../../helpers'

// Some tests here provoke these on purpose; they are captured, not printed.
captureWarnings(['WeChat unavailable'])

/** Two instances on one PostgreSQL + Redis: a wx.login code gets one answer whichever instance it reaches. */
async function twoInstances() {
  const stores = await freshStores('postgres+redis')
  const clock = manualClock()
  const upstream = simulatedWechat()
  const config = { loginRateLimit: 0 }
  // Separate apps (separate in-memory login maps) over the same PostgreSQL and Redis.
  const apps = [0, 1].map(() => createApp({ stores, wechat: upstream.wechat, clock, config }))
  const login = async (instance: number, code: string) => {
    const response = await (apps[instance] as (typeof apps)[number]).handle(
      jsonRequest('POST', '/auth/login', { code }),
    )
    return { status: response.status, body: (await response.json()) as { skey: string; code?: string } }
  }
  return { stores, upstream, login, apps }
}

describe.if(reachableBackends().includes('postgres+redis'))('login replay across instances (Redis)', () => {
  test('one code sent to both instances at once: one jscode2session call, one skey', async () => {
    const { upstream, login } = await twoInstances()
    const code = upstream.simulator.issueCode('twice')
    const [a, b] = await Promise.all([login(0, code), login(1, code)])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(a.body.skey).toBe(b.body.skey)
    expect(upstream.callsTo('/sns/jscode2session')).toBe(1)
  })

  test('a repeat on the other instance later gets the same skey without asking WeChat', async () => {
    const { upstream, login } = await twoInstances()
    const code = upstream.simulator.issueCode('later')
    const first = await login(0, code)
    const again = await login(1, code)
    expect(again.body.skey).toBe(first.body.skey)
    expect(upstream.callsTo('/sns/jscode2session')).toBe(1)
  })

  test('Redis holds the answer only encrypted: the skey appears nowhere in it', async () => {
    const { stores, upstream, login } = await twoInstances()
    const { body } = await login(0, upstream.simulator.issueCode('secretive'))
    const redis = stores.redis
    if (!redis) throw new Error('no Redis')
    const keys = (await redis.run((client) => client.send('KEYS', ['wxauth:*']))) as string[]
    const values = await Promise.all(
      keys.map((key) => redis.run((client) => client.send('DUMP', [key])) as Promise<string | null>),
    )
    expect(keys.some((key) => key.startsWith('wxauth:login:'))).toBe(true)
    for (const value of values) expect(String(value)).not.toContain(body.skey)
  })

  test('a failed exchange is not shared: the other instance asks WeChat itself', async () => {
    const { upstream, login } = await twoInstances()
    const first = await login(0, 'errcode:-1')
    expect(first.status).toBe(502)
    const second = await login(1, 'errcode:-1')
    expect(second.status).toBe(502)
    expect(upstream.callsTo('/sns/jscode2session')).toBe(2)
  })

  test('after a logout the code is WeChat’s business again on the other instance too', async () => {
    const { upstream, login, apps } = await twoInstances()
    const code = upstream.simulator.issueCode('leaver')
    const { body } = await login(0, code)
    const logout = await (apps[0] as (typeof apps)[number]).handle(
      jsonRequest('POST', '/auth/logout', undefined, { skey: body.skey }),
    )
    expect(logout.status).toBe(204)
    const again = await login(1, code)
    expect(again.status).toBe(401)
    expect(again.body.code).toBe('WECHAT_CODE_INVALID')
  })
})
