// Verify requests for the reliability suite: like helpers/wsapi-client's verifyOtp, plus the protocol
// path, a deadline (a hang is a result, not a stuck test) and transport errors as results.
import { parseResponse, randomNonce, sign } from '../../helpers/wsapi-client.js'

export const V2 = '/wsapi/2.0/verify'
export const V1 = '/wsapi/verify'

export interface Answer {
  /** WSAPI status, `HTTP_<code>` without one, `HANG` past the deadline, `NETWORK` on a transport error. */
  status: string
  fields: Record<string, string>
  body: string
  ms: number
  /** The nonce sent (2.0 only). */
  nonce: string | null
}

export interface Client { id: number, key: string }

export async function verify (baseUrl: string, client: Client, otp: string, opts: {
  nonce?: string
  path?: string
  signed?: boolean
  deadlineMs?: number
} = {}): Promise<Answer> {
  const path = opts.path ?? V2
  const nonce = path === V2 ? (opts.nonce ?? randomNonce()) : null
  const params: Record<string, string> = { id: String(client.id), otp }
  if (nonce !== null) params.nonce = nonce
  if (opts.signed !== false) params.h = sign(params, client.key)
  const started = performance.now()
  try {
    const res = await fetch(`${baseUrl}${path}?${new URLSearchParams(params).toString()}`,
      { signal: AbortSignal.timeout(opts.deadlineMs ?? 30_000) })
    const body = await res.text()
    const fields = res.status === 200 ? parseResponse(body) : {}
    return { status: fields.status ?? `HTTP_${res.status}`, fields, body, ms: performance.now() - started, nonce }
  } catch (err) {
    const name = (err as { name?: string }).name
    const status = name === 'TimeoutError' || name === 'AbortError' ? 'HANG' : 'NETWORK'
    return { status, fields: {}, body: String(err), ms: performance.now() - started, nonce }
  }
}

/** GET a probe path; the HTTP status, or 0 when the request failed. */
export async function probe (url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(15_000) })).status
  } catch {
    return 0
  }
}

export function countBy<T> (items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1
  return out
}

export const sleep = async (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
