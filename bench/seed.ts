import { createSessionStore, createUserStore, openDatabase } from '../src/server'

export interface SeedOptions {
  liveSessions: number
  expiredSessions?: number
  users?: number
  /** How many live skeys to hand back for the load generator. */
  keep?: number
}

const HOUR_MS = 60 * 60 * 1000
const CHUNK_ROWS = 50_000

/** Fills a database through the real stores; returns some live skeys and the first user's id. */
export function seedDatabase(
  path: string,
  { liveSessions, expiredSessions = 0, users = 1000, keep = 100 }: SeedOptions,
) {
  const db = openDatabase(path)
  db.run('PRAGMA cache_size = -400000') // seeding only: keep the random-key B-trees in memory
  const userStore = createUserStore(db)
  const sessions = createSessionStore(db)
  const now = Date.now()
  const userIds = db.transaction(() =>
    Array.from({ length: users }, (_, i) => userStore.upsert(`bench-openid-${i}`, null, now).id),
  )()
  const skeys: string[] = []
  const insert = db.transaction((from: number, to: number, expired: boolean) => {
    for (let i = from; i < to; i++) {
      const userId = userIds[i % userIds.length] as number
      const nowMs = expired ? now - 2 * HOUR_MS : now
      const ttlSeconds = expired ? 60 : 24 * 3600
      const { token } = sessions.create({ userId, sessionKey: 'YmVuY2hzZXNzaW9ua2V5MQ==', nowMs, ttlSeconds })
      if (!expired && skeys.length < keep) skeys.push(token)
    }
  })
  for (const [count, expired] of [
    [liveSessions, false],
    [expiredSessions, true],
  ] as const) {
    for (let from = 0; from < count; from += CHUNK_ROWS) insert(from, Math.min(count, from + CHUNK_ROWS), expired)
  }
  db.run('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
  return { skeys, firstUserId: userIds[0] as number }
}
