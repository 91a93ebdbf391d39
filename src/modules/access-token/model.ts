/** Refresh an access_token once fewer than this many ms remain (WeChat overlaps old and new for 5 minutes). */
export const REFRESH_MARGIN_MS = 300_000
/** A refreshing process holds the lease this much longer than WeChat may take to answer. */
export const LEASE_MARGIN_MS = 5_000
/** How often a process waiting on another's refresh looks again. */
export const LEASE_POLL_MS = 25

export interface AccessTokenRow {
  access_token: string | null
  expires_at: number
  lease_owner: string | null
  lease_until: number
}
