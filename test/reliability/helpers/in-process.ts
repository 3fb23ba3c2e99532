// The assembled app in this process (Fastify + verify service + real stores + in-process KSM) on a
// throwaway installation, for tests that send tens of thousands of requests through app.inject.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../../src/config.js'
import { openDatabase, type Database } from '../../../src/db/database.js'
import { createStores } from '../../../src/db/stores.js'
import { openFileKsm } from '../../../src/ksm/open-file-ksm.js'
import { encodeOtp } from '../../../src/otp/index.js'
import { buildApp } from '../../../src/server/app.js'
import { createLogger } from '../../../src/server/logger.js'
import { createVerifyService } from '../../../src/val/verify-service.js'
import { createInstallation, type TestInstallation } from '../../helpers/environment.js'
import type { SoftKey } from '../../helpers/yubiotp.js'

export interface InProcess {
  inst: TestInstallation
  app: FastifyInstance
  db: Database
  /** Every log line so far (trace level). */
  logText: () => string
  close: () => Promise<void>
}

export async function startInProcess (opts: { keyCount?: number } = {}): Promise<InProcess> {
  const inst = await createInstallation({ keyCount: opts.keyCount ?? 4 })
  const config = loadConfig(inst.env, { clientCacheMs: 0 })
  const db = await openDatabase(config)
  const { ksm } = openFileKsm({ keyfile: config.keyfile, aeadDir: config.aeadDir, keyHandles: config.keyHandles, aeadCacheSize: 1000 })
  const stores = createStores(db, config)
  let logText = ''
  const sink = new Writable({ write (chunk, _enc, cb) { logText += String(chunk); cb() } })
  const app = buildApp({
    verifyService: createVerifyService({ ksm, clients: stores.clients, yubikeys: stores.yubikeys }),
    logger: createLogger('trace', sink),
    readiness: async () => ({ ready: true, checks: {} })
  })
  await app.ready()
  return {
    inst,
    app,
    db,
    logText: () => logText,
    close: async () => {
      await app.close()
      await db.close()
      await inst.cleanup()
    }
  }
}

/** Fresh OTPs of a soft key from our own encoder (fast; the cross-checks against pyhsm are elsewhere). */
export class FastOtps {
  private counter = 0
  constructor (private readonly key: SoftKey) {}

  next (): { otp: string, counter: number } {
    this.counter++
    const otp = encodeOtp({
      publicId: this.key.publicId,
      aesKey: Buffer.from(this.key.aesKeyHex, 'hex'),
      privateUid: Buffer.from(this.key.privateUidHex, 'hex'),
      counter: this.counter,
      sessionUse: 0,
      timestampLow: this.counter & 0xffff,
      timestampHigh: 0
    })
    return { otp, counter: this.counter }
  }
}
