// Rate limits on the verify routes (not on health or metrics): per source address before the body is
// read, and per client id once the parameters are known. Counters come from @fastify/rate-limit; the
// 429 answer is ours (plain text with Retry-After), like the rest of this API.
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { getHttpVal, isClientId } from '../wsapi/params.js'
import { selectRequestParams } from '../wsapi/query-parse.js'
import type { RateLimitKind } from './metrics.js'

export interface RateLimitSettings {
  windowMs: number
  /** Requests per window; 0 = no limit of that kind. */
  perIp: number
  perClient: number
  /** Limit loopback callers too (default: they are exempt). */
  loopback: boolean
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

export function isLoopbackAddress (ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')
}

/**
 * A caller on this host that did not come through a proxy. A request that carries X-Forwarded-For
 * from a loopback peer is a local reverse proxy speaking for someone else: it is limited (by the
 * proxy's address unless YUBIVAL_TRUSTED_PROXIES names the proxy, see the README).
 */
export function isLocalCaller (request: FastifyRequest): boolean {
  return isLoopbackAddress(request.ip) && request.headers['x-forwarded-for'] === undefined
}

/** The request's client id as the verify service will read it, or null when it has none usable. */
function clientKey (request: FastifyRequest): string | null {
  const url = request.raw.url ?? ''
  const q = url.indexOf('?')
  const body = Buffer.isBuffer(request.body) ? request.body : null
  const id = getHttpVal(selectRequestParams(q < 0 ? '' : url.slice(q + 1), body), 'id', '0')
  return isClientId(id) ? `client:${Number(id)}` : null
}

/**
 * Registers the limits on `scope` (an encapsulated context holding only the verify routes).
 * `onLimited` is told about every refusal (metrics, and a throttled log line).
 */
export async function registerRateLimits (scope: FastifyInstance, settings: RateLimitSettings,
  onLimited: (kind: RateLimitKind, key: string, request: FastifyRequest) => void): Promise<void> {
  if (settings.perIp === 0 && settings.perClient === 0) return
  await scope.register(rateLimit, { global: false })
  // Exempt callers are let through before the limiter is even asked (it would only consult its
  // allow-list and say yes, at the price of a promise and a key computation per request).
  const exempt = settings.loopback ? () => false : isLocalCaller
  const make = (max: number, keyGenerator: (request: FastifyRequest) => string): Limiter =>
    scope.createRateLimit({ max, timeWindow: settings.windowMs, keyGenerator })

  // Callback-style hooks: no extra promise hop for the requests that pass.
  const check = (limiter: Limiter, kind: RateLimitKind, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    limiter(request).then((result) => {
      if (result.isAllowed || !result.isExceeded) return done()
      onLimited(kind, result.key, request)
      void reply.code(429)
        .header('retry-after', String(Math.max(1, result.ttlInSeconds)))
        .type('text/plain')
        .send(`too many requests (${kind === 'ip' ? 'per address' : 'per client id'} limit); retry later\n`)
    }, done)
  }

  if (settings.perIp > 0) {
    const byIp = make(settings.perIp, (request) => `ip:${request.ip}`)
    scope.addHook('onRequest', (request, reply, done) => {
      if (exempt(request)) return done()
      check(byIp, 'ip', request, reply, done)
    })
  }
  if (settings.perClient > 0) {
    // The key is computed once per request (the hook needs it before the limiter's keyGenerator does).
    const keys = new WeakMap<FastifyRequest, string>()
    const byClient = make(settings.perClient, (request) => keys.get(request) ?? clientKey(request) ?? '')
    // Requests without a usable client id never reach the database, so they only count per address.
    scope.addHook('preHandler', (request, reply, done) => {
      if (exempt(request)) return done()
      const key = clientKey(request)
      if (key === null) return done()
      keys.set(request, key)
      check(byClient, 'client', request, reply, done)
    })
  }
}
