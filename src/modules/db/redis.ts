import { RedisClient } from 'bun'
import { storeOutageOf, storeUnavailable } from '../../libs/errors'
import { DEFAULTS } from '../config/model'
import { StoreTimeoutError, withinStoreTimeout } from './store-timeout'

/** Fail fast while Redis is away rather than queue requests behind Bun's ~30 s of reconnect attempts. */
const clientOptions = (timeoutMs: number) => ({
  connectionTimeout: timeoutMs,
  maxRetries: 1,
  enableOfflineQueue: false,
  autoReconnect: true,
})
/** While Redis is away, try a new connection at most this often; requests in between fail at once. */
const RECONNECT_EVERY_MS = 250

export interface Redis {
  /** Runs commands on a connected client; 503 STORE_UNAVAILABLE when Redis cannot be reached or is slower than STORE_TIMEOUT_MS. */
  run<T>(commands: (client: RedisClient) => Promise<T>): Promise<T>
  close(): void
}

/**
 * Bun's RedisClient gives up for good once its reconnect attempts run out, so after a failure this
 * opens a fresh client on the next request (at most every RECONNECT_EVERY_MS): when Redis comes
 * back, wxauth recovers without a restart. Every run() is bounded by `timeoutMs` (STORE_TIMEOUT_MS).
 */
export async function connectRedis(
  url: string,
  { timeoutMs = DEFAULTS.STORE_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<Redis> {
  const options = clientOptions(timeoutMs)
  let client = new RedisClient(url, options)
  await client.connect()
  let reconnecting: Promise<void> | null = null
  let lastAttemptAt = 0

  function reconnect(): Promise<void> {
    reconnecting ??= (async () => {
      lastAttemptAt = performance.now()
      client.close()
      const fresh = new RedisClient(url, options)
      try {
        await fresh.connect()
        client = fresh
      } catch (error) {
        fresh.close()
        throw error
      }
    })().finally(() => {
      reconnecting = null
    })
    return reconnecting
  }

  /** Runs `commands` on the connected client, noting in `sent` which client that was. */
  async function runConnected<T>(
    commands: (client: RedisClient) => Promise<T>,
    sent: { on?: RedisClient },
  ): Promise<T> {
    if (!client.connected) {
      if (performance.now() - lastAttemptAt < RECONNECT_EVERY_MS) throw storeUnavailable('Redis')
      await reconnect()
    }
    sent.on = client
    return commands(client)
  }

  return {
    async run(commands) {
      const sent: { on?: RedisClient } = {}
      try {
        return await withinStoreTimeout(runConnected(commands, sent), 'Redis', timeoutMs)
      } catch (error) {
        // The client is one connection with pipelined commands: every later command would wait behind
        // the one that got no answer. Drop it (only if no other request has replaced it meanwhile); the
        // next request opens a fresh one (see reconnect).
        if (error instanceof StoreTimeoutError && sent.on === client) client.close()
        if (storeOutageOf(error) === 'Redis') throw storeUnavailable('Redis')
        throw error
      }
    },
    close: () => client.close(),
  }
}
