import { RedisClient } from 'bun'
import { storeOutageOf, storeUnavailable } from '../../libs/errors'

/** Fail fast while Redis is away rather than queue requests behind Bun's ~30 s of reconnect attempts. */
const CLIENT_OPTIONS = { connectionTimeout: 2000, maxRetries: 1, enableOfflineQueue: false, autoReconnect: true }
/** While Redis is away, try a new connection at most this often; requests in between fail at once. */
const RECONNECT_EVERY_MS = 250

export interface Redis {
  /** Runs commands on a connected client; 503 STORE_UNAVAILABLE when Redis cannot be reached. */
  run<T>(commands: (client: RedisClient) => Promise<T>): Promise<T>
  close(): void
}

/**
 * Bun's RedisClient gives up for good once its reconnect attempts run out, so after a failure this
 * opens a fresh client on the next request (at most every RECONNECT_EVERY_MS): when Redis comes
 * back, wxauth recovers without a restart.
 */
export async function connectRedis(url: string): Promise<Redis> {
  let client = new RedisClient(url, CLIENT_OPTIONS)
  await client.connect()
  let reconnecting: Promise<void> | null = null
  let lastAttemptAt = 0

  function reconnect(): Promise<void> {
    reconnecting ??= (async () => {
      lastAttemptAt = performance.now()
      client.close()
      const fresh = new RedisClient(url, CLIENT_OPTIONS)
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

  return {
    async run(commands) {
      try {
        if (!client.connected) {
          if (performance.now() - lastAttemptAt < RECONNECT_EVERY_MS) throw storeUnavailable('Redis')
          await reconnect()
        }
        return await commands(client)
      } catch (error) {
        if (storeOutageOf(error) === 'Redis') throw storeUnavailable('Redis')
        throw error
      }
    },
    close: () => client.close(),
  }
}
