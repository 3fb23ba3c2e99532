// GET /wsapi/2.0/sync: the sync pool's responder (yubikey-val's sync.php). Registered only when the
// service has a sync configuration; the checks themselves live in src/sync/responder.ts.
import type { FastifyInstance } from 'fastify'
import { RESPONSE_CONTENT_TYPE } from '../../wsapi/response.js'
import { parseQueryString } from '../../wsapi/query-parse.js'
import type { createSyncResponder } from '../../sync/responder.js'

export const SYNC_PATH = '/wsapi/2.0/sync'

export function registerSyncRoute (app: FastifyInstance, respond: ReturnType<typeof createSyncResponder>): void {
  app.route({
    method: 'GET',
    url: SYNC_PATH,
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const rawUrl = request.raw.url ?? ''
      const q = rawUrl.indexOf('?')
      const query = q < 0 ? '' : rawUrl.slice(q + 1)
      // sync.php reads $_GET only
      const answer = await respond(request.ip, query, parseQueryString(query))
      const line = { ip: request.ip, publicId: answer.publicId, status: answer.status, ...(answer.why !== null ? { why: answer.why } : {}), raised: answer.raised }
      if (answer.status === 'OK') request.log.info(line, 'sync request')
      else request.log.warn(line, 'sync request refused')
      void reply.code(200).header('content-type', RESPONSE_CONTENT_TYPE)
      return answer.body
    }
  })
}
