// The Fastify app factory: routes and plugins only; everything it needs is handed in.
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import type { VerifyService } from '../val/verify-service.js'
import { instrumentVerifyService } from './instrument.js'
import type { Metrics, RateLimitKind } from './metrics.js'
import { registerRateLimits, type RateLimitSettings } from './rate-limit.js'
import { registerVerifyRoutes } from './routes/verify.js'
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.js'
import { registerKsmDecryptRoute, type KsmEndpointOptions } from './routes/ksm-decrypt.js'
import type { TlsMaterial } from './tls.js'
import { registerResyncRoute, registerSyncRoute } from './routes/sync.js'
import type { createSyncResponder } from '../sync/responder.js'
import type { createResync } from '../sync/resync.js'

export interface AppTimeouts {
  /** Whole request, including a slow body. */
  requestMs: number
  /** Idle keep-alive connection. */
  keepAliveMs: number
}

export interface AppDeps {
  verifyService: VerifyService
  logger: Logger
  readiness: ReadinessCheck
  /** Largest accepted URL or form body, bytes: a real request is a few hundred. */
  maxRequestBytes?: number
  metrics?: Metrics
  rateLimit?: RateLimitSettings
  /** proxy-addr list (IPs, CIDRs, loopback/linklocal/uniquelocal) whose X-Forwarded-For is believed. */
  trustedProxies?: string[]
  tls?: TlsMaterial | null
  timeouts?: AppTimeouts
  /** Serve pyhsm's KSM protocol at /wsapi/decrypt (off when absent). */
  ksmEndpoint?: KsmEndpointOptions
  /** Answer the sync pool's /wsapi/2.0/sync (absent: 404). */
  syncResponder?: ReturnType<typeof createSyncResponder>
  /** Answer /wsapi/2.0/resync (absent: 404). */
  resync?: ReturnType<typeof createResync>
}

const DEFAULT_TIMEOUTS: AppTimeouts = { requestMs: 10_000, keepAliveMs: 5_000 }
// A verify request's headers are a few hundred bytes: a client that needs longer is broken or slowloris.
const MAX_HEADERS_TIMEOUT_MS = 5_000
const CONNECTIONS_CHECK_MS = 1_000

/** Logs the first refusal per key per window, so an abusive client cannot flood the log. */
function limitedLogger (logger: Logger, windowMs: number): (kind: RateLimitKind, key: string, request: FastifyRequest) => void {
  const lastLogged = new Map<string, number>()
  return (kind, key, request) => {
    const now = Date.now()
    if ((lastLogged.get(key) ?? -Infinity) > now - windowMs) return
    if (lastLogged.size >= 10_000) lastLogged.clear()
    lastLogged.set(key, now)
    request.log.warn({ limit: kind, key, ip: request.ip }, 'rate limit reached; answering 429 until the window ends')
  }
}

export function buildApp (deps: AppDeps, serverOptions: Partial<FastifyServerOptions> = {}): FastifyInstance {
  const maxBytes = deps.maxRequestBytes ?? 8192
  const timeouts = deps.timeouts ?? DEFAULT_TIMEOUTS
  const trusted = deps.trustedProxies ?? []
  // Node enforces the request and header deadlines only when it sweeps its connections, every 30 s by
  // default: a slowloris client would keep its socket that long. Sweep every second.
  const nodeServerOptions = {
    connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
    headersTimeout: Math.min(MAX_HEADERS_TIMEOUT_MS, timeouts.requestMs)
  }
  const options: FastifyServerOptions & { http?: typeof nodeServerOptions, https?: TlsMaterial & typeof nodeServerOptions } = {
    loggerInstance: deps.logger,
    // Request URLs carry whole OTPs: never let Fastify log them. Verify logs its own secret-free line.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: maxBytes,
    routerOptions: { maxParamLength: 200 },
    // Socket inactivity; the request and keep-alive deadlines below are the tighter ones.
    connectionTimeout: 30_000,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    return503OnClosing: true,
    trustProxy: trusted.length > 0 ? trusted : false,
    http: nodeServerOptions,
    ...(deps.tls ? { https: { ...deps.tls, ...nodeServerOptions } } : {}),
    ...serverOptions
  }
  // With `https` Fastify builds an https.Server: the same API as far as this code is concerned.
  const app = Fastify(options) as unknown as FastifyInstance

  // yubikey-val reads form bodies; anything else in a body is ignored (PHP leaves $_POST empty).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (request, body, done) => {
    const type = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    done(null, type === 'application/x-www-form-urlencoded' ? body : null)
  })
  // The per-request hooks below are callback-style, not async: an async hook costs a promise and a
  // microtask hop on every request, which shows in a profile of the verify path.
  // Node already caps the request line plus headers (16 KiB); a verify URL is far below maxBytes.
  app.addHook('onRequest', (request, reply, done) => {
    if ((request.raw.url ?? '').length <= maxBytes) return done()
    void reply.code(414).type('text/plain').send('URI too long\n')
  })

  // Once closing, every answer ends its connection: a keep-alive socket would otherwise hold the
  // shutdown open until the client or the keep-alive timeout closes it.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close')
    done(null, payload)
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
  if (deps.ksmEndpoint !== undefined) registerKsmDecryptRoute(app, deps.ksmEndpoint)
  if (deps.syncResponder !== undefined) registerSyncRoute(app, deps.syncResponder)
  if (deps.resync !== undefined) registerResyncRoute(app, deps.resync)
  const verifyService = deps.metrics ? instrumentVerifyService(deps.verifyService, deps.metrics) : deps.verifyService
  // Its own context, so the rate limits cover the verify routes and nothing else.
  void app.register(async (scope) => {
    if (deps.rateLimit) {
      const log = limitedLogger(deps.logger, deps.rateLimit.windowMs)
      await registerRateLimits(scope, deps.rateLimit, (kind, key, request) => {
        deps.metrics?.rateLimited(kind)
        log(kind, key, request)
      })
    }
    registerVerifyRoutes(scope, verifyService)
  })
  return app
}
