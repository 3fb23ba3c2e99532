// The Fastify app factory: routes and plugins only; everything it needs is handed in.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import type { VerifyService } from '../val/verify-service.js'
import { registerVerifyRoutes } from './routes/verify.js'
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.js'

export interface AppDeps {
  verifyService: VerifyService
  logger: Logger
  readiness: ReadinessCheck
  /** Largest accepted URL or form body, bytes: a real request is a few hundred. */
  maxRequestBytes?: number
}

export function buildApp (deps: AppDeps, serverOptions: Partial<FastifyServerOptions> = {}): FastifyInstance {
  const maxBytes = deps.maxRequestBytes ?? 8192
  const app = Fastify({
    loggerInstance: deps.logger,
    // Request URLs carry whole OTPs: never let Fastify log them. Verify logs its own secret-free line.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: maxBytes,
    routerOptions: { maxParamLength: 200 },
    connectionTimeout: 30_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    ...serverOptions
  })

  // yubikey-val reads form bodies; anything else in a body is ignored (PHP leaves $_POST empty).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (request, body, done) => {
    const type = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    done(null, type === 'application/x-www-form-urlencoded' ? body : null)
  })

  app.setErrorHandler((error, request, reply) => {
    const err = error as { statusCode?: number, code?: string }
    const statusCode = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    request.log.warn({ statusCode, code: err.code, route: request.routeOptions.url }, 'request rejected')
    void reply.code(statusCode).type('text/plain').send(statusCode === 500 ? 'internal error\n' : `${err.code ?? 'bad request'}\n`)
  })
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('text/plain').send('not found\n')
  })

  registerHealthRoutes(app, deps.readiness)
  registerVerifyRoutes(app, deps.verifyService)
  return app
}
