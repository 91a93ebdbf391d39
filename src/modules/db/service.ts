import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { MIGRATIONS } from './migrations'

const BUSY_TIMEOUT_MS = 5000

function isInMemory(path: string): boolean {
  return path === ':memory:' || path === ''
}

export function schemaVersion(db: Database): number {
  return db.query<{ user_version: number }, []>('PRAGMA user_version').get()?.user_version ?? 0
}

/** What a migration did: `from` 0 is a new schema, `from === to` found it current. */
export interface SchemaChange {
  from: number
  to: number
}

/** Brings the schema up to date; each step runs in its own transaction. */
export function migrate(db: Database): SchemaChange {
  const current = schemaVersion(db)
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this wxauth (${MIGRATIONS.length})`)
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.run(MIGRATIONS[version] as string)
      db.run(`PRAGMA user_version = ${version + 1}`)
    }).immediate()
  }
  return { from: current, to: MIGRATIONS.length }
}

/** `wxauth migrate`'s report, for SQLite and PostgreSQL alike. */
export function describeSchemaChange(where: string, { from, to }: SchemaChange): string {
  if (from === 0) return `created the schema in ${where} (schema version ${to})`
  if (from < to) return `upgraded ${where} from schema version ${from} to ${to}`
  return `${where} is already at the current schema version ${to}`
}

/** Opens (creating if needed) the SQLite database with wxauth's pragmas and schema, and says what migrating did. */
export function openMigratedDatabase(path: string): { db: Database; change: SchemaChange } {
  if (!isInMemory(path)) mkdirSync(dirname(path), { recursive: true })
  const db = connectDatabase(path, { create: true })
  db.run('PRAGMA journal_mode = WAL')
  return { db, change: migrate(db) }
}

/** Opens (creating if needed) the SQLite database with wxauth's pragmas and schema. */
export function openDatabase(path: string): Database {
  return openMigratedDatabase(path).db
}

/** A further connection to an existing database (e.g. the sweep worker's), same pragmas, no migration. */
export function connectDatabase(path: string, { create = false } = {}): Database {
  const db = new Database(path, { strict: true, create, readwrite: true })
  db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
  db.run('PRAGMA synchronous = NORMAL')
  db.run('PRAGMA foreign_keys = ON')
  return db
}

type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown }

/**
 * Group commit: writes requested in the same event-loop turn share one IMMEDIATE transaction, each in
 * its own savepoint, so one failing write rolls back alone. On this machine a commit costs most of
 * a login's database time (WAL frames are one write() each), so N logins pay for one commit.
 * `onRollback` runs after any rollback, e.g. to drop caches filled by the rolled-back writes.
 */
export function groupCommit<I, O>(db: Database, write: (input: I) => O, onRollback: () => void = () => {}) {
  const writeInSavepoint = db.transaction(write)
  const writeAll = db.transaction((inputs: I[]): Outcome<O>[] =>
    inputs.map((input) => {
      try {
        return { ok: true, value: writeInSavepoint(input) }
      } catch (error) {
        return { ok: false, error }
      }
    }),
  )
  let queue: { input: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = []

  function flush(): void {
    const batch = queue
    queue = []
    let outcomes: Outcome<O>[]
    try {
      outcomes = writeAll.immediate(batch.map((item) => item.input))
    } catch (error) {
      onRollback()
      for (const item of batch) item.reject(error)
      return
    }
    if (outcomes.some((outcome) => !outcome.ok)) onRollback()
    outcomes.forEach((outcome, i) => {
      const item = batch[i]
      if (!item) return
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(outcome.error)
    })
  }

  return (input: I): Promise<O> =>
    new Promise<O>((resolve, reject) => {
      queue.push({ input, resolve, reject })
      if (queue.length === 1) setImmediate(flush)
    })
}

/** Copies committed WAL pages into the database file without waiting on readers or writers. */
export function checkpointWal(db: Database): void {
  db.run('PRAGMA wal_checkpoint(PASSIVE)')
}

/** Pages of WAL after which a commit on this connection checkpoints; 0 turns that off. */
export function setAutoCheckpoint(db: Database, pages: number): void {
  db.run(`PRAGMA wal_autocheckpoint = ${Math.max(0, Math.trunc(pages))}`)
}

/**
 * Reports whether another connection (another process, the sweep worker) committed since the
 * last call. PRAGMA data_version costs ~5 µs, so it is polled at most every `everyMs`.
 */
export function watchForeignWrites(db: Database, everyMs: number): (nowMs: number) => boolean {
  const dataVersion = db.query<{ data_version: number }, []>('PRAGMA data_version')
  let seen = dataVersion.get()?.data_version ?? 0
  let nextCheckAt = 0
  return function changedSinceLastCheck(nowMs) {
    if (nowMs < nextCheckAt) return false
    nextCheckAt = nowMs + everyMs
    const current = dataVersion.get()?.data_version ?? 0
    if (current === seen) return false
    seen = current
    return true
  }
}
