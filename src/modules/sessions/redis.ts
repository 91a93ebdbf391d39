import type { RedisClient } from 'bun'
import type { Redis } from '../db/redis'
import type { UserStore } from '../users/service'
import { WEB_SESSION_KEY } from './model'
import {
  hashSessionToken,
  isWellFormedToken,
  mintSession,
  type SessionStore,
  sessionListing,
  withUserOf,
} from './service'

/**
 * Keys:
 *   wxauth:session:<base64url sha256>  "userId:createdAt:expiresAt:session_key", SET … EX the session's TTL
 *   wxauth:user-sessions:<userId>      sorted set of the user's session hashes by creation time
 *   wxauth:session-expiries            sorted set of every session hash by expiry, for counting live ones
 * Redis drops a session when its TTL runs out; members of the two sets that point at a dropped key
 * are removed the next time a script walks them.
 */
const SESSION = 'wxauth:session:'
const USER_SESSIONS = 'wxauth:user-sessions:'
const EXPIRIES = 'wxauth:session-expiries'

const CREATE = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) * 1000 then redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 1000) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
return 1`

/** KEYS: user set, expiry set. ARGV: session prefix, how many to keep, the newest hash (never removed). */
const TRIM = `
local live = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. member) == 1 then table.insert(live, member)
  else redis.call('ZREM', KEYS[1], member); redis.call('ZREM', KEYS[2], member) end
end
local removed, surplus = 0, #live - tonumber(ARGV[2])
for _, member in ipairs(live) do
  if removed >= surplus then break end
  if member ~= ARGV[3] then
    redis.call('DEL', ARGV[1] .. member); redis.call('ZREM', KEYS[1], member); redis.call('ZREM', KEYS[2], member)
    removed = removed + 1
  end
end
return removed`

/** KEYS: user set, expiry set. ARGV: session prefix. */
const DELETE_FOR_USER = `
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  removed = removed + redis.call('DEL', ARGV[1] .. member)
  redis.call('ZREM', KEYS[2], member)
end
redis.call('DEL', KEYS[1])
return removed`

/** KEYS: session, expiry set. ARGV: new expiry (ms), new TTL (s), hash. Only a session that still exists moves. */
const EXTEND = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local head, key = string.match(value, '^([^:]*:[^:]*):[^:]*:(.*)$')
redis.call('SET', KEYS[1], head .. ':' .. ARGV[1] .. ':' .. key, 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[3])
return 1`

interface StoredSession {
  userId: number
  createdAt: number
  expiresAt: number
  sessionKey: string
}

function parseStored(value: string): StoredSession | null {
  const [userId, createdAt, expiresAt, ...rest] = value.split(':')
  // A web session's session_key is empty (WEB_SESSION_KEY): the field is there, with nothing in it.
  if (!userId || !createdAt || !expiresAt || rest.length === 0) return null
  const sessionKey = rest.join(':')
  return { userId: Number(userId), createdAt: Number(createdAt), expiresAt: Number(expiresAt), sessionKey }
}

/** Keys removed per round trip by deleteAll: Redis serves other clients in between. */
const DELETE_BATCH = 1000

const memberOf = (tokenHash: Uint8Array) => Buffer.from(tokenHash).toString('base64url')
const eval_ = (client: RedisClient, script: string, keys: string[], args: (string | number)[]) =>
  client.send('EVAL', [script, String(keys.length), ...keys, ...args.map(String)])

/** Sessions in Redis: TTLs set natively, so nothing sweeps; every instance sees every logout at once. */
export function createRedisSessionStore(redis: Redis, users: UserStore): SessionStore {
  const read = async (tokenHash: Uint8Array) => {
    const value = await redis.run((client) => client.get(SESSION + memberOf(tokenHash)))
    return value === null ? null : parseStored(value)
  }
  return {
    needsSweep: false,
    async create({ userId, sessionKey, nowMs, ttlSeconds }) {
      const created = mintSession(nowMs, ttlSeconds)
      const { expiresAt } = created
      const member = memberOf(created.tokenHash)
      const value = `${userId}:${nowMs}:${expiresAt}:${sessionKey}`
      await redis.run((client) =>
        eval_(
          client,
          CREATE,
          [SESSION + member, USER_SESSIONS + userId, EXPIRIES],
          [value, ttlSeconds, nowMs, member, expiresAt],
        ),
      )
      return created
    },
    async validate(token, nowMs) {
      if (!isWellFormedToken(token)) return null
      const tokenHash = hashSessionToken(token)
      const stored = await read(tokenHash)
      if (!stored || stored.expiresAt <= nowMs) return null
      return withUserOf(users, { tokenHash, userId: stored.userId, expiresAt: stored.expiresAt })
    },
    async delete(tokenHash) {
      const member = memberOf(tokenHash)
      await redis.run((client) => Promise.all([client.del(SESSION + member), client.zrem(EXPIRIES, member)]))
    },
    async deleteForUser(userId) {
      return Number(
        await redis.run((client) => eval_(client, DELETE_FOR_USER, [USER_SESSIONS + userId, EXPIRIES], [SESSION])),
      )
    },
    async trimForUser(userId, keep, newest) {
      const args = [SESSION, keep, memberOf(newest)]
      return Number(await redis.run((client) => eval_(client, TRIM, [USER_SESSIONS + userId, EXPIRIES], args)))
    },
    async extend(session, expiresAt, nowMs) {
      const member = memberOf(session.tokenHash)
      const ttlSeconds = Math.max(1, Math.ceil((expiresAt - nowMs) / 1000))
      await redis.run((client) => eval_(client, EXTEND, [SESSION + member, EXPIRIES], [expiresAt, ttlSeconds, member]))
      return { ...session, expiresAt }
    },
    deleteExpired: () => 0,
    async sessionKeyOf(tokenHash) {
      return (await read(tokenHash))?.sessionKey ?? null
    },
    async countLive(nowMs) {
      return Number(await redis.run((client) => client.send('ZCOUNT', [EXPIRIES, `(${nowMs}`, '+inf'])))
    },
    // Redis drops a session when its TTL runs out: none waits for a sweep.
    countExpired: () => 0,
    async listForUser(userId, nowMs) {
      const members = (await redis.run((client) => client.zrange(USER_SESSIONS + userId, 0, -1))) as string[]
      const values = await redis.run((client) => Promise.all(members.map((member) => client.get(SESSION + member))))
      return members
        .flatMap((member, i) => {
          const value = values[i]
          const stored = value == null ? null : parseStored(value)
          if (!stored || stored.expiresAt <= nowMs) return []
          const web = stored.sessionKey === WEB_SESSION_KEY
          return [sessionListing(Buffer.from(member, 'base64url'), stored.createdAt, stored.expiresAt, web)]
        })
        .sort((a, b) => a.createdAt - b.createdAt)
    },
    async deleteAll() {
      let deleted = 0
      for (;;) {
        const members = (await redis.run((client) => client.zrange(EXPIRIES, 0, DELETE_BATCH - 1))) as string[]
        if (members.length === 0) break
        deleted += Number(await redis.run((client) => client.del(...members.map((member) => SESSION + member))))
        await redis.run((client) => client.send('ZREM', [EXPIRIES, ...members]))
      }
      let cursor = '0'
      do {
        const [next, keys] = (await redis.run((client) =>
          client.send('SCAN', [cursor, 'MATCH', `${USER_SESSIONS}*`, 'COUNT', String(DELETE_BATCH)]),
        )) as [string, string[]]
        if (keys.length > 0) await redis.run((client) => client.del(...keys))
        cursor = next
      } while (cursor !== '0')
      return deleted
    },
  }
}
