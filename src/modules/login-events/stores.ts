import type { Database } from 'bun:sqlite'
import type { SQL } from 'bun'
import type { LoginEvent, LoginEventStore, StoredLoginEvent } from './model'

/** A row of login_events as SQLite and PostgreSQL give it (PostgreSQL's bigints as strings). */
interface LoginEventRow {
  id: number | string
  at: number | string
  outcome: string
  user_id: number | string | null
  ip_prefix: string | null
}

interface HourRow {
  hour_start: number | string
  outcome: string
  n: number | string
}

interface OutcomeRow {
  outcome: string
  n: number | string
}

function eventOf(row: LoginEventRow): StoredLoginEvent {
  return {
    id: Number(row.id),
    at: Number(row.at),
    outcome: row.outcome,
    userId: row.user_id === null ? null : Number(row.user_id),
    ipPrefix: row.ip_prefix,
  }
}

const hourOf = (row: HourRow) => ({ hourStart: Number(row.hour_start), outcome: row.outcome, count: Number(row.n) })
const outcomeOf = (row: OutcomeRow) => ({ outcome: row.outcome, count: Number(row.n) })

/** Above every id either database hands out to a login event: `recent` without `beforeId` reads from the top. */
const NO_ID_BOUND = Number.MAX_SAFE_INTEGER

/** Login events in the SQLite table login_events: every answer in the same tick. */
export function sqliteLoginEventStore(db: Database) {
  const insert = db.query<null, [number, string, number | null, string | null]>(
    'INSERT INTO login_events (at, outcome, user_id, ip_prefix) VALUES (?, ?, ?, ?)',
  )
  const insertAll = db.transaction((events: readonly LoginEvent[]) => {
    for (const { at, outcome, userId, ipPrefix } of events) insert.run(at, outcome, userId, ipPrefix)
  })
  const removeBefore = db.query<null, [number]>('DELETE FROM login_events WHERE at < ?')
  // HOUR_MS in integer division: `at` is a non-negative integer, so this is floor(at / HOUR_MS) * HOUR_MS.
  const perHour = db.query<HourRow, [number]>(
    `SELECT at / 3600000 * 3600000 AS hour_start, outcome, count(*) AS n FROM login_events
     WHERE at >= ? GROUP BY hour_start, outcome ORDER BY hour_start, outcome`,
  )
  const byOutcome = db.query<OutcomeRow, [number]>(
    `SELECT outcome, count(*) AS n FROM login_events WHERE at >= ?
     GROUP BY outcome ORDER BY n DESC, outcome`,
  )
  const recent = db.query<LoginEventRow, [number, number]>(
    'SELECT id, at, outcome, user_id, ip_prefix FROM login_events WHERE id < ? ORDER BY id DESC LIMIT ?',
  )
  return {
    add(events: readonly LoginEvent[]): void {
      if (events.length > 0) insertAll(events)
    },
    deleteBefore: (beforeMs: number): number => removeBefore.run(beforeMs).changes,
    perHour: (sinceMs: number) => perHour.all(sinceMs).map(hourOf),
    byOutcome: (sinceMs: number) => byOutcome.all(sinceMs).map(outcomeOf),
    recent: (limit: number, beforeId = NO_ID_BOUND): StoredLoginEvent[] => recent.all(beforeId, limit).map(eventOf),
  } satisfies LoginEventStore
}

/** Rows per INSERT: 4 parameters each, well below PostgreSQL's 65,535 per statement. */
const PG_INSERT_ROWS = 1000

/**
 * The same table in PostgreSQL, shared by every instance. Outcomes sort by COLLATE "C" (byte
 * order), as SQLite sorts them, whatever the database's collation.
 */
export function postgresLoginEventStore(sql: SQL): LoginEventStore {
  const rowsOf = (events: readonly LoginEvent[]) =>
    events.map(({ at, outcome, userId, ipPrefix }) => ({ at, outcome, user_id: userId, ip_prefix: ipPrefix }))
  return {
    async add(events) {
      if (events.length === 0) return
      if (events.length <= PG_INSERT_ROWS) {
        await sql`INSERT INTO login_events ${sql(rowsOf(events))}`
        return
      }
      await sql.begin(async (tx) => {
        for (let start = 0; start < events.length; start += PG_INSERT_ROWS) {
          await tx`INSERT INTO login_events ${tx(rowsOf(events.slice(start, start + PG_INSERT_ROWS)))}`
        }
      })
    },
    async deleteBefore(beforeMs) {
      return (await sql`DELETE FROM login_events WHERE at < ${beforeMs}`).count
    },
    async perHour(sinceMs) {
      // As in SQLite: bigint division truncates, and `at` is never negative.
      const rows = await sql<HourRow[]>`
        SELECT at / 3600000 * 3600000 AS hour_start, outcome, count(*) AS n FROM login_events
        WHERE at >= ${sinceMs} GROUP BY hour_start, outcome ORDER BY hour_start, outcome COLLATE "C"`
      return rows.map(hourOf)
    },
    async byOutcome(sinceMs) {
      const rows = await sql<OutcomeRow[]>`
        SELECT outcome, count(*) AS n FROM login_events WHERE at >= ${sinceMs}
        GROUP BY outcome ORDER BY n DESC, outcome COLLATE "C"`
      return rows.map(outcomeOf)
    },
    async recent(limit, beforeId = NO_ID_BOUND) {
      const rows = await sql<LoginEventRow[]>`
        SELECT id, at, outcome, user_id, ip_prefix FROM login_events
        WHERE id < ${beforeId} ORDER BY id DESC LIMIT ${limit}`
      return rows.map(eventOf)
    },
  }
}
