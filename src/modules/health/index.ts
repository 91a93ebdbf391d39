import { Elysia, t } from 'elysia'
import { AppError, errors } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import type { LocalStores, RemoteStores } from '../store/service'

/** GET /healthz: 200 after a real query to every store, 503 when one does not answer. */
export function createHealthRoutes(stores: Pick<LocalStores, 'kind' | 'ping'> | Pick<RemoteStores, 'kind' | 'ping'>) {
  const healthy = { status: 'ok' as const }
  function unhealthy(error: unknown): never {
    logger().error('health check failed', { error: error instanceof Error ? error.message : String(error) })
    throw new AppError(503, 'UNHEALTHY', 'a store does not answer')
  }
  // SQLite answers in the same tick: that check is a plain function, so Elysia does not await it.
  const checkInSameTick = (ping: () => void) =>
    function healthz() {
      try {
        ping()
      } catch (error) {
        unhealthy(error)
      }
      return healthy
    }
  const checkRemote = (ping: () => Promise<void>) =>
    async function healthzRemote() {
      try {
        await ping()
      } catch (error) {
        unhealthy(error)
      }
      return healthy
    }
  return new Elysia({ name: 'wxauth.health' })
    .use(errors())
    .get('/healthz', stores.kind === 'sqlite' ? checkInSameTick(stores.ping) : checkRemote(stores.ping), {
      response: { 200: t.Object({ status: t.Literal('ok') }) },
      detail: routeDoc({
        summary: 'Liveness and database check',
        tag: 'health',
        errors: { 503: ['UNHEALTHY'] },
      }),
    })
}
