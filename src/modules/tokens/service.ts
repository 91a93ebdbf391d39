import type { Database } from 'bun:sqlite'
import type { Clock } from '../../libs/clock'
import { AppError } from '../../libs/errors'
import { ACCESS_TOKEN_REJECTED, type WechatClient } from '../wechat/model'
import { type AccessTokenRow, LEASE_MARGIN_MS, LEASE_POLL_MS, REFRESH_MARGIN_MS } from './model'

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
  db: Database
  wechat: Pick<WechatClient, 'appid' | 'timeoutMs' | 'fetchAccessToken'>
  clock: Clock
  /** How long a refreshing process holds the lease; by default WeChat's timeout plus a margin. */
  leaseMs?: number
  pollMs?: number
}

type Claim = { token: string } | 'refresh' | 'wait'

export function isAccessTokenRejected(error: unknown): boolean {
  return error instanceof AppError && error.errcode !== undefined && ACCESS_TOKEN_REJECTED.has(error.errcode)
}

/**
 * WeChat's access_token, kept in SQLite so restarts and other processes on the same database reuse it.
 * Within a process, concurrent callers share one refresh; across processes, a lease row taken in a
 * write transaction lets one process refresh while the others poll for its result.
 */
export function createAccessTokenManager({
  db,
  wechat,
  clock,
  leaseMs = wechat.timeoutMs + LEASE_MARGIN_MS,
  pollMs = LEASE_POLL_MS,
}: AccessTokenManagerOptions): AccessTokenManager {
  const { appid } = wechat
  const owner = crypto.randomUUID()
  const read = db.query<AccessTokenRow, [string]>(
    'SELECT access_token, expires_at, lease_owner, lease_until FROM wechat_access_tokens WHERE appid = ?',
  )
  const ensureRow = db.query<null, [string]>(
    'INSERT INTO wechat_access_tokens (appid) VALUES (?) ON CONFLICT(appid) DO NOTHING',
  )
  const takeLease = db.query<null, [string, number, string]>(
    'UPDATE wechat_access_tokens SET lease_owner = ?, lease_until = ? WHERE appid = ?',
  )
  const store = db.query<null, [string, number, string, string]>(
    `UPDATE wechat_access_tokens SET access_token = ?1, expires_at = ?2,
       lease_owner = CASE WHEN lease_owner = ?3 THEN NULL ELSE lease_owner END,
       lease_until = CASE WHEN lease_owner = ?3 THEN 0 ELSE lease_until END
     WHERE appid = ?4`,
  )
  const releaseLease = db.query<null, [string, string]>(
    'UPDATE wechat_access_tokens SET lease_owner = NULL, lease_until = 0 WHERE appid = ? AND lease_owner = ?',
  )
  const dropIfCurrent = db.query<null, [string, string]>(
    'UPDATE wechat_access_tokens SET access_token = NULL, expires_at = 0 WHERE appid = ? AND access_token = ?',
  )

  const usable = (row: AccessTokenRow | null, nowMs: number): row is AccessTokenRow & { access_token: string } =>
    row?.access_token != null && row.expires_at - nowMs > REFRESH_MARGIN_MS

  const claim = db.transaction((nowMs: number): Claim => {
    ensureRow.run(appid)
    const row = read.get(appid)
    if (usable(row, nowMs)) return { token: row.access_token }
    if (row?.lease_owner && row.lease_owner !== owner && row.lease_until > nowMs) return 'wait'
    takeLease.run(owner, nowMs + leaseMs, appid)
    return 'refresh'
  })

  async function fetchAndStore(): Promise<string> {
    try {
      const { accessToken, expiresInSeconds } = await wechat.fetchAccessToken()
      store.run(accessToken, clock() + expiresInSeconds * 1000, owner, appid)
      return accessToken
    } catch (error) {
      releaseLease.run(appid, owner)
      throw error
    }
  }

  async function refresh(): Promise<string> {
    const giveUpAt = performance.now() + leaseMs + pollMs
    for (;;) {
      const outcome = claim.immediate(clock())
      if (outcome === 'refresh') return fetchAndStore()
      if (outcome !== 'wait') return outcome.token
      if (performance.now() > giveUpAt) {
        throw new AppError(502, 'WECHAT_UNAVAILABLE', 'gave up waiting for another process to refresh the access_token')
      }
      await Bun.sleep(pollMs)
    }
  }

  let refreshing: Promise<string> | null = null
  function get(): Promise<string> {
    const row = read.get(appid)
    if (usable(row, clock())) return Promise.resolve(row.access_token)
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
        dropIfCurrent.run(appid, token)
        return call(await get())
      }
    },
  }
}
