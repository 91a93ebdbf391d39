import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import { ACCESS_TOKEN_REJECTED, type WechatClient } from '../wechat/model'
import { LEASE_MARGIN_MS, LEASE_POLL_MS, REFRESH_MARGIN_MS } from './model'
import type { TokenStore } from './stores'

export interface AccessTokenManager {
  /** A token with more than REFRESH_MARGIN_MS to live, fetched from WeChat only when none is stored. */
  get(): Promise<string>
  /**
   * Runs `call` with a token. If WeChat refuses the token (40001, 40014, 42001), drops it unless another
   * caller already replaced it, gets a token once more and retries once. Never loops.
   */
  withToken<T>(call: (accessToken: string) => Promise<T>): Promise<T>
}

export interface AccessTokenManagerOptions {
  /** sqliteTokenStore(db), postgresTokenStore(sql) or redisTokenStore(redis), from access-token/stores.ts. */
  store: TokenStore
  wechat: Pick<WechatClient, 'appid' | 'timeoutMs' | 'fetchAccessToken'>
  clock: Clock
  /** How long a refreshing process holds the lease; by default WeChat's timeout plus a margin. */
  leaseMs?: number
  pollMs?: number
}

export function isAccessTokenRejected(error: unknown): boolean {
  return error instanceof AppError && error.errcode !== undefined && ACCESS_TOKEN_REJECTED.has(error.errcode)
}

/**
 * WeChat's access_token, kept in the store so restarts and other processes reuse it. Within a
 * process, concurrent callers share one refresh; across processes, a lease (a row taken in a write
 * transaction, or a Redis key) lets one process refresh while the others poll for its result.
 */
export function createAccessTokenManager({
  store,
  wechat,
  clock,
  leaseMs = wechat.timeoutMs + LEASE_MARGIN_MS,
  pollMs = LEASE_POLL_MS,
}: AccessTokenManagerOptions): AccessTokenManager {
  const { appid } = wechat
  const owner = crypto.randomUUID()
  const usableAfter = (nowMs: number) => nowMs + REFRESH_MARGIN_MS

  async function fetchAndStore(): Promise<string> {
    try {
      const { accessToken, expiresInSeconds } = await wechat.fetchAccessToken()
      const nowMs = clock()
      await store.save(appid, accessToken, nowMs + expiresInSeconds * 1000, owner, nowMs)
      return accessToken
    } catch (error) {
      await store.release(appid, owner)
      throw error
    }
  }

  async function refresh(): Promise<string> {
    const giveUpAt = performance.now() + leaseMs + pollMs
    for (;;) {
      const nowMs = clock()
      const outcome = await store.claim(appid, owner, nowMs, usableAfter(nowMs), leaseMs)
      if (outcome === 'refresh') return fetchAndStore()
      if (outcome !== 'wait') return outcome.token
      if (performance.now() > giveUpAt) {
        throw new AppError(502, 'WECHAT_UNAVAILABLE', 'gave up waiting for another process to refresh the access_token')
      }
      await Bun.sleep(pollMs)
    }
  }

  let refreshing: Promise<string> | null = null
  async function get(): Promise<string> {
    const stored = await store.read(appid, usableAfter(clock()))
    if (stored) return stored
    refreshing ??= refresh().finally(() => {
      refreshing = null
    })
    return refreshing
  }

  return {
    get,
    async withToken(call) {
      const token = await get()
      try {
        return await call(token)
      } catch (error) {
        if (!isAccessTokenRejected(error)) throw error
        await store.dropIfCurrent(appid, token)
        return call(await get())
      }
    },
  }
}
