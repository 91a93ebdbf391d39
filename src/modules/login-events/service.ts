import type { Clock } from '../../libs/clock'
import { AppError, storeOutageOf } from '../../libs/errors'
import { logger } from '../../libs/log'
import type { LoginEvent, LoginEventStore } from './model'

/** How long an event waits in memory: events are written together, one insert per second at most. */
export const LOGIN_EVENT_FLUSH_MS = 1000
/** How often a write also deletes the events past their retention. */
export const LOGIN_EVENT_RETENTION_EVERY_MS = 10 * 60 * 1000
const DAY_MS = 24 * 60 * 60 * 1000
/** Events kept while the store does not take them; beyond it the oldest are dropped (and said once). */
export const MAX_BUFFERED_LOGIN_EVENTS = 10_000

/** The outcome code a login attempt is recorded with: the code it was answered with. */
export function outcomeOf(error: unknown): string {
  if (error instanceof AppError) return error.code
  return storeOutageOf(error) ? 'STORE_UNAVAILABLE' : 'INTERNAL'
}

export interface LoginEventLog {
  record(event: LoginEvent): void
  /** Writes what is buffered; the console calls it before reading, so it shows every login so far. */
  flush(): Promise<void>
  /** Deletes the events older than the retention (LOGIN_EVENTS_DAYS); writes do it every 10 minutes. */
  sweep(): Promise<number>
  /** Writes what is buffered and stops writing (shutdown). */
  stop(): Promise<void>
}

export interface LoginEventLogOptions {
  clock: Clock
  /** LOGIN_EVENTS_DAYS. */
  retentionDays: number
}

/**
 * Login attempts, buffered in memory and written together at most a second after the first of them, in
 * one insert: the login path never waits for them. A crash loses at most that second. A store that does
 * not take them keeps them (up to MAX_BUFFERED_LOGIN_EVENTS) for the next write, which the next login
 * (or the console, or shutdown) starts: nothing runs while nobody logs in.
 */
export function createLoginEventLog(
  store: LoginEventStore,
  { clock, retentionDays }: LoginEventLogOptions,
): LoginEventLog {
  let buffer: LoginEvent[] = []
  let writing: Promise<void> | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let stopped = false
  let failed = false
  let warnedDropped = false
  let sweptAt = Number.NEGATIVE_INFINITY

  async function sweep(): Promise<number> {
    sweptAt = clock()
    try {
      return await store.deleteBefore(sweptAt - retentionDays * DAY_MS)
    } catch (error) {
      logger().warn('login events not swept', { error: error instanceof Error ? error.message : String(error) })
      return 0
    }
  }

  async function write(): Promise<void> {
    const batch = buffer
    buffer = []
    try {
      await store.add(batch)
      failed = false
    } catch (error) {
      failed = true
      buffer = [...batch, ...buffer].slice(-MAX_BUFFERED_LOGIN_EVENTS)
      logger().warn('login events not written', { error: error instanceof Error ? error.message : String(error) })
      return
    }
    if (clock() - sweptAt >= LOGIN_EVENT_RETENTION_EVERY_MS) await sweep()
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer)
    timer = null
    if (buffer.length === 0) return writing ?? Promise.resolve()
    writing ??= write().finally(() => {
      writing = null
      // Events recorded while this write ran wait for a write of their own (after a failed write they
      // wait for the next login instead: an outage is not retried every second).
      if (buffer.length > 0 && !timer && !stopped && !failed) arm()
    })
    return writing
  }

  function arm(): void {
    timer = setTimeout(() => void flush(), LOGIN_EVENT_FLUSH_MS)
    timer.unref()
  }

  return {
    record(event) {
      if (stopped) return
      buffer.push(event)
      if (buffer.length > MAX_BUFFERED_LOGIN_EVENTS) {
        buffer.shift()
        if (!warnedDropped) logger().warn('login events dropped: the store has not taken them for a while')
        warnedDropped = true
      }
      if (!timer) arm()
    },
    async flush() {
      await writing
      await flush()
    },
    sweep,
    async stop() {
      stopped = true
      await writing
      await flush()
    },
  }
}
