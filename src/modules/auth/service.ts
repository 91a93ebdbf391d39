import type { Database } from 'bun:sqlite'
import type { Clock } from '../../libs/clock'
import { groupCommit } from '../db/service'
import type { SessionStore } from '../sessions/service'
import type { User } from '../users/model'
import type { WechatClient, WechatSession } from '../wechat/model'
import { LOGIN_CODE_LIFETIME_MS, MAX_REMEMBERED_LOGINS } from './model'

export interface LoginResult {
  skey: string
  expiresAt: number
  user: User
}

export interface LoginServiceOptions {
  db: Database
  sessions: SessionStore
  wechat: WechatClient
  clock: Clock
  sessionTtlSeconds: number
  /** A login beyond this many live sessions of one user ends the oldest. */
  maxSessionsPerUser: number
}

interface RememberedLogin {
  result: Promise<LoginResult>
  forgetAt: number
}

/**
 * Logs a wx.login code in. The same code within its lifetime gets the same answer:
 * concurrent calls share one jscode2session request, repeats get the same skey.
 * Answers live in memory only.
 */
export function createLoginService({
  db,
  sessions,
  wechat,
  clock,
  sessionTtlSeconds,
  maxSessionsPerUser,
}: LoginServiceOptions) {
  const { users } = sessions
  const remembered = new Map<string, RememberedLogin>()

  // A rolled-back upsert may have cached a user that was never stored: forget cached users then.
  const saveLogin = groupCommit(
    db,
    ({ openid, unionid, sessionKey, nowMs }: WechatSession & { nowMs: number }): LoginResult => {
      const user = users.upsert(openid, unionid, nowMs)
      const session = sessions.create({ userId: user.id, sessionKey, nowMs, ttlSeconds: sessionTtlSeconds })
      sessions.trimForUser(user.id, maxSessionsPerUser, session.tokenHash)
      return { skey: session.token, expiresAt: session.expiresAt, user }
    },
    () => users.forgetCached(),
  )

  async function exchange(code: string): Promise<LoginResult> {
    const answer = await wechat.code2Session(code)
    return saveLogin({ ...answer, nowMs: clock() })
  }

  function forgetStale(nowMs: number): void {
    // Entries share one lifetime, so insertion order is expiry order.
    for (const [code, entry] of remembered) {
      if (entry.forgetAt > nowMs && remembered.size < MAX_REMEMBERED_LOGINS) break
      remembered.delete(code)
    }
  }

  function remember(code: string, nowMs: number): Promise<LoginResult> {
    forgetStale(nowMs)
    const result = exchange(code)
    const entry = { result, forgetAt: nowMs + LOGIN_CODE_LIFETIME_MS }
    remembered.set(code, entry)
    result.catch(() => {
      if (remembered.get(code) === entry) remembered.delete(code)
    })
    return result
  }

  async function replay(code: string, entry: RememberedLogin): Promise<LoginResult> {
    const earlier = await entry.result
    // Logged out since: the code is spent, so let WeChat give its real answer.
    if (sessions.validate(earlier.skey, clock())) return earlier
    if (remembered.get(code) === entry) remembered.delete(code)
    return remember(code, clock())
  }

  return {
    login(code: string): Promise<LoginResult> {
      const nowMs = clock()
      const entry = remembered.get(code)
      if (entry && entry.forgetAt > nowMs) return replay(code, entry)
      return remember(code, nowMs)
    },
  }
}

export type LoginService = ReturnType<typeof createLoginService>
