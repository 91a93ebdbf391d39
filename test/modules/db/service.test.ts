import { Database } from 'bun:sqlite'
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATIONS } from '../../../src/modules/db/migrations'
import {
  connectDatabase,
  describeSchemaChange,
  groupCommit,
  openMigratedDatabase,
} from '../../../src/modules/db/service'
import { migrate, openDatabase } from '../../../src/server'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('openDatabase', () => {
  test('creates the parent folder, uses WAL and foreign keys, and migrates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-db-'))
    dirs.push(dir)
    const db = openDatabase(join(dir, 'nested', 'deeper', 'wxauth.db'))
    expect(db.query<{ journal_mode: string }, []>('PRAGMA journal_mode').get()?.journal_mode).toBe('wal')
    expect(db.query<{ foreign_keys: number }, []>('PRAGMA foreign_keys').get()?.foreign_keys).toBe(1)
    expect(db.query<{ timeout: number }, []>('PRAGMA busy_timeout').get()?.timeout).toBe(5000)
    expect(db.query<{ user_version: number }, []>('PRAGMA user_version').get()?.user_version).toBe(MIGRATIONS.length)
    const tables = db
      .query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .all()
    expect(tables.map((t) => t.name)).toEqual([
      'login_events',
      'notes',
      'sessions',
      'users',
      'web_login_tickets',
      'wechat_access_tokens',
    ])
    db.close()
  })

  test('reopening an up-to-date database changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-db-'))
    dirs.push(dir)
    const path = join(dir, 'wxauth.db')
    openDatabase(path).close()
    const db = openDatabase(path)
    expect(migrate(db)).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length })
    db.close()
  })

  test('says whether it created the schema or found it current (wxauth migrate prints it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-db-'))
    dirs.push(dir)
    const path = join(dir, 'wxauth.db')
    const created = openMigratedDatabase(path)
    created.db.close()
    expect(created.change).toEqual({ from: 0, to: MIGRATIONS.length })
    const reopened = openMigratedDatabase(path)
    reopened.db.close()
    expect(reopened.change).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length })
  })

  test('upgrades a database made by an older wxauth without touching its rows', () => {
    const db = new Database(':memory:')
    db.run(MIGRATIONS[0] as string)
    db.run('PRAGMA user_version = 1')
    db.run("INSERT INTO users (id, openid, created_at, last_login_at) VALUES (1, 'o', 0, 0)")
    db.run("INSERT INTO sessions VALUES (x'00', 1, 'sk', 0, 1)")
    expect(migrate(db)).toEqual({ from: 1, to: MIGRATIONS.length })
    expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM sessions').get()?.n).toBe(1)
    expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM wechat_access_tokens').get()?.n).toBe(0)
  })

  test('refuses a database from a newer wxauth', () => {
    const db = new Database(':memory:')
    db.run(`PRAGMA user_version = ${MIGRATIONS.length + 1}`)
    expect(() => migrate(db)).toThrow('newer')
  })

  test('describeSchemaChange: created, upgraded from N to M, already current', () => {
    expect(describeSchemaChange('a.db', { from: 0, to: 3 })).toBe('created the schema in a.db (schema version 3)')
    expect(describeSchemaChange('a.db', { from: 1, to: 3 })).toBe('upgraded a.db from schema version 1 to 3')
    expect(describeSchemaChange('a.db', { from: 3, to: 3 })).toBe('a.db is already at the current schema version 3')
  })

  test('deleting a user takes their sessions and notes with them', () => {
    const db = openDatabase(':memory:')
    db.run("INSERT INTO users (id, openid, created_at, last_login_at) VALUES (1, 'o', 0, 0)")
    db.run("INSERT INTO sessions VALUES (x'00', 1, 'sk', 0, 1)")
    db.run("INSERT INTO notes (user_id, text, created_at) VALUES (1, 'n', 0)")
    db.run('DELETE FROM users WHERE id = 1')
    expect(
      db.query<{ n: number }, []>('SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM notes) AS n').get()
        ?.n,
    ).toBe(0)
  })
})

describe('groupCommit', () => {
  function fileDatabase() {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-group-'))
    dirs.push(dir)
    const path = join(dir, 'wxauth.db')
    const db = openDatabase(path)
    db.run('CREATE TABLE items (name TEXT PRIMARY KEY) STRICT')
    const observer = connectDatabase(path)
    const commits = () => observer.query<{ data_version: number }, []>('PRAGMA data_version').get()?.data_version ?? 0
    return { db, observer, commits }
  }

  test('writes requested in one event-loop turn share one commit', async () => {
    const { db, observer, commits } = fileDatabase()
    const insert = db.query<{ name: string }, [string]>('INSERT INTO items (name) VALUES (?) RETURNING name')
    const write = groupCommit(db, (name: string) => insert.get(name)?.name)
    const before = commits()
    expect(await Promise.all(Array.from({ length: 10 }, (_, i) => write(`n${i}`)))).toEqual(
      Array.from({ length: 10 }, (_, i) => `n${i}`),
    )
    expect(commits()).toBe(before + 1)
    await write('later')
    expect(commits()).toBe(before + 2)
    observer.close()
    db.close()
  })

  test('a failing write rolls back alone; the others commit; onRollback runs', async () => {
    const { db, observer } = fileDatabase()
    const insert = db.query<null, [string]>('INSERT INTO items (name) VALUES (?)')
    let rollbacks = 0
    const write = groupCommit(
      db,
      (name: string) => {
        insert.run(name)
        if (name === 'bad') throw new Error('refused after writing')
        return name
      },
      () => rollbacks++,
    )
    const results = await Promise.allSettled(['a', 'bad', 'b', 'a'].map(write))
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected'])
    const names = db.query<{ name: string }, []>('SELECT name FROM items ORDER BY name').all()
    expect(names.map((row) => row.name)).toEqual(['a', 'b'])
    expect(rollbacks).toBe(1)
    observer.close()
    db.close()
  })
})
