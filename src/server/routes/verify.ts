import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { VerifyService } from '../../val/verify-service.js'
import { protocolVersion } from '../../wsapi/params.js'
import { selectRequestParams } from '../../wsapi/query-parse.js'
import { RESPONSE_CONTENT_TYPE } from '../../wsapi/response.js'

export const VERIFY_PATHS = ['/wsapi/2.0/verify', '/wsapi/verify'] as const

export function registerVerifyRoutes (app: FastifyInstance, verifyService: VerifyService): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<string> => {
    // yubikey-val reads the version from REQUEST_URI (path and query) and the raw query string itself.
    const rawUrl = request.raw.url ?? ''
    const q = rawUrl.indexOf('?')
    const query = q < 0 ? '' : rawUrl.slice(q + 1)
    const body = Buffer.isBuffer(request.body) ? request.body : null
    const outcome = await verifyService.verify({ protocol: protocolVersion(rawUrl), params: selectRequestParams(query, body) })
    // The one log line per verify: never the OTP, secrets or decrypted fields.
    request.log.info({
      client: outcome.clientId,
      publicId: outcome.publicId,
      status: outcome.status,
      reason: outcome.reason,
      protocol: outcome.protocol,
      signed: outcome.signed,
      ...(outcome.detail !== null ? { detail: outcome.detail } : {}),
      ms: Number(outcome.durationMs.toFixed(3))
    }, 'verify')
    void reply.code(200).header('content-type', RESPONSE_CONTENT_TYPE)
    return outcome.body
  }
  for (const url of VERIFY_PATHS) {
    // No implicit HEAD route: it would run a verify, use up the OTP and throw the answer away.
    app.route({ method: ['GET', 'POST'], url, handler, exposeHeadRoute: false })
  }
}
