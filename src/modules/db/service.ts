import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { MIGRATIONS } from './migrations'

const BUSY_TIMEOUT_MS = 5000

function isInMemory(path: string): boolean {
  return path === ':memory:' || path === ''
}

/** Brings the schema up to date; each step runs in its own transaction. */
export function migrate(db: Database): number {
  const current = db.query<{ user_version: number }, []>('PRAGMA user_version').get()?.user_version ?? 0
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this wxauth (${MIGRATIONS.length})`)
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.run(MIGRATIONS[version] as string)
      db.run(`PRAGMA user_version = ${version + 1}`)
    }).immediate()
  }
  return MIGRATIONS.length
}

/** Opens (creating if needed) the SQLite database with wxauth's pragmas and schema. */
export function openDatabase(path: string): Database {
  if (!isInMemory(path)) mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, { strict: true, create: true })
  db.run('PRAGMA journal_mode = WAL')
  db.run('PRAGMA synchronous = NORMAL')
  db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
  db.run('PRAGMA foreign_keys = ON')
  migrate(db)
  return db
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
