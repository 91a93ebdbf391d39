import { describe, expect, test } from 'bun:test'
import { HOUR_MS, type LoginEvent } from '../../../src/modules/login-events/model'
import { freshStores, reachableStoreBackends } from '../../backends'

/** One suite, unchanged, for the login event store of every backend (events live where the records live). */
const T0 = Date.UTC(2026, 0, 1)
const MINUTE = 60_000

function event(fields: Partial<LoginEvent> = {}): LoginEvent {
  return { at: T0, outcome: 'OK', userId: null, ipPrefix: null, ...fields }
}

describe.each(reachableStoreBackends())('login events on %s', (backend) => {
  async function fresh() {
    const stores = await freshStores(backend)
    expect(stores.records).toBe(backend.startsWith('postgres') ? 'postgres' : 'sqlite')
    return stores.loginEvents
  }

  test('add → recent gives back every field, nulls included, the newest first', async () => {
    const events = await fresh()
    const full = event({ at: T0 + 1, userId: 42, ipPrefix: '203.0.113.0/24' })
    const bare = event({ at: T0 + 2, outcome: 'WECHAT_CODE_INVALID' })
    const v6 = event({ at: T0 + 3, outcome: 'RATE_LIMITED', ipPrefix: '2001:db8:1::/48' })
    await events.add([full, bare, v6])
    const found = await events.recent(10)
    expect(found).toEqual([
      { id: expect.any(Number), ...v6 },
      { id: expect.any(Number), ...bare },
      { id: expect.any(Number), ...full },
    ])
    const ids = found.map((stored) => stored.id)
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    expect(new Set(ids).size).toBe(3)
    // Newest means the latest added, whatever its time says.
    await events.add([event({ at: T0 - HOUR_MS, outcome: 'LATE' })])
    expect((await events.recent(1))[0]?.outcome).toBe('LATE')
  })

  test('add of nothing stores nothing; a user id need not name a user (events outlive users)', async () => {
    const events = await fresh()
    await events.add([])
    expect(await events.recent(10)).toEqual([])
    await events.add([event({ userId: 987_654_321 })])
    expect((await events.recent(10))[0]?.userId).toBe(987_654_321)
  })

  test('recent gives at most `limit`; beforeId pages through by id', async () => {
    const events = await fresh()
    await events.add(Array.from({ length: 7 }, (_, i) => event({ at: T0 + i, outcome: `E${i}` })))
    const outcomes = (found: { outcome: string }[]) => found.map((stored) => stored.outcome)
    const page1 = await events.recent(3)
    expect(outcomes(page1)).toEqual(['E6', 'E5', 'E4'])
    const page2 = await events.recent(3, page1.at(-1)?.id)
    expect(outcomes(page2)).toEqual(['E3', 'E2', 'E1'])
    const page3 = await events.recent(3, page2.at(-1)?.id)
    expect(outcomes(page3)).toEqual(['E0'])
    expect(await events.recent(3, page3.at(-1)?.id)).toEqual([])
    expect(await events.recent(0)).toEqual([])
  })

  test('perHour counts by hour and outcome since `sinceMs`, in hour then outcome order', async () => {
    const events = await fresh()
    const H0 = T0 + 5 * HOUR_MS
    await events.add([
      event({ at: H0 - 1, outcome: 'OK' }), // the hour before, and before sinceMs
      event({ at: H0 + 10 * MINUTE, outcome: 'OK' }), // same hour as sinceMs, but before it
      event({ at: H0 + 20 * MINUTE, outcome: 'OK' }),
      event({ at: H0 + 30 * MINUTE, outcome: 'RATE_LIMITED' }),
      event({ at: H0 + HOUR_MS - 1, outcome: 'OK' }),
      event({ at: H0 + HOUR_MS, outcome: 'WECHAT_CODE_INVALID' }),
      event({ at: H0 + HOUR_MS + 1, outcome: 'OK' }),
      event({ at: H0 + 3 * HOUR_MS + 59 * MINUTE, outcome: 'OK' }),
    ])
    expect(await events.perHour(H0 + 20 * MINUTE)).toEqual([
      { hourStart: H0, outcome: 'OK', count: 2 },
      { hourStart: H0, outcome: 'RATE_LIMITED', count: 1 },
      { hourStart: H0 + HOUR_MS, outcome: 'OK', count: 1 },
      { hourStart: H0 + HOUR_MS, outcome: 'WECHAT_CODE_INVALID', count: 1 },
      { hourStart: H0 + 3 * HOUR_MS, outcome: 'OK', count: 1 },
    ])
    expect(await events.perHour(H0 - 1)).toEqual([
      { hourStart: H0 - HOUR_MS, outcome: 'OK', count: 1 },
      { hourStart: H0, outcome: 'OK', count: 3 },
      { hourStart: H0, outcome: 'RATE_LIMITED', count: 1 },
      { hourStart: H0 + HOUR_MS, outcome: 'OK', count: 1 },
      { hourStart: H0 + HOUR_MS, outcome: 'WECHAT_CODE_INVALID', count: 1 },
      { hourStart: H0 + 3 * HOUR_MS, outcome: 'OK', count: 1 },
    ])
    expect(await events.perHour(H0 + 4 * HOUR_MS)).toEqual([])
  })

  test('byOutcome counts since `sinceMs`, the most first, ties by outcome in byte order', async () => {
    const events = await fresh()
    const at = (minutes: number) => T0 + minutes * MINUTE
    await events.add([
      ...['OK', 'OK', 'OK', 'OK'].map((outcome, i) => event({ at: at(i), outcome })),
      ...['b_X', 'b_X', 'bX', 'bX', 'B_Z', 'B_Z'].map((outcome, i) => event({ at: at(10 + i), outcome })),
      event({ at: at(20), outcome: 'RATE_LIMITED' }),
      event({ at: at(-1), outcome: 'RATE_LIMITED' }),
      event({ at: at(-2), outcome: 'RATE_LIMITED' }),
      event({ at: at(-3), outcome: 'RATE_LIMITED' }),
      event({ at: at(-4), outcome: 'RATE_LIMITED' }),
    ])
    expect(await events.byOutcome(T0)).toEqual([
      { outcome: 'OK', count: 4 },
      { outcome: 'B_Z', count: 2 },
      { outcome: 'bX', count: 2 },
      { outcome: 'b_X', count: 2 },
      { outcome: 'RATE_LIMITED', count: 1 },
    ])
    expect((await events.byOutcome(at(-4)))[0]).toEqual({ outcome: 'RATE_LIMITED', count: 5 })
    expect(await events.byOutcome(at(21))).toEqual([])
  })

  test('deleteBefore deletes only older events and says how many', async () => {
    const events = await fresh()
    await events.add([T0 - 2, T0 - 1, T0, T0 + 1].map((at) => event({ at })))
    expect(await events.deleteBefore(T0)).toBe(2)
    expect((await events.recent(10)).map((stored) => stored.at)).toEqual([T0 + 1, T0])
    expect(await events.deleteBefore(T0)).toBe(0)
    expect(await events.deleteBefore(T0 + 2)).toBe(2)
    expect(await events.recent(10)).toEqual([])
  })

  test('1,000 events in one add', async () => {
    const events = await fresh()
    const many = Array.from({ length: 1000 }, (_, i) =>
      event({
        at: T0 + i * MINUTE,
        outcome: i % 10 === 0 ? 'RATE_LIMITED' : 'OK',
        userId: i % 2 === 0 ? i : null,
        ipPrefix: i % 3 === 0 ? `10.0.${i % 256}.0/24` : null,
      }),
    )
    await events.add(many)
    expect(await events.byOutcome(T0)).toEqual([
      { outcome: 'OK', count: 900 },
      { outcome: 'RATE_LIMITED', count: 100 },
    ])
    const all = await events.recent(2000)
    expect(all).toHaveLength(1000)
    expect(all.map(({ id: _id, ...stored }) => stored)).toEqual([...many].reverse())
  })

  test('more events in one add than one PostgreSQL statement takes, all or none', async () => {
    const events = await fresh()
    await events.add(Array.from({ length: 2500 }, (_, i) => event({ at: T0 + i })))
    expect((await events.byOutcome(T0))[0]).toEqual({ outcome: 'OK', count: 2500 })
    // An outcome the table refuses (NOT NULL) fails the whole batch, the valid events before it too.
    const refused = null as unknown as string
    const broken = Array.from({ length: 2500 }, (_, i) => event({ at: T0 + i, outcome: i === 2400 ? refused : 'NEW' }))
    await expect((async () => events.add(broken))()).rejects.toThrow()
    expect(await events.byOutcome(T0)).toEqual([{ outcome: 'OK', count: 2500 }])
  })
})
