// The sending side of the sync pool: deliver one queued message to its peer and act on the answer, and
// the synchronous round a verify runs before it may answer OK (reference yubikey-val.md §4.4).
import type { AppliedSync, QueuedRef, QueueStats } from '../db/sync-queue-repository.js'
import { buildSyncUrl, isAnswerSignedWith, isValidAnswer, parseSyncAnswer, requiredAnswers, type PeerState, type SyncMessage } from './protocol.js'
import { peerLabel, type PeerClient, type PeerReply } from './peer-client.js'

/** The queue operations the sync pool needs (SyncQueueRepository). */
export interface SyncQueueStore {
  raiseCounters(state: PeerState): Promise<boolean>
  /** Disables the key unless an enable for it is still queued for `peer`. */
  disableKey(publicId: string, peer?: string): Promise<boolean>
  done(ref: QueuedRef): Promise<void>
  retryLater(ref: QueuedRef, nextAt: number, error: string, countAttempt?: boolean): Promise<void>
  applyIncoming(m: SyncMessage, nowSeconds: number): Promise<AppliedSync>
}

export type DeliveryResult =
  | { kind: 'ok', state: PeerState }
  | { kind: 'key_disabled' }
  | { kind: 'refused', status: string }
  | { kind: 'failed', detail: string }

export interface SyncLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Metrics hooks; `peer` is scheme://host[:port]. */
export interface SyncObserver {
  request(peer: string, result: DeliveryResult['kind']): void
  dropped(peer: string, n: number): void
  queue(stats: QueueStats[]): void
}

export interface SyncPoolOptions {
  peers: readonly string[]
  /** Decoded YUBIVAL_SYNC_KEY: requests are signed with it; null = unsigned (yubikey-val's protocol). */
  key: Uint8Array | null
  /** With a key: peers (yubikey-val nodes) whose answers are not signed with it. */
  unsignedPeers?: readonly string[]
  client: PeerClient
  queue: SyncQueueStore
  log: SyncLog
  observer?: SyncObserver
  nowMs?: () => number
}

export interface ConfirmResult {
  required: number
  /** OK answers (valid + invalid). */
  answers: number
  valid: number
  /** A peer has the key disabled (decisive: the OTP is refused and the key disabled here). */
  keyDisabled: boolean
}

export interface SyncPool {
  readonly peers: readonly string[]
  /** Sends one message and acts on the answer (raise counters / disable key / remove from queue). */
  deliver(ref: QueuedRef, kind: 'otp' | 'state', message: SyncMessage, timeoutMs: number, signal?: AbortSignal): Promise<DeliveryResult>
  /**
   * Sends the messages a verify just queued and waits until the sync level is met, a peer refuses, or
   * the timeout passes. Messages still unanswered then are handed to the background worker.
   */
  confirm(queued: readonly QueuedRef[], message: SyncMessage, sl: number, timeoutMs: number): Promise<ConfirmResult>
}

export function createSyncPool (opts: SyncPoolOptions): SyncPool {
  const nowMs = opts.nowMs ?? Date.now
  const { queue, log } = opts
  const unsignedPeers = new Set(opts.unsignedPeers ?? [])

  /** What the answer means, from the reply alone: local bookkeeping can never change it. */
  function judge (ref: QueuedRef, message: SyncMessage, reply: PeerReply): DeliveryResult {
    if (reply.kind === 'failed') return { kind: 'failed', detail: reply.detail }
    // with a sync key, a yubival peer signs its answers with it: anything else could be forged on the way
    if (opts.key !== null && !unsignedPeers.has(ref.server) && !isAnswerSignedWith(reply.body, opts.key)) {
      return { kind: 'refused', status: 'answer not signed with YUBIVAL_SYNC_KEY' }
    }
    const answer = parseSyncAnswer(reply.body)
    if (answer.kind === 'ok' && answer.state.publicId !== message.publicId) return { kind: 'refused', status: 'answer names another public id' }
    return answer
  }

  /** Raise counters / disable the key / remove the message; a failure here is logged, not fatal. */
  async function bookkeep (ref: QueuedRef, kind: 'otp' | 'state', message: SyncMessage, result: DeliveryResult): Promise<void> {
    const peer = peerLabel(ref.server)
    try {
      if (result.kind === 'ok') {
        if (await queue.raiseCounters(result.state)) {
          log.warn({ peer, publicId: message.publicId, peerCounter: result.state.counter, peerUse: result.state.use },
            'sync: peer had higher counters; local counters raised')
        }
        await queue.done(ref)
      } else if (result.kind === 'key_disabled') {
        await queue.done(ref)
        // a yubikey-val peer that has the key disabled refuses our enable too: that must not disable it
        // here; nor may an answer that crossed an enable still on its way to that peer
        if (kind === 'otp' && await queue.disableKey(message.publicId, ref.server)) {
          log.warn({ peer, publicId: message.publicId }, 'sync: peer has the key disabled; disabled here too')
        }
      }
    } catch (err) {
      log.warn({ peer, publicId: message.publicId, err: (err as Error).message }, 'sync: could not record a peer\'s answer locally; the message stays queued')
    }
  }

  async function deliver (ref: QueuedRef, kind: 'otp' | 'state', message: SyncMessage, timeoutMs: number, signal?: AbortSignal): Promise<DeliveryResult> {
    const reply = await opts.client(buildSyncUrl(ref.server, message, opts.key, nowMs()), timeoutMs, signal)
    const result = judge(ref, message, reply)
    opts.observer?.request(peerLabel(ref.server), result.kind)
    await bookkeep(ref, kind, message, result)
    return result
  }

  async function confirm (queued: readonly QueuedRef[], message: SyncMessage, sl: number, timeoutMs: number): Promise<ConfirmResult> {
    const result: ConfirmResult = { required: requiredAnswers(opts.peers.length, sl), answers: 0, valid: 0, keyDisabled: false }
    let settle: () => void = () => {}
    const decided = new Promise<void>((resolve) => { settle = resolve })
    const timer = setTimeout(settle, timeoutMs)
    const sends = queued.map(async (ref) => {
      let outcome: DeliveryResult
      try {
        outcome = await deliver(ref, 'otp', message, timeoutMs)
      } catch (err) {
        outcome = { kind: 'failed', detail: `local database: ${(err as Error).message}` }
      }
      if (outcome.kind === 'ok') {
        result.answers++
        if (isValidAnswer(outcome.state, message)) result.valid++
        else log.warn({ peer: peerLabel(ref.server), publicId: message.publicId }, 'sync: peer had already seen this OTP or a later one')
      } else if (outcome.kind === 'key_disabled') {
        result.keyDisabled = true
      } else {
        // the background worker takes it from here, now rather than after the hold time
        await queue.retryLater(ref, nowMs(), outcome.kind === 'failed' ? outcome.detail : `peer answered ${outcome.status}`).catch(() => undefined)
      }
      if (result.keyDisabled || result.answers >= result.required) settle()
    })
    void Promise.all(sends).then(settle)
    await decided
    clearTimeout(timer)
    // Copy before late answers change the numbers: the verify decides on what it has now. Requests still
    // out carry on in the background until their own deadline (the same timeout), then raise counters
    // and clear the queue, or hand their message to the worker.
    return { ...result }
  }

  return { peers: opts.peers, deliver, confirm }
}
