import { describe, expect, test } from 'bun:test'
import { AppError } from '../../../src/libs/errors'
import type { LoginEvent, LoginEventStore } from '../../../src/modules/login-events/model'
import {
  createLoginEventLog,
  LOGIN_EVENT_FLUSH_MS,
  LOGIN_EVENT_RETENTION_EVERY_MS,
  MAX_BUFFERED_LOGIN_EVENTS,
  outcomeOf,
} from '../../../src/modules/login-events/service'
import { captureWarnings, manualClock } from '../../helpers'

const warnings = captureWarnings([
  'login events not written',
  'login events dropped: the store has not taken them for a while',
])

/** A store that keeps what it is given in `added`, and refuses while `down` is set. */
function recordingStore() {
  const added: LoginEvent[][] = []
  const state = { down: false, deletedBefore: [] as number[] }
  const store: LoginEventStore = {
    add(events) {
      if (state.down) throw Object.assign(new Error('connection refused'), { code: 'ERR_POSTGRES_CONNECTION_CLOSED' })
      added.push([...events])
    },
    deleteBefore(beforeMs) {
      state.deletedBefore.push(beforeMs)
      return 0
    },
    perHour: () => [],
    byOutcome: () => [],
    recent: () => [],
  }
  return { store, added, state }
}

const event = (n: number): LoginEvent => ({ at: n, outcome: 'OK', userId: n, ipPrefix: null })

describe('login event log', () => {
  test('buffers events and writes them in one insert per flush; nothing is written for an empty buffer', async () => {
    const { store, added } = recordingStore()
    const log = createLoginEventLog(store, { clock: manualClock(), retentionDays: 30 })
    for (let i = 0; i < 3; i++) log.record(event(i))
    expect(added).toEqual([])
    await log.flush()
    expect(added).toEqual([[event(0), event(1), event(2)]])
    await log.flush()
    expect(added).toHaveLength(1)
    await log.stop()
  })

  test('a store outage keeps the events for the next flush, in order, and says so', async () => {
    const { store, added, state } = recordingStore()
    const log = createLoginEventLog(store, { clock: manualClock(), retentionDays: 30 })
    log.record(event(1))
    state.down = true
    await log.flush()
    expect(warnings.lines.some((line) => line.msg === 'login events not written')).toBe(true)
    log.record(event(2))
    state.down = false
    await log.stop()
    expect(added).toEqual([[event(1), event(2)]])
  })

  test('beyond MAX_BUFFERED_LOGIN_EVENTS the oldest go, with one warning', async () => {
    const { store, added } = recordingStore()
    const log = createLoginEventLog(store, { clock: manualClock(), retentionDays: 30 })
    const before = warnings.lines.length
    for (let i = 0; i < MAX_BUFFERED_LOGIN_EVENTS + 5; i++) log.record(event(i))
    await log.stop()
    expect(added[0]).toHaveLength(MAX_BUFFERED_LOGIN_EVENTS)
    expect(added[0]?.[0]).toEqual(event(5))
    expect(warnings.lines.slice(before).map((line) => line.msg)).toEqual([
      'login events dropped: the store has not taken them for a while',
    ])
  })

  test('without a flush, events are written about a second after the first of them, together', async () => {
    const { store, added } = recordingStore()
    const log = createLoginEventLog(store, { clock: manualClock(), retentionDays: 30 })
    log.record(event(1))
    await Bun.sleep(300)
    log.record(event(2))
    expect(added).toEqual([])
    await Bun.sleep(LOGIN_EVENT_FLUSH_MS)
    expect(added).toEqual([[event(1), event(2)]])
    // Later events start a timer of their own.
    log.record(event(3))
    await Bun.sleep(LOGIN_EVENT_FLUSH_MS + 200)
    expect(added).toEqual([[event(1), event(2)], [event(3)]])
    await log.stop()
  })

  test('a write also deletes what is past the retention, at most every 10 minutes', async () => {
    const { store, state } = recordingStore()
    const clock = manualClock()
    const log = createLoginEventLog(store, { clock, retentionDays: 7 })
    log.record(event(1))
    await log.flush()
    log.record(event(2))
    await log.flush()
    expect(state.deletedBefore).toEqual([clock() - 7 * 24 * 3600_000])
    clock.advance(LOGIN_EVENT_RETENTION_EVERY_MS)
    log.record(event(3))
    await log.flush()
    expect(state.deletedBefore).toHaveLength(2)
    await log.stop()
  })

  test('sweep deletes what is older than the retention', async () => {
    const { store, state } = recordingStore()
    const clock = manualClock()
    const log = createLoginEventLog(store, { clock, retentionDays: 7 })
    await log.sweep()
    expect(state.deletedBefore).toEqual([clock() - 7 * 24 * 3600_000])
    await log.stop()
  })

  test('the outcome of a failed attempt is the code it was answered with', () => {
    expect(outcomeOf(new AppError(401, 'WECHAT_CODE_INVALID', 'x'))).toBe('WECHAT_CODE_INVALID')
    expect(outcomeOf(Object.assign(new Error('gone'), { code: 'ERR_REDIS_CONNECTION_CLOSED' }))).toBe(
      'STORE_UNAVAILABLE',
    )
    expect(outcomeOf(new TypeError('bug'))).toBe('INTERNAL')
  })
})
