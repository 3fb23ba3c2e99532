// GET /wsapi/2.0/sync: the sync pool's responder (yubikey-val's sync.php). Registered only when the
// service has a sync configuration; the checks themselves live in src/sync/responder.ts.
import type { FastifyInstance } from 'fastify'
import { RESPONSE_CONTENT_TYPE } from '../../wsapi/response.js'
import { parseQueryString, selectRequestParams } from '../../wsapi/query-parse.js'
import type { createSyncResponder } from '../../sync/responder.js'
import type { createResync } from '../../sync/resync.js'

export const SYNC_PATH = '/wsapi/2.0/sync'
export const RESYNC_PATH = '/wsapi/2.0/resync'

/** Refusals are logged once per address per minute: both endpoints face whoever can reach the port. */
const REFUSAL_LOG_WINDOW_MS = 60_000
function refusalLog (): (ip: string) => boolean {
  const seen = new Map<string, number>()
  return (ip) => {
    const now = Date.now()
    if (now - (seen.get(ip) ?? -Infinity) < REFUSAL_LOG_WINDOW_MS) return false
    if (seen.size > 10_000) seen.clear()
    seen.set(ip, now)
    return true
  }
}

const rawQuery = (url: string | undefined): string => {
  const q = (url ?? '').indexOf('?')
  return q < 0 ? '' : (url ?? '').slice(q + 1)
}

export function registerSyncRoute (app: FastifyInstance, respond: ReturnType<typeof createSyncResponder>): void {
  const shouldLog = refusalLog()
  app.route({
    method: 'GET',
    url: SYNC_PATH,
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const query = rawQuery(request.raw.url)
      // sync.php reads $_GET only
      const answer = await respond(request.ip, query, parseQueryString(query))
      const line = { ip: request.ip, publicId: answer.publicId, status: answer.status, ...(answer.why !== null ? { why: answer.why } : {}), raised: answer.raised }
      if (answer.status === 'OK') request.log.info(line, 'sync request')
      else if (answer.status !== 'OPERATION_NOT_ALLOWED' || shouldLog(request.ip)) request.log.warn(line, 'sync request refused')
      void reply.code(200).header('content-type', RESPONSE_CONTENT_TYPE)
      return answer.body
    }
  })
}

/** GET or POST /wsapi/2.0/resync?yk=<public id>|all (resync.php reads $_REQUEST). */
export function registerResyncRoute (app: FastifyInstance, resync: ReturnType<typeof createResync>): void {
  const shouldLog = refusalLog()
  app.route({
    method: ['GET', 'POST'],
    url: RESYNC_PATH,
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : null
      const answer = await resync(request.ip, selectRequestParams(rawQuery(request.raw.url), body))
      const line = { ip: request.ip, answer: answer.body.trimEnd(), queued: answer.queued }
      if (answer.ok) request.log.info(line, 'resync')
      else if (shouldLog(request.ip)) request.log.warn(line, 'resync refused')
      void reply.code(200).header('content-type', 'text/plain; charset=utf-8')
      return answer.body
    }
  })
}
