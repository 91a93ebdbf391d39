import { Elysia, t } from 'elysia'
import { AppError } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'

/** GET /healthz: 200 after a real query to every store, 503 when one does not answer. */
export function createHealthRoutes({ ping }: { ping: () => Promise<void> }) {
  return new Elysia({ name: 'wxauth.health' }).get(
    '/healthz',
    async function healthz() {
      try {
        await ping()
      } catch (error) {
        logger().error('health check failed', { error: error instanceof Error ? error.message : String(error) })
        throw new AppError(503, 'UNHEALTHY', 'a store does not answer')
      }
      return { status: 'ok' as const }
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
