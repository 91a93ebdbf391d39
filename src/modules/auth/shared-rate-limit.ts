import { createHash } from 'node:crypto'
import type { Redis } from '../db/redis'

/** A limiter's answer: 0 when allowed (a token is taken), else the ms until the next token. */
export interface RateLimiter {
  take(key: string, nowMs: number): number | Promise<number>
}

const PREFIX = 'wxauth:login-rate:'

/**
 * The token bucket of createRateLimiter, kept in Redis and updated by one script: every instance takes
 * from the same bucket per key, so N instances behind a load balancer allow what one would.
 * The bucket's time only moves forward: an instance whose clock is behind neither refills it nor sets it
 * back (which would let one that is ahead count the same milliseconds again).
 */
const TAKE = `
local per_minute = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local per_ms = per_minute / 60000
local tokens = per_minute
local at = now
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if bucket[1] then
  local last = tonumber(bucket[2])
  tokens = math.min(per_minute, tonumber(bucket[1]) + math.max(0, now - last) * per_ms)
  at = math.max(now, last)
end
local allowed = tokens >= 1
if allowed then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], 60000)
if allowed then return 0 end
return math.ceil((1 - tokens) / per_ms)
`

/** The key of an address: hashed, so a long or odd X-Forwarded-For value makes a short key. */
const keyOf = (address: string) => PREFIX + createHash('sha256').update(address).digest('base64url')

/** Per-key login limit shared by every instance on this Redis; 503 STORE_UNAVAILABLE while Redis is away. */
export function redisRateLimiter(redis: Redis, perMinute: number): RateLimiter {
  return {
    async take(key, nowMs) {
      const waitMs = await redis.run((client) =>
        client.send('EVAL', [TAKE, '1', keyOf(key), String(perMinute), String(nowMs)]),
      )
      return Number(waitMs)
    },
  }
}
