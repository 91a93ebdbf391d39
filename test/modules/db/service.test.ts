import { Database } from 'bun:sqlite'
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATIONS } from '../../../src/modules/db/migrations'
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
    expect(tables.map((t) => t.name)).toEqual(['notes', 'sessions', 'users', 'wechat_access_tokens'])
    db.close()
  })

  test('reopening an up-to-date database changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-db-'))
    dirs.push(dir)
    const path = join(dir, 'wxauth.db')
    openDatabase(path).close()
    const db = openDatabase(path)
    expect(migrate(db)).toBe(MIGRATIONS.length)
    db.close()
  })

  test('upgrades a database made by an older wxauth without touching its rows', () => {
    const db = new Database(':memory:')
    db.run(MIGRATIONS[0] as string)
    db.run('PRAGMA user_version = 1')
    db.run("INSERT INTO users (id, openid, created_at, last_login_at) VALUES (1, 'o', 0, 0)")
    db.run("INSERT INTO sessions VALUES (x'00', 1, 'sk', 0, 1)")
    expect(migrate(db)).toBe(MIGRATIONS.length)
    expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM sessions').get()?.n).toBe(1)
    expect(db.query<{ n: number }, []>('SELECT count(*) AS n FROM wechat_access_tokens').get()?.n).toBe(0)
  })

  test('refuses a database from a newer wxauth', () => {
    const db = new Database(':memory:')
    db.run(`PRAGMA user_version = ${MIGRATIONS.length + 1}`)
    expect(() => migrate(db)).toThrow('newer')
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
