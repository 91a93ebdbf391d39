import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import type { Redis } from '../db/redis'
import type { User } from '../users/model'
import type { LoginReplay, LoginResult } from './service'

/**
 * Login replay shared by every instance through Redis: the same wx.login code gets the same answer
 * whichever instance it reaches. Redis holds, under a name derived from the code, either "pending"
 * (an instance is asking WeChat) or the answer encrypted with AES-256-GCM under a key derived from
 * the code. Only a client that holds the code can read the skey back; Redis alone never can.
 */
const PREFIX = 'wxauth:login:'
const PENDING = 'pending'
const POLL_MS = 20

const derive = (purpose: string, code: string) => createHash('sha256').update(`wxauth ${purpose}\0${code}`).digest()
const keyOf = (code: string) => PREFIX + derive('login replay id', code).toString('base64url')

function seal(code: string, result: LoginResult): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', derive('login replay key', code), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(result), 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
}

function open(code: string, sealed: string): LoginResult | null {
  try {
    const bytes = Buffer.from(sealed, 'base64')
    const decipher = createDecipheriv('aes-256-gcm', derive('login replay key', code), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    const text = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
    const parsed = JSON.parse(text) as { skey?: unknown; expiresAt?: unknown; user?: Partial<User> }
    if (
      typeof parsed.skey !== 'string' ||
      typeof parsed.expiresAt !== 'number' ||
      typeof parsed.user?.id !== 'number'
    ) {
      return null
    }
    return parsed as LoginResult
  } catch {
    return null
  }
}

export function redisLoginReplay(redis: Redis): LoginReplay {
  return {
    async claim(code, lifetimeMs) {
      const taken = await redis.run((client) =>
        client.send('SET', [keyOf(code), PENDING, 'NX', 'PX', String(lifetimeMs)]),
      )
      return taken === 'OK'
    },
    async publish(code, result, lifetimeMs) {
      await redis.run((client) => client.send('SET', [keyOf(code), seal(code, result), 'PX', String(lifetimeMs)]))
    },
    async abandon(code) {
      await redis.run((client) => client.del(keyOf(code)))
    },
    async awaitAnswer(code, waitMs) {
      const giveUpAt = performance.now() + waitMs
      const key = keyOf(code)
      for (;;) {
        const value = await redis.run((client) => client.get(key))
        if (value === null) return null
        if (value !== PENDING) return open(code, value)
        if (performance.now() > giveUpAt) return null
        await Bun.sleep(POLL_MS)
      }
    },
  }
}
