// Sends one sync request to a peer. HTTP >= 400, a redirect, a network error or no answer in time
// are transport failures (yubikey-val: CURLOPT_FAILONERROR); any 200 body is returned to be judged.
export type PeerReply =
  | { kind: 'body', body: string }
  | { kind: 'failed', detail: string }

export type PeerClient = (url: string, timeoutMs: number, signal?: AbortSignal) => Promise<PeerReply>

/** A sync answer is a dozen short lines; anything longer is not one. */
const MAX_ANSWER_BYTES = 4096

export function createPeerClient (doFetch: typeof fetch = fetch): PeerClient {
  return async (url, timeoutMs, signal) => {
    const deadline = AbortSignal.timeout(timeoutMs)
    const combined = signal === undefined ? deadline : AbortSignal.any([deadline, signal])
    try {
      const res = await doFetch(url, { signal: combined, redirect: 'error', headers: { 'user-agent': 'yubival-sync' } })
      const body = (await res.text()).slice(0, MAX_ANSWER_BYTES)
      if (res.status >= 400) return { kind: 'failed', detail: `HTTP ${res.status}` }
      return { kind: 'body', body }
    } catch (err) {
      if (deadline.aborted) return { kind: 'failed', detail: `no answer within ${timeoutMs} ms` }
      if (signal?.aborted === true) return { kind: 'failed', detail: 'cancelled' }
      const e = err as Error & { cause?: { code?: string } }
      return { kind: 'failed', detail: e.cause?.code ?? e.name }
    }
  }
}

/** scheme://host[:port] of a peer URL, for logs and metric labels (its path is the same for all). */
export function peerLabel (url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}`
  } catch {
    return 'invalid-url'
  }
}
