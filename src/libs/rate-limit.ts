import { BoundedMap } from './bounded-map'

interface Bucket {
  tokens: number
  at: number
}

/** Distinct keys remembered (~100 bytes each); beyond it the least recently seen are forgotten. */
const MAX_KEYS = 50_000

/**
 * A token bucket per key: `perMinute` tokens refilled evenly over a minute, and a full bucket to
 * start with, so a client may burst up to `perMinute` and then gets one every 60/perMinute seconds.
 */
export function createRateLimiter(perMinute: number, maxKeys = MAX_KEYS) {
  const buckets = new BoundedMap<string, Bucket>(maxKeys)
  const tokensPerMs = perMinute / 60_000
  return {
    /** 0 when allowed (a token is taken), else the ms until the next token. */
    take(key: string, nowMs: number): number {
      const bucket = buckets.get(key)
      const tokens = bucket ? Math.min(perMinute, bucket.tokens + (nowMs - bucket.at) * tokensPerMs) : perMinute
      const allowed = tokens >= 1
      // Re-inserting keeps the map in least-recently-seen order: a flood of new addresses evicts
      // idle ones, not the address that is hammering (and being refused) right now.
      buckets.delete(key)
      buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at: nowMs })
      return allowed ? 0 : Math.ceil((1 - tokens) / tokensPerMs)
    },
    get size() {
      return buckets.size
    },
  }
}

/**
 * The client's address: the socket's peer, or with `trustProxy` the last X-Forwarded-For entry —
 * the one your reverse proxy appended; earlier entries come from the client and prove nothing.
 * Null when there is no socket to ask (the app called through `app.handle()`).
 */
/** What can tell a request's peer address: Bun's server (Elysia's `server`), absent under app.handle(). */
export type AddressSource = { requestIP(request: Request): { address: string } | null } | null

export function clientAddress(request: Request, server: AddressSource, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').pop()?.trim()
    if (forwarded) return forwarded
  }
  return server?.requestIP(request)?.address ?? null
}
