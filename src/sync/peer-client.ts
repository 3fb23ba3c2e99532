// Sends one sync request to a peer. HTTP >= 400, a redirect, a network error or no answer in time
// are transport failures (yubikey-val: CURLOPT_FAILONERROR); any 200 body is returned to be judged.
export type PeerReply =
  | { kind: 'body', body: string }
  | { kind: 'failed', detail: string }

export type PeerClient = (url: string, timeoutMs: number, signal?: AbortSignal) => Promise<PeerReply>

/** A sync answer is a dozen short lines; anything longer is not one. */
const MAX_ANSWER_BYTES = 4096
/**
 * Requests in flight per peer. Every verify asks every peer and late answers run on after the verify
 * answered, so a slow (not down) peer would otherwise collect rate × timeout open sockets.
 */
export const DEFAULT_MAX_IN_FLIGHT = 256

export function createPeerClient (opts: { fetch?: typeof fetch, maxInFlight?: number } = {}): PeerClient {
  const doFetch = opts.fetch ?? fetch
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
  const inFlight = new Map<string, number>()
  return async (url, timeoutMs, signal) => {
    const peer = peerLabel(url)
    const busy = inFlight.get(peer) ?? 0
    if (busy >= maxInFlight) return { kind: 'failed', detail: `${busy} requests already in flight to this peer` }
    inFlight.set(peer, busy + 1)
    // One controller per request, fed by the caller's signal through a listener removed afterwards
    // (AbortSignal.any on a long-lived signal leaks on Node 20: nodejs/node#55351).
    const controller = new AbortController()
    const onAbort = (): void => controller.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; controller.abort() }, timeoutMs)
    try {
      if (signal?.aborted === true) return { kind: 'failed', detail: 'cancelled' }
      const res = await doFetch(url, { signal: controller.signal, redirect: 'error', headers: { 'user-agent': 'yubival-sync' } })
      const body = (await res.text()).slice(0, MAX_ANSWER_BYTES)
      if (res.status >= 400) return { kind: 'failed', detail: `HTTP ${res.status}` }
      return { kind: 'body', body }
    } catch (err) {
      if (timedOut) return { kind: 'failed', detail: `no answer within ${timeoutMs} ms` }
      if (signal?.aborted === true) return { kind: 'failed', detail: 'cancelled' }
      const e = err as Error & { cause?: { code?: string } }
      return { kind: 'failed', detail: e.cause?.code ?? e.name }
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      const left = (inFlight.get(peer) ?? 1) - 1
      if (left === 0) inFlight.delete(peer)
      else inFlight.set(peer, left)
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
