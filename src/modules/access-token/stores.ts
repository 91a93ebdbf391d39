import type { Database } from 'bun:sqlite'
import type { SQL } from 'bun'
import type { Redis } from '../db/redis'
import type { MaybePromise } from '../store/model'
import type { AccessTokenRow } from './model'

export type Claim = { token: string } | 'refresh' | 'wait'

/**
 * Where the access_token and its refresh lease live: the SQLite or PostgreSQL table
 * wechat_access_tokens, or Redis when REDIS_URL is set so every instance shares one lease.
 */
export interface TokenStore {
  /** The stored token if it lives past `usableAfterMs`. */
  read(appid: string, usableAfterMs: number): MaybePromise<string | null>
  /** Atomically: the stored token if usable, else the lease for `owner` if free or stale ('refresh'), else 'wait'. */
  claim(appid: string, owner: string, nowMs: number, usableAfterMs: number, leaseMs: number): MaybePromise<Claim>
  /** Stores a fresh token and releases `owner`'s lease. */
  save(appid: string, token: string, expiresAt: number, owner: string, nowMs: number): MaybePromise<void>
  release(appid: string, owner: string): MaybePromise<void>
  /** Forgets `token` unless another caller already replaced it. */
  dropIfCurrent(appid: string, token: string): MaybePromise<void>
}

const CLAIM_SQL = {
  ensureRow: 'INSERT INTO wechat_access_tokens (appid) VALUES ($1) ON CONFLICT (appid) DO NOTHING',
  takeLease: 'UPDATE wechat_access_tokens SET lease_owner = $1, lease_until = $2 WHERE appid = $3',
  save: `UPDATE wechat_access_tokens SET access_token = $1, expires_at = $2,
           lease_owner = CASE WHEN lease_owner = $3 THEN NULL ELSE lease_owner END,
           lease_until = CASE WHEN lease_owner = $3 THEN 0 ELSE lease_until END
         WHERE appid = $4`,
  release: 'UPDATE wechat_access_tokens SET lease_owner = NULL, lease_until = 0 WHERE appid = $1 AND lease_owner = $2',
  dropIfCurrent:
    'UPDATE wechat_access_tokens SET access_token = NULL, expires_at = 0 WHERE appid = $1 AND access_token = $2',
}
const READ_SQL = 'SELECT access_token, expires_at, lease_owner, lease_until FROM wechat_access_tokens WHERE appid = $1'

/** The stored token if it lives past `usableAfterMs`. */
function usableToken(row: AccessTokenRow | null, usableAfterMs: number): string | null {
  return row?.access_token != null && Number(row.expires_at) > usableAfterMs ? row.access_token : null
}

function decide(row: AccessTokenRow | null, owner: string, nowMs: number, usableAfterMs: number): Claim {
  const token = usableToken(row, usableAfterMs)
  if (token !== null) return { token }
  if (row?.lease_owner && row.lease_owner !== owner && Number(row.lease_until) > nowMs) return 'wait'
  return 'refresh'
}

/** The lease is taken in an IMMEDIATE transaction, so one process on the file refreshes at a time. */
export function sqliteTokenStore(db: Database): TokenStore {
  const read = db.query<AccessTokenRow, [string]>(READ_SQL)
  const run = (statement: string, ...params: (string | number)[]) => db.query(statement).run(...params)
  const claim = db.transaction(
    (appid: string, owner: string, nowMs: number, usableAfterMs: number, leaseMs: number) => {
      run(CLAIM_SQL.ensureRow, appid)
      const decision = decide(read.get(appid), owner, nowMs, usableAfterMs)
      if (decision === 'refresh') run(CLAIM_SQL.takeLease, owner, nowMs + leaseMs, appid)
      return decision
    },
  )
  return {
    read: (appid, usableAfterMs) => usableToken(read.get(appid), usableAfterMs),
    claim: (...args) => claim.immediate(...args),
    save(appid, token, expiresAt, owner) {
      run(CLAIM_SQL.save, token, expiresAt, owner, appid)
    },
    release(appid, owner) {
      run(CLAIM_SQL.release, appid, owner)
    },
    dropIfCurrent(appid, token) {
      run(CLAIM_SQL.dropIfCurrent, appid, token)
    },
  }
}

/** The same table in PostgreSQL; the claim locks the row (SELECT … FOR UPDATE) for its transaction. */
export function postgresTokenStore(sql: SQL): TokenStore {
  const readRow = async (runner: SQL, appid: string, lock: boolean) =>
    ((await runner.unsafe(lock ? `${READ_SQL} FOR UPDATE` : READ_SQL, [appid])) as AccessTokenRow[])[0] ?? null
  return {
    read: async (appid, usableAfterMs) => usableToken(await readRow(sql, appid, false), usableAfterMs),
    claim: (appid, owner, nowMs, usableAfterMs, leaseMs) =>
      sql.begin(async (tx) => {
        await tx.unsafe(CLAIM_SQL.ensureRow, [appid])
        const decision = decide(await readRow(tx, appid, true), owner, nowMs, usableAfterMs)
        if (decision === 'refresh') await tx.unsafe(CLAIM_SQL.takeLease, [owner, nowMs + leaseMs, appid])
        return decision
      }),
    async save(appid, token, expiresAt, owner) {
      await sql.unsafe(CLAIM_SQL.save, [token, expiresAt, owner, appid])
    },
    async release(appid, owner) {
      await sql.unsafe(CLAIM_SQL.release, [appid, owner])
    },
    async dropIfCurrent(appid, token) {
      await sql.unsafe(CLAIM_SQL.dropIfCurrent, [appid, token])
    },
  }
}

const TOKEN = 'wxauth:wechat-token:'
const LEASE = 'wxauth:wechat-token-lease:'
/** KEYS[1] is deleted only while it still holds ARGV[1] (its value, or the part after the first ':'). */
const DELETE_IF_HOLDS = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local colon = string.find(value, ':', 1, true)
if value == ARGV[1] or (colon and string.sub(value, colon + 1) == ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0`

/** In Redis: the token as "expiresAt:token" expiring with it, and the lease as a key taken with SET NX PX. */
export function redisTokenStore(redis: Redis): TokenStore {
  const deleteIfHolds = (key: string, value: string) =>
    redis.run((client) => client.send('EVAL', [DELETE_IF_HOLDS, '1', key, value]))
  async function read(appid: string, usableAfterMs: number): Promise<string | null> {
    const value = await redis.run((client) => client.get(TOKEN + appid))
    const colon = value?.indexOf(':') ?? -1
    if (!value || colon < 0) return null
    return Number(value.slice(0, colon)) > usableAfterMs ? value.slice(colon + 1) : null
  }
  return {
    read,
    async claim(appid, owner, _nowMs, usableAfterMs, leaseMs) {
      const token = await read(appid, usableAfterMs)
      if (token) return { token }
      const taken = await redis.run((client) => client.send('SET', [LEASE + appid, owner, 'NX', 'PX', String(leaseMs)]))
      if (taken === 'OK') return 'refresh'
      const holder = await redis.run((client) => client.get(LEASE + appid))
      return holder === owner ? 'refresh' : 'wait'
    },
    async save(appid, token, expiresAt, owner, nowMs) {
      const ttlMs = Math.max(1, expiresAt - nowMs)
      await redis.run((client) => client.send('SET', [TOKEN + appid, `${expiresAt}:${token}`, 'PX', String(ttlMs)]))
      await deleteIfHolds(LEASE + appid, owner)
    },
    async release(appid, owner) {
      await deleteIfHolds(LEASE + appid, owner)
    },
    async dropIfCurrent(appid, token) {
      await deleteIfHolds(TOKEN + appid, token)
    },
  }
}
