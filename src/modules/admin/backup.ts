import { Database } from 'bun:sqlite'
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { ConfigError, type Env, readConfig } from '../config/service'
import { MIGRATIONS } from '../db/migrations'
import { connectDatabase, openMigratedDatabase, schemaVersion } from '../db/service'
import type { AdminOutput, BackupCommand } from './cli'
import type { BackupResult, RestoreResult } from './model'

/** The commands PostgreSQL users run instead: its own tools make a consistent dump of a live database. */
export const PG_DUMP_COMMAND = 'pg_dump --format=custom --file=wxauth.dump "$DATABASE_URL"'
export const PG_RESTORE_COMMAND = 'pg_restore --clean --if-exists --no-owner --dbname="$DATABASE_URL" wxauth.dump'

/** Waits this long for a server's write to finish before deciding the database is in use. */
const IN_USE_WAIT_MS = 1000
const SIDECARS = ['-wal', '-shm', '-journal'] as const

/** A backup or restore that will not go ahead: one line on stderr, exit 1 (2 for a command that does not apply). */
export class BackupRefusal extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))
const codeOf = (error: unknown) => String((error as { code?: unknown }).code ?? '')
const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`

/** What a wxauth database holds, as a backup reports it. */
interface Contents {
  version: number
  users: number
  sessions: number
}

function count(db: Database, table: 'users' | 'sessions'): number {
  return db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0
}

/** A name beside `path` that no one else uses: written there, then renamed into place. */
function tempBeside(path: string, purpose: string): string {
  const random = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString('hex')
  return join(dirname(path), `.${basename(path)}.${purpose}-${process.pid}-${random}`)
}

/** Flushes a file's (or a folder's entries') data to the disk. */
function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * Checks that `path` is a whole wxauth database this code can bring up to date: read-only, PRAGMA
 * integrity_check, the users and sessions tables, a schema version no newer than MIGRATIONS.
 * A read-only look at a WAL-mode file creates -wal/-shm beside it; those it created are removed.
 */
export function inspectDatabase(path: string, name = path): Contents {
  if (!existsSync(path)) throw new BackupRefusal(`no file ${name}`)
  const leftBefore = SIDECARS.filter((sidecar) => existsSync(path + sidecar))
  let db: Database | undefined
  try {
    db = new Database(path, { readonly: true, strict: true })
    const rows = db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all()
    if (rows.length !== 1 || rows[0]?.integrity_check !== 'ok') {
      throw new BackupRefusal(`${name} fails PRAGMA integrity_check: ${rows[0]?.integrity_check ?? 'no answer'}`)
    }
    const tables = db
      .query<{ name: string }, []>(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('users', 'sessions')",
      )
      .all()
    if (tables.length !== 2) throw new BackupRefusal(`${name} is not a wxauth database: no users and sessions tables`)
    const version = schemaVersion(db)
    if (version > MIGRATIONS.length) {
      throw new BackupRefusal(
        `${name} is at schema version ${version}, newer than this wxauth (${MIGRATIONS.length}); use a newer wxauth`,
      )
    }
    return { version, users: count(db, 'users'), sessions: count(db, 'sessions') }
  } catch (error) {
    if (error instanceof BackupRefusal) throw error
    if (codeOf(error) === 'SQLITE_NOTADB') throw new BackupRefusal(`${name} is not a SQLite database`)
    throw new BackupRefusal(`${name} is damaged: ${messageOf(error)}`)
  } finally {
    db?.close()
    for (const sidecar of SIDECARS) if (!leftBefore.includes(sidecar)) rmSync(path + sidecar, { force: true })
  }
}

const alreadyThere = (file: string) =>
  new BackupRefusal(`${file} already exists; a backup never overwrites a file: choose another name`)

/** Gives `temp` the name `file` unless something has taken that name meanwhile: link fails rather than replace. */
function placeWithoutOverwriting(temp: string, file: string): void {
  try {
    linkSync(temp, file)
  } catch (error) {
    if (codeOf(error) === 'EEXIST') throw alreadyThere(file)
    // A file system without hard links: check once more, then rename.
    if (existsSync(file)) throw alreadyThere(file)
    renameSync(temp, file)
    return
  }
  unlinkSync(temp)
}

/**
 * A consistent copy of the live database in `file`: `VACUUM INTO` reads one snapshot while the server
 * keeps writing, into a temporary name beside `file` that is checked, flushed and then linked into place.
 */
export function backupDatabase(databasePath: string, file: string): BackupResult {
  const folder = dirname(resolve(file))
  if (!isFolder(folder)) throw new BackupRefusal(`no folder ${folder} for ${file}; create it first`)
  if (existsSync(file)) throw alreadyThere(file)
  if (!existsSync(databasePath)) {
    throw new BackupRefusal(`no database at ${databasePath}; start the server or run wxauth migrate first`)
  }
  const temp = tempBeside(file, 'partial')
  try {
    // The copy holds every session's session_key and the access_token: only its owner may read it. SQLite
    // writes VACUUM INTO into an empty file that already exists, keeping its mode.
    writeFileSync(temp, '', { mode: 0o600, flag: 'wx' })
    let source: Database
    try {
      source = connectDatabase(databasePath)
    } catch (error) {
      throw new BackupRefusal(`cannot open DATABASE_PATH=${databasePath}: ${messageOf(error)}`)
    }
    try {
      source.query('VACUUM INTO ?').run(temp)
    } catch (error) {
      throw new BackupRefusal(`cannot copy DATABASE_PATH=${databasePath}: ${messageOf(error)}`)
    } finally {
      source.close()
    }
    const { users, sessions } = inspectDatabase(temp)
    fsyncPath(temp)
    placeWithoutOverwriting(temp, file)
    fsyncPath(folder)
    return { file, bytes: statSync(file).size, users, sessions }
  } finally {
    rmSync(temp, { force: true })
  }
}

/**
 * Ends the old database's WAL before it is replaced: leaving WAL mode needs the only connection,
 * so a server still using the file makes this fail with SQLITE_BUSY. A file SQLite cannot open is
 * replaced as it is.
 */
function releaseOldDatabase(databasePath: string): void {
  if (!existsSync(databasePath)) return
  let db: Database | undefined
  try {
    db = new Database(databasePath, { readwrite: true })
    db.run(`PRAGMA busy_timeout = ${IN_USE_WAIT_MS}`)
    db.query('PRAGMA journal_mode = DELETE').get()
  } catch (error) {
    if (codeOf(error).startsWith('SQLITE_BUSY') || codeOf(error).startsWith('SQLITE_LOCKED')) {
      throw new BackupRefusal(`${databasePath} is in use by another process; stop the server first`)
    }
  } finally {
    db?.close()
  }
}

/**
 * Replaces the database at `databasePath` by the backup in `file`: copied beside it, checked, the old
 * file's -wal/-shm removed (they would be replayed onto the new file), renamed over it, then migrated.
 */
export function restoreDatabase(file: string, databasePath: string): RestoreResult {
  inspectDatabase(file)
  mkdirSync(dirname(resolve(databasePath)), { recursive: true })
  const temp = tempBeside(databasePath, 'restore')
  try {
    copyFileSync(file, temp)
    inspectDatabase(temp, `${file} (copied)`)
    fsyncPath(temp)
    releaseOldDatabase(databasePath)
    for (const sidecar of SIDECARS) rmSync(databasePath + sidecar, { force: true })
    renameSync(temp, databasePath)
    fsyncPath(dirname(resolve(databasePath)))
  } finally {
    rmSync(temp, { force: true })
  }
  const { db, change } = openMigratedDatabase(databasePath)
  try {
    return { file, databasePath, users: count(db, 'users'), sessions: count(db, 'sessions'), schema: change }
  } finally {
    db.close()
  }
}

function describeBackup({ file, bytes, users, sessions }: BackupResult, databasePath: string): string {
  return `backed up ${databasePath} to ${file}: ${plural(bytes, 'byte')}, ${plural(users, 'user')}, ${plural(sessions, 'session')}`
}

function describeRestore({ file, databasePath, users, sessions, schema }: RestoreResult): string {
  const upgraded = schema.from < schema.to ? ` (upgraded from ${schema.from})` : ''
  return `restored ${file} to ${databasePath}: ${plural(users, 'user')}, ${plural(sessions, 'session')}, schema version ${schema.to}${upgraded}`
}

function run(command: BackupCommand, env: Env, io: AdminOutput): void {
  const { databasePath, databaseUrl, redisUrl } = readConfig(env, 'admin')
  if (databaseUrl) {
    const tool = command.name === 'backup' ? PG_DUMP_COMMAND : PG_RESTORE_COMMAND
    throw new BackupRefusal(`${command.name} works on the SQLite file; with DATABASE_URL use PostgreSQL's: ${tool}`, 2)
  }
  if (databasePath === ':memory:' || databasePath === '') {
    throw new BackupRefusal(`DATABASE_PATH=${databasePath || '""'} is not a file to ${command.name}`, 2)
  }
  const print = (value: unknown, text: string) => io.out(command.json ? JSON.stringify(value) : text)
  if (command.name === 'backup') {
    const result = backupDatabase(databasePath, command.file)
    print(result, describeBackup(result, databasePath))
    if (redisUrl) io.err('wxauth: the sessions are in REDIS_URL, not in this copy; Redis keeps them in its own files')
    return
  }
  if (!command.yes) {
    const { version, users, sessions } = inspectDatabase(command.file)
    throw new BackupRefusal(
      `restore would replace DATABASE_PATH=${databasePath} with ${command.file} (schema version ${version}, ${plural(users, 'user')}, ${plural(sessions, 'session')}) and migrate it; stop the server, then run: wxauth restore --yes ${command.file}`,
      2,
    )
  }
  const result = restoreDatabase(command.file, databasePath)
  print(result, describeRestore(result))
}

export interface RunBackupOptions {
  env?: Env
  io?: AdminOutput
}

/** `wxauth backup <file>` and `wxauth restore <file>` on DATABASE_PATH; returns the exit code. */
export function runBackup(
  command: BackupCommand,
  { env = process.env, io = { out: console.log, err: console.error } }: RunBackupOptions = {},
): number {
  try {
    run(command, env, io)
    return 0
  } catch (error) {
    if (error instanceof BackupRefusal) {
      io.err(`wxauth: ${error.message}`)
      return error.exitCode
    }
    if (error instanceof ConfigError) {
      io.err(`wxauth: ${error.message}`)
      return 1
    }
    // The file system's own refusals (EACCES, ENOSPC, …): one line, not a stack trace.
    if (/^E[A-Z]+$/.test(codeOf(error))) {
      io.err(`wxauth: ${command.name} failed: ${messageOf(error)}`)
      return 1
    }
    throw error
  }
}
