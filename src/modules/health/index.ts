import { Elysia, t } from 'elysia'
import { AppError } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'
import type { MaybePromise } from '../store/model'

/** GET /healthz: 200 after a real query to every store, 503 when one does not answer. */
export function createHealthRoutes({ ping }: { ping: () => MaybePromise<void> }) {
  const healthy = { status: 'ok' as const }
  function unhealthy(error: unknown): never {
    logger().error('health check failed', { error: error instanceof Error ? error.message : String(error) })
    throw new AppError(503, 'UNHEALTHY', 'a store does not answer')
  }
  return new Elysia({ name: 'wxauth.health' }).get(
    '/healthz',
    // SQLite answers in the same tick: no promise (and no await) on that path.
    function healthz() {
      let answered: MaybePromise<void>
      try {
        answered = ping()
      } catch (error) {
        unhealthy(error)
      }
      return answered instanceof Promise ? answered.then(() => healthy, unhealthy) : healthy
    },
    {
      response: { 200: t.Object({ status: t.Literal('ok') }) },
      detail: routeDoc({
        summary: 'Liveness and database check',
        tag: 'health',
        errors: { 503: ['UNHEALTHY'] },
      }),
    },
  )
}
