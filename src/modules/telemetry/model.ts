/** A caller's x-request-id is kept only when it looks like an id, so it cannot forge log lines. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** Seconds; WeChat answers in tens of milliseconds when healthy and times out at WECHAT_TIMEOUT_MS. */
export const WECHAT_LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** Counting live sessions scans an index; scrapes within this window reuse the last count. */
export const LIVE_SESSIONS_CACHE_MS = 5000
