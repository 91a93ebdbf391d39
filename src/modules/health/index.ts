import { Elysia, t } from 'elysia'
import { AppError, errors } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import type { Stores } from '../store/service'

/** GET /healthz: 200 after a real query to every store, 503 when one does not answer. */
export function createHealthRoutes(stores: Pick<Stores, 'kind' | 'ping'>) {
  const { ping } = stores
  const healthy = { status: 'ok' as const }
  function unhealthy(error: unknown): never {
    logger().error('health check failed', { error: error instanceof Error ? error.message : String(error) })
    throw new AppError(503, 'UNHEALTHY', 'a store does not answer')
  }
  // SQLite answers in the same tick: that check is a plain function, so Elysia does not await it.
  const checkInSameTick = function healthz() {
    try {
      ping()
    } catch (error) {
      unhealthy(error)
    }
    return healthy
  }
  const checkRemote = async function healthzRemote() {
    try {
      await ping()
    } catch (error) {
      unhealthy(error)
    }
    return healthy
  }
  return new Elysia({ name: 'wxauth.health' })
    .use(errors())
    .get('/healthz', stores.kind === 'sqlite' ? checkInSameTick : checkRemote, {
      response: { 200: t.Object({ status: t.Literal('ok') }) },
      detail: routeDoc({
        summary: 'Liveness and database check',
        tag: 'health',
        errors: { 503: ['UNHEALTHY'] },
      }),
    })
}
