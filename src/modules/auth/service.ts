import type { Clock } from '../../libs/clock'
import { groupCommit } from '../db/service'
import type { Stores } from '../store/service'
import type { User } from '../users/model'
import type { WechatClient, WechatSession } from '../wechat/model'
import { LOGIN_CODE_LIFETIME_MS, LOGIN_WAIT_MARGIN_MS, MAX_REMEMBERED_LOGINS } from './model'

export interface LoginResult {
  skey: string
  expiresAt: number
  user: User
}

export interface LoginServiceOptions {
  /** With everything in SQLite, logins are written by group commit. */
  stores: Stores
  wechat: WechatClient
  clock: Clock
  sessionTtlSeconds: number
  /** A login beyond this many live sessions of one user ends the oldest. */
  maxSessionsPerUser: number
  /** Share answers with other instances (Redis); without it they live in this process only. */
  shared?: LoginReplay
}

/** Answers to wx.login codes that every instance can see (auth/shared-replay.ts). */
export interface LoginReplay {
  /** True when this instance is the one to ask WeChat; false when another already is or did. */
  claim(code: string, lifetimeMs: number): Promise<boolean>
  publish(code: string, result: LoginResult, lifetimeMs: number): Promise<void>
  /** Lets the code go after a failed exchange, so the next attempt asks WeChat itself. */
  abandon(code: string): Promise<void>
  /** The other instance's answer; null when it gave up or took longer than `waitMs`. */
  awaitAnswer(code: string, waitMs: number): Promise<LoginResult | null>
}

type SaveLogin = (login: WechatSession & { nowMs: number }) => Promise<LoginResult>

/**
 * Upserts the user, starts the session and ends the user's oldest sessions beyond the cap. With
 * SQLite sessions this is one group-committed transaction; on PostgreSQL or Redis the three steps
 * run in turn, and a failure between them leaves at most a user row that the next login reuses.
 */
export function createLoginWriter({
  stores,
  sessionTtlSeconds,
  maxSessionsPerUser,
}: Pick<LoginServiceOptions, 'stores' | 'sessionTtlSeconds' | 'maxSessionsPerUser'>): SaveLogin {
  if (stores.kind === 'sqlite') {
    const { users, sessions } = stores
    // A rolled-back upsert may have cached a user that was never stored: forget cached users then.
    return groupCommit(
      stores.db,
      ({ openid, unionid, sessionKey, nowMs }): LoginResult => {
        const user = users.upsert(openid, unionid, nowMs)
        const session = sessions.create({ userId: user.id, sessionKey, nowMs, ttlSeconds: sessionTtlSeconds })
        sessions.trimForUser(user.id, maxSessionsPerUser, session.tokenHash)
        return { skey: session.token, expiresAt: session.expiresAt, user }
      },
      () => users.forgetCached(),
    )
  }
  const { users, sessions } = stores
  return async ({ openid, unionid, sessionKey, nowMs }) => {
    const user = await users.upsert(openid, unionid, nowMs)
    const session = await sessions.create({ userId: user.id, sessionKey, nowMs, ttlSeconds: sessionTtlSeconds })
    await sessions.trimForUser(user.id, maxSessionsPerUser, session.tokenHash)
    return { skey: session.token, expiresAt: session.expiresAt, user }
  }
}

/** WeChat's answers whose login could not be saved, by code, in memory for the code's lifetime. */
function unsavedAnswers() {
  type Unsaved = { answer: WechatSession; forgetAt: number }
  const answers = new Map<string, Unsaved>()
  return {
    keep(code: string, unsaved: Unsaved, nowMs: number): void {
      for (const [kept, entry] of answers) {
        if (entry.forgetAt > nowMs && answers.size < MAX_REMEMBERED_LOGINS) break
        answers.delete(kept)
      }
      answers.set(code, unsaved)
    },
    /** The kept answer for `code`, once: a save that fails again keeps it again. */
    take(code: string, nowMs: number): Unsaved | undefined {
      const entry = answers.get(code)
      answers.delete(code)
      return entry && entry.forgetAt > nowMs ? entry : undefined
    },
  }
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
  stores,
  wechat,
  clock,
  sessionTtlSeconds,
  maxSessionsPerUser,
  shared,
}: LoginServiceOptions) {
  const remembered = new Map<string, RememberedLogin>()
  const { sessions } = stores
  const saveLogin = createLoginWriter({ stores, sessionTtlSeconds, maxSessionsPerUser })
  const unsaved = unsavedAnswers()

  /**
   * WeChat's answer, saved as a login. WeChat takes each code once: when saving fails (a store
   * outage), its answer is kept for the code's lifetime, so the client's retry logs in without
   * asking WeChat again (which would say 40163 and send the user back to wx.login).
   */
  async function exchange(code: string): Promise<LoginResult> {
    const kept = unsaved.take(code, clock())
    const answer = kept?.answer ?? (await wechat.code2Session(code))
    try {
      return await saveLogin({ ...answer, nowMs: clock() })
    } catch (error) {
      unsaved.keep(code, kept ?? { answer, forgetAt: clock() + LOGIN_CODE_LIFETIME_MS }, clock())
      throw error
    }
  }

  /** The same as exchange, agreed with the other instances: one of them asks WeChat, the rest get its answer. */
  async function exchangeOnce(code: string): Promise<LoginResult> {
    if (!shared) return exchange(code)
    if (await shared.claim(code, LOGIN_CODE_LIFETIME_MS)) {
      try {
        const result = await exchange(code)
        await shared.publish(code, result, LOGIN_CODE_LIFETIME_MS)
        return result
      } catch (error) {
        await shared.abandon(code).catch(() => undefined)
        throw error
      }
    }
    const earlier = await shared.awaitAnswer(code, wechat.timeoutMs + LOGIN_WAIT_MARGIN_MS)
    // Given up, or logged out since: the code is WeChat's business again.
    if (earlier && (await sessions.validate(earlier.skey, clock()))) return earlier
    return exchange(code)
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
    const result = exchangeOnce(code)
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
    if (await sessions.validate(earlier.skey, clock())) return earlier
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
