// The admin listener (YUBIVAL_ADMIN_HOST:YUBIVAL_ADMIN_PORT, loopback by default): Prometheus metrics
// and the health probes, kept off the public port so scrapers and orchestrators need no exposure of
// their own and the public port needs no exceptions.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Metrics } from './metrics.js'
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.js'

/** What /metrics needs: one process's Metrics, or the cluster primary's aggregate of its workers. */
export type MetricsSource = Pick<Metrics, 'render'> & { readonly registry: { readonly contentType: string } }

export interface AdminAppDeps {
  metrics: MetricsSource
  readiness: ReadinessCheck
  logger: Logger
}

export function buildAdminApp (deps: AdminAppDeps): FastifyInstance {
  const logger: FastifyBaseLogger = deps.logger.child({ listener: 'admin' })
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
    connectionTimeout: 30_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true
  })
  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.render()
    return reply.type(deps.metrics.registry.contentType).send(text)
  })
  registerHealthRoutes(app, deps.readiness)
  return app
}
