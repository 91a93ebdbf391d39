/**
 * A store that stopped answering without closing its connections (a paused process, a partition that
 * drops packets) leaves Bun's PostgreSQL and Redis clients waiting forever: they only bound connecting.
 */
export class StoreTimeoutError extends Error {
  /** Codes storeOutageOf() (libs/errors.ts) reads as an outage of that store: the request answers 503. */
  readonly code: 'ERR_POSTGRES_QUERY_TIMEOUT' | 'ERR_REDIS_CONNECTION_TIMEOUT'

  constructor(store: 'PostgreSQL' | 'Redis', timeoutMs: number) {
    super(`${store} did not answer within ${timeoutMs} ms (STORE_TIMEOUT_MS)`)
    this.name = 'StoreTimeoutError'
    this.code = store === 'PostgreSQL' ? 'ERR_POSTGRES_QUERY_TIMEOUT' : 'ERR_REDIS_CONNECTION_TIMEOUT'
  }
}

/** `work`'s result, or a StoreTimeoutError once `timeoutMs` has passed; the timer never outlives the call. */
export function withinStoreTimeout<T>(
  work: PromiseLike<T>,
  store: 'PostgreSQL' | 'Redis',
  timeoutMs: number,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(store, timeoutMs)), timeoutMs)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}
