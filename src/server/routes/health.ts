import type { FastifyInstance } from 'fastify'

export interface ReadinessReport {
  ready: boolean
  checks: Record<string, { ok: boolean, detail?: string }>
}
export type ReadinessCheck = () => Promise<ReadinessReport>

export function registerHealthRoutes (app: FastifyInstance, readiness: ReadinessCheck): void {
  app.get('/healthz', async (_request, reply) => {
    return reply.code(200).send({ status: 'ok' })
  })
  app.get('/readyz', async (_request, reply) => {
    const report = await readiness().catch((err: unknown) => ({
      ready: false,
      checks: { readiness: { ok: false, detail: err instanceof Error ? err.message : String(err) } }
    }))
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not ready', checks: report.checks })
  })
}
