import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FOREIGN_WRITE_POLL_MS } from '../../../src/modules/sessions/model'
import { SWEEP_THREAD_NICE } from '../../../src/modules/sessions/sweep-protocol'
import { sweepWorkerUrl } from '../../../src/modules/sessions/sweep-worker-client'
import {
  createSessionStore,
  createUserStore,
  generateSessionToken,
  hashSessionToken,
  openDatabase,
  startSweeper,
} from '../../../src/server'
import { manualClock } from '../../helpers'

function setup() {
  const db = openDatabase(':memory:')
  const users = createUserStore(db)
  const sessions = createSessionStore(db, { users })
  const clock = manualClock()
  const user = users.upsert('openid-1', null, clock())
  return { db, users, sessions, clock, user }
}

function countSessions(db: ReturnType<typeof openDatabase>): number {
  return db.query<{ n: number }, []>('SELECT count(*) AS n FROM sessions').get()?.n ?? 0
}

describe('session tokens', () => {
  test('are 32 random bytes in base64url, never repeating', () => {
    const tokens = new Set(Array.from({ length: 1000 }, generateSessionToken))
    expect(tokens.size).toBe(1000)
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(Buffer.from(token, 'base64url').byteLength).toBe(32)
    }
  })

  test('hash to SHA-256', () => {
    const token = generateSessionToken()
    const expected = new Bun.CryptoHasher('sha256').update(token).digest('hex')
    expect(Buffer.from(hashSessionToken(token)).toString('hex')).toBe(expected)
    expect(hashSessionToken(token).byteLength).toBe(32)
  })
})

describe('session store', () => {
  test('create then validate returns the session and its user', () => {
    const { sessions, clock, user } = setup()
    const { token, expiresAt } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    expect(expiresAt).toBe(clock() + 60_000)
    const found = sessions.validate(token, clock())
    expect(found?.user).toEqual(user)
    expect(found?.session.expiresAt).toBe(expiresAt)
    expect(found?.session.userId).toBe(user.id)
  })

  test('stores only the hash of the token, and the session_key server-side', () => {
    const { db, sessions, clock, user } = setup()
    const { token } = sessions.create({
      userId: user.id,
      sessionKey: 'the-session-key',
      nowMs: clock(),
      ttlSeconds: 60,
    })
    const row = db.query<{ token_hash: Uint8Array }, []>('SELECT token_hash FROM sessions').get()
    expect(Buffer.from(row?.token_hash ?? []).equals(Buffer.from(hashSessionToken(token)))).toBe(true)
    expect(sessions.sessionKeyOf(hashSessionToken(token))).toBe('the-session-key')
  })

  test('rejects unknown, malformed and expired tokens', () => {
    const { sessions, clock, user } = setup()
    const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    expect(sessions.validate(generateSessionToken(), clock())).toBeNull()
    expect(sessions.validate('short', clock())).toBeNull()
    expect(sessions.validate(`${token}x`, clock())).toBeNull()
    clock.advance(59_999)
    expect(sessions.validate(token, clock())).not.toBeNull()
    clock.advance(1)
    expect(sessions.validate(token, clock())).toBeNull()
  })

  test('a token of the right length but not base64url is refused before the database is asked', () => {
    const { db, sessions, clock, user } = setup()
    const malformed = '!'.repeat(43)
    db.query(
      'INSERT INTO sessions (token_hash, user_id, session_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    ).run(hashSessionToken(malformed), user.id, 'sk', clock(), clock() + 60_000)
    expect(sessions.validate(malformed, clock())).toBeNull()
  })

  test('delete ends one session and leaves the others', () => {
    const { sessions, clock, user } = setup()
    const a = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    const b = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    sessions.delete(hashSessionToken(a.token))
    expect(sessions.validate(a.token, clock())).toBeNull()
    expect(sessions.validate(b.token, clock())).not.toBeNull()
  })

  test('deleteExpired removes at most one batch of expired rows only', () => {
    const { db, sessions, clock, user } = setup()
    for (let i = 0; i < 25; i++) sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 10 })
    const live = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
    clock.advance(10_000)
    expect(sessions.deleteExpired(clock(), 10)).toBe(10)
    expect(sessions.deleteExpired(clock(), 10)).toBe(10)
    expect(sessions.deleteExpired(clock(), 10)).toBe(5)
    expect(sessions.deleteExpired(clock(), 10)).toBe(0)
    expect(countSessions(db)).toBe(1)
    expect(sessions.validate(live.token, clock())).not.toBeNull()
  })
})

describe('sweeper', () => {
  test('sweeps every expired row in batches, yielding to the event loop between them', async () => {
    const { db, sessions, clock, user } = setup()
    db.transaction(() => {
      for (let i = 0; i < 2500; i++)
        sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
    })()
    const live = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
    clock.advance(1000)
    const sweeper = startSweeper({ sessions, intervalMs: 60_000, clock, batchRows: 1000 })
    let ticks = 0
    const ticker = setInterval(() => ticks++, 0)
    const deleted = await sweeper.sweepNow()
    clearInterval(ticker)
    await sweeper.stop()
    expect(deleted).toBe(2500)
    expect(countSessions(db)).toBe(1)
    expect(sessions.validate(live.token, clock())).not.toBeNull()
    expect(ticks).toBeGreaterThan(0)
  })

  test('runs on its interval and stops cleanly', async () => {
    const { db, sessions, clock, user } = setup()
    sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
    clock.advance(1000)
    const sweeper = startSweeper({ sessions, intervalMs: 10, clock })
    await Bun.sleep(50)
    expect(countSessions(db)).toBe(0)
    await sweeper.stop()
    sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
    clock.advance(1000)
    await Bun.sleep(50)
    expect(countSessions(db)).toBe(1)
  })

  test('shares one running sweep between callers', async () => {
    const { sessions, clock } = setup()
    const sweeper = startSweeper({ sessions, intervalMs: 60_000, clock })
    expect(sweeper.sweepNow()).toBe(sweeper.sweepNow())
    await sweeper.stop()
  })
})

describe('session cache', () => {
  test('logout through the store evicts the cached session at once', () => {
    const { sessions, clock, user } = setup()
    const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    expect(sessions.validate(token, clock())).not.toBeNull()
    expect(sessions.validate(token, clock())).not.toBeNull()
    sessions.delete(hashSessionToken(token))
    expect(sessions.validate(token, clock())).toBeNull()
  })

  test('a cached session still expires on time', () => {
    const { sessions, clock, user } = setup()
    const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    expect(sessions.validate(token, clock())).not.toBeNull()
    clock.advance(60_000)
    expect(sessions.validate(token, clock())).toBeNull()
  })

  test('sees a revocation by another process within the poll interval', () =>
    withFileSessions(async ({ path, db, sessions, clock, user }) => {
      const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
      expect(sessions.validate(token, clock())).not.toBeNull()
      writeFromAnotherConnection(path, 'DELETE FROM sessions')
      clock.advance(FOREIGN_WRITE_POLL_MS)
      expect(sessions.validate(token, clock())).toBeNull()
      db.close()
    }))

  test('sees a change to the user by another process within the poll interval', () =>
    withFileSessions(async ({ path, db, sessions, clock, user }) => {
      const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
      expect(sessions.validate(token, clock())?.user.unionid).toBeNull()
      writeFromAnotherConnection(path, `UPDATE users SET unionid = 'union-1' WHERE id = ${user.id}`)
      clock.advance(FOREIGN_WRITE_POLL_MS)
      expect(sessions.validate(token, clock())?.user.unionid).toBe('union-1')
      db.close()
    }))

  test('deleteAll ends cached sessions at once', () => {
    const { sessions, clock, user } = setup()
    const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
    expect(sessions.validate(token, clock())).not.toBeNull()
    expect(sessions.deleteAll()).toBe(1)
    // Same poll window, and writes through this connection never trip the foreign-write check anyway.
    expect(sessions.validate(token, clock())).toBeNull()
    clock.advance(FOREIGN_WRITE_POLL_MS)
    expect(sessions.validate(token, clock())).toBeNull()
  })

  test('a user seen again at login is fresh in cached sessions', () => {
    const { sessions, clock, user } = setup()
    const { token } = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 })
    expect(sessions.validate(token, clock())?.user.unionid).toBeNull()
    sessions.users.upsert(user.openid, 'union-1', clock())
    expect(sessions.validate(token, clock())?.user.unionid).toBe('union-1')
  })

  test('still answers from the database once the cache has overflowed', () => {
    const db = openDatabase(':memory:')
    const sessions = createSessionStore(db, { cacheEntries: 2 })
    const clock = manualClock()
    const user = sessions.users.upsert('o', null, clock())
    const tokens = [1, 2, 3, 4].map(
      () => sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 60 }).token,
    )
    for (const token of [...tokens, ...tokens]) expect(sessions.validate(token, clock())?.user.id).toBe(user.id)
  })
})

/** A session store on a new database file with one user, for sweeps that need a worker; removed afterwards. */
async function withFileSessions(
  run: (setup: {
    dir: string
    path: string
    db: ReturnType<typeof openDatabase>
    sessions: ReturnType<typeof createSessionStore>
    clock: ReturnType<typeof manualClock>
    user: { id: number }
  }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-sweep-'))
  try {
    const path = join(dir, 'wxauth.db')
    const db = openDatabase(path)
    const sessions = createSessionStore(db)
    const clock = manualClock(Date.now())
    const user = sessions.users.upsert('o', null, clock())
    await run({ dir, path, db, sessions, clock, user })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A write through a second connection to the same file, as another process (the admin CLI) makes it. */
function writeFromAnotherConnection(path: string, sql: string): void {
  const other = new Database(path)
  other.run(sql)
  other.close()
}

/** Thread id → nice value, for every thread of this process (field 19 of /proc/self/task/<id>/stat). */
function niceOfThreads(): Map<number, number> {
  const nice = new Map<number, number>()
  for (const threadId of readdirSync('/proc/self/task')) {
    const stat = statOfThread(threadId)
    if (stat !== null) nice.set(Number(threadId), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]))
  }
  return nice
}

/** A thread listed a moment ago may have ended since (a runtime helper, a terminated worker). */
function statOfThread(threadId: string): string | null {
  try {
    return readFileSync(`/proc/self/task/${threadId}/stat`, 'utf8')
  } catch {
    return null
  }
}

const threadsAtNice = (value: number) =>
  new Set([...niceOfThreads()].filter(([, nice]) => nice === value).map(([threadId]) => threadId))

describe('sweeper in a worker thread', () => {
  test('deletes every expired row through its own connection and closes cleanly', async () => {
    await withFileSessions(async ({ path, db, sessions, clock, user }) => {
      db.transaction(() => {
        for (let i = 0; i < 2500; i++)
          sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
      })()
      const live = sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 3600 })
      clock.advance(1000)
      const swept: number[] = []
      const sweeper = startSweeper({
        sessions,
        intervalMs: 60_000,
        clock,
        batchRows: 1000,
        worker: { db, path },
        onSwept: (deleted) => swept.push(deleted),
      })
      expect(await sweeper.sweepNow()).toBe(2500)
      expect(swept).toEqual([2500])
      expect(countSessions(db)).toBe(1)
      expect(sessions.validate(live.token, clock())).not.toBeNull()
      expect(db.query<{ wal_autocheckpoint: number }, []>('PRAGMA wal_autocheckpoint').get()?.wal_autocheckpoint).toBe(
        0,
      )
      await sweeper.stop()
      expect(db.query<{ wal_autocheckpoint: number }, []>('PRAGMA wal_autocheckpoint').get()?.wal_autocheckpoint).toBe(
        1000,
      )
      db.close()
    })
  })

  test.if(process.platform === 'linux')(
    'the worker thread runs at the lowest priority; the server thread keeps its own',
    async () => {
      await withFileSessions(async ({ path, db, sessions, clock }) => {
        const mainNice = niceOfThreads().get(process.pid)
        const before = threadsAtNice(SWEEP_THREAD_NICE)
        const sweeper = startSweeper({ sessions, intervalMs: 60_000, clock, worker: { db, path } })
        await sweeper.sweepNow() // answered by the worker, so it has opened and lowered itself by now
        const lowered = [...threadsAtNice(SWEEP_THREAD_NICE)].filter((threadId) => !before.has(threadId))
        expect(lowered).toHaveLength(1)
        expect(niceOfThreads().get(process.pid)).toBe(mainNice as number)
        await sweeper.stop()
        db.close()
      })
    },
  )

  test('a worker that cannot start is reported once, and sweeping carries on in this thread', async () => {
    await withFileSessions(async ({ dir, path, db, sessions, clock, user }) => {
      for (let i = 0; i < 5; i++) sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
      clock.advance(1000)
      const errors: string[] = []
      const sweeper = startSweeper({
        sessions,
        intervalMs: 60_000,
        clock,
        worker: { db, path, url: join(dir, 'missing-worker.ts') },
        onError: (error) => errors.push(String(error)),
      })
      expect(await sweeper.sweepNow()).toBe(5)
      sessions.create({ userId: user.id, sessionKey: 'sk', nowMs: clock(), ttlSeconds: 1 })
      clock.advance(1000)
      expect(await sweeper.sweepNow()).toBe(1)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toContain('sweep worker failed')
      await sweeper.stop()
      db.close()
    })
  })

  test('inside a compiled binary the worker is found under the virtual root', () => {
    expect(sweepWorkerUrl('file:///$bunfs/root/wxauth')).toBe('./modules/sessions/sweep-worker.ts')
    expect(sweepWorkerUrl('file:///srv/wxauth/src/modules/sessions/sweep-worker-client.ts')).toBe(
      'file:///srv/wxauth/src/modules/sessions/sweep-worker.ts',
    )
  })
})
