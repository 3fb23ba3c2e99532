// A minimal, independent WSAPI 2.0 client for tests (does not reuse src/wsapi): signs requests the
// way libykclient does and checks response signatures the way clients do.
import { createHmac, randomBytes } from 'node:crypto'

export function randomNonce (): string {
  return randomBytes(16).toString('hex')
}

export function sign (params: Record<string, string>, keyB64: string): string {
  const text = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&')
  return createHmac('sha1', Buffer.from(keyB64, 'base64')).update(text).digest('base64')
}

export function parseResponse (body: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of body.split('\r\n')) {
    if (line === '') continue
    const i = line.indexOf('=')
    out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

export function responseSignatureOk (fields: Record<string, string>, keyB64: string): boolean {
  const { h, ...rest } = fields
  return h === sign(rest, keyB64)
}

export interface VerifyResult { status: string, fields: Record<string, string>, body: string }

export async function verifyOtp (baseUrl: string, client: { id: number, key: string }, otp: string,
  opts: { nonce?: string, signed?: boolean, extra?: Record<string, string> } = {}): Promise<VerifyResult> {
  const params: Record<string, string> = { id: String(client.id), otp, nonce: opts.nonce ?? randomNonce(), ...opts.extra }
  if (opts.signed !== false) params.h = sign(params, client.key)
  const qs = new URLSearchParams(params).toString()
  const res = await fetch(`${baseUrl}/wsapi/2.0/verify?${qs}`)
  const body = await res.text()
  const fields = parseResponse(body)
  return { status: fields.status ?? `HTTP_${res.status}`, fields, body }
}
