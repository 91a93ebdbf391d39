import type { Database } from 'bun:sqlite'
import { Elysia, t } from 'elysia'
import { AppError } from '../../libs/errors'
import { logger } from '../../libs/log'
import { routeDoc } from '../../libs/openapi'

/** GET /healthz: 200 after a real read of the schema, 503 when the database does not answer. */
export function createHealthRoutes({ db }: { db: Database }) {
  const probe = db.query('SELECT count(*) FROM sqlite_schema')
  return new Elysia({ name: 'wxauth.health' }).get(
    '/healthz',
    function healthz() {
      try {
        probe.get()
      } catch (error) {
        logger().error('health check failed', { error: error instanceof Error ? error.message : String(error) })
        throw new AppError(503, 'UNHEALTHY', 'the database does not answer')
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
