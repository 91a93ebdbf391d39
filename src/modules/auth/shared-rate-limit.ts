import { createHash } from 'node:crypto'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import { logger } from '../../libs/log'
import { type AddressSource, clientAddress, createRateLimiter } from '../../libs/rate-limit'
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

/** Throws 429 RATE_LIMITED (with Retry-After in `set`) when the request's address is over its budget. */
export type IpLimit = (
  request: Request,
  server: AddressSource,
  set: { headers: Record<string, string | number> },
) => void | Promise<void>

export interface IpLimitOptions {
  /** Requests per minute per client IP; 0 turns the limit off. */
  perMinute: number
  /** One budget across every instance with Redis, in this process's memory without. */
  redis: Redis | undefined
  trustProxy: boolean
  clock: Clock
  /** What is limited, in messages and bucket keys: "login", "web login". */
  what: string
}

/** The per-IP limit of POST /auth/login and POST /web/login, each with its own buckets. */
export function createIpLimit({ perMinute, redis, trustProxy, clock, what }: IpLimitOptions): IpLimit {
  if (perMinute === 0) return () => {}
  const limiter = redis ? redisRateLimiter(redis, perMinute) : createRateLimiter(perMinute)
  let warnedNoAddress = false
  return async function limitPerIp(request, server, set) {
    const address = clientAddress(request, server, trustProxy)
    // Without an address every client would share one bucket and 20 a minute would be the whole
    // app's limit: let the request through and say once why nothing is limited.
    if (address === null) {
      if (!warnedNoAddress)
        logger().warn(`${what} rate limit off: no client address (Elysia has no server to ask and TRUST_PROXY is off)`)
      warnedNoAddress = true
      return
    }
    const waitMs = await limiter.take(`${what}:${address}`, clock())
    if (waitMs === 0) return
    set.headers['retry-after'] = String(Math.ceil(waitMs / 1000))
    throw new AppError(429, 'RATE_LIMITED', `too many ${what}s from this address; retry after the Retry-After seconds`)
  }
}
