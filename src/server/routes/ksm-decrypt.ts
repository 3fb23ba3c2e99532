// GET /wsapi/decrypt?otp=… answered as pyhsm's yhsm-yubikey-ksm does (reference/ksm-pyhsm.md §4.1), so an
// existing yubikey-val can use yubival as its KSM (otp2ksmurls). Off unless YUBIVAL_KSM_ENDPOINT is set,
// and only for the addresses in YUBIVAL_KSM_ALLOWED_IPS: the answer reveals the counters of any OTP.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { formatKsmAnswer } from '../../ksm/ksm.js'
import type { Ksm } from '../../ksm/types.js'

export const KSM_SERVE_URL = '/wsapi/decrypt?otp='
const OTHER_METHODS = ['POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const

export interface KsmEndpointOptions {
  ksm: Ksm
  /** Exact peer addresses allowed (IPv4-mapped IPv6 addresses count as their IPv4 form). */
  allowedIps: readonly string[]
}

const plainIp = (ip: string): string => ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip

// BaseHTTPServer's error page, byte for byte, for clients that parse it.
const unsupported = (method: string): string => '<head>\n<title>Error response</title>\n</head>\n<body>\n<h1>Error response</h1>\n' +
  `<p>Error code 501.\n<p>Message: Unsupported method ('${method}').\n` +
  '<p>Error code explanation: 501 = Server does not support this operation.\n</body>\n'

export function registerKsmDecryptRoute (app: FastifyInstance, opts: KsmEndpointOptions): void {
  const allowed = new Set(opts.allowedIps.map(plainIp))

  const refuse = (request: FastifyRequest, reply: FastifyReply, why: string): FastifyReply => {
    request.log.warn({ ip: request.ip, why }, 'ksm decrypt refused (403)')
    return reply.code(403).send()
  }

  app.route({
    method: 'GET',
    url: '/wsapi/decrypt',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      if (!allowed.has(plainIp(request.ip))) return refuse(request, reply, 'address not in YUBIVAL_KSM_ALLOWED_IPS')
      const raw = request.raw.url ?? ''
      // pyhsm's prefix rule: the rest of the raw path is the OTP, not URL-decoded, `&…` included
      if (!raw.startsWith(KSM_SERVE_URL)) return refuse(request, reply, `path does not start with ${KSM_SERVE_URL}`)
      const result = await opts.ksm.decrypt(raw.slice(KSM_SERVE_URL.length))
      const answer = formatKsmAnswer(result)
      // the public id and the outcome only: never the OTP
      request.log.info({
        ip: request.ip,
        publicId: result.publicId,
        ...(result.ok ? { result: 'OK' } : { result: answer, reason: result.reason, detail: result.detail })
      }, 'ksm decrypt')
      return reply.code(200).type('text/html').send(`${answer}\n`)
    }
  })
  app.get('/wsapi/decrypt/', async (request, reply) => refuse(request, reply, `path does not start with ${KSM_SERVE_URL}`))
  app.route({
    method: [...OTHER_METHODS],
    url: '/wsapi/decrypt',
    handler: async (request, reply) => {
      if (!allowed.has(plainIp(request.ip))) return refuse(request, reply, 'address not in YUBIVAL_KSM_ALLOWED_IPS')
      return reply.code(501).type('text/html').send(request.method === 'HEAD' ? '' : unsupported(request.method))
    }
  })
}
