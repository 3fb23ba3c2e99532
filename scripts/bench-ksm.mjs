#!/usr/bin/env node
// Decryptions per second of the full Ksm.decrypt(otp) path (validate, AEAD lookup, CCM unwrap, ECB,
// uid + CRC checks) on one core. Needs `npm run build` first (imports from dist/).
// Usage: node scripts/bench-ksm.mjs [keys=1000] [otpsPerKey=20] [rounds=300000]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import path from 'node:path'
import { encodeOtp } from '../dist/otp/index.js'
import { makeYubikeyAeadFile, nonceFromPublicId, openFileKsm, publicIdRange, parseStartPublicId, writeAeadFile } from '../dist/ksm/index.js'

const [keyCount = 1000, otpsPerKey = 20, rounds = 300_000] = process.argv.slice(2).map(Number)
const dir = mkdtempSync(path.join(tmpdir(), 'yubival-bench-'))
try {
  const khKey = randomBytes(32)
  const keyfile = path.join(dir, 'keys.json')
  writeFileSync(keyfile, JSON.stringify({ 1: khKey.toString('hex') }))
  chmodSync(keyfile, 0o600)
  const aeadDir = path.join(dir, 'aeads')

  const ids = publicIdRange(parseStartPublicId('vvcccccccccc'), keyCount)
  const otps = []
  for (const publicId of ids) {
    const aesKey = randomBytes(16)
    const privateUid = randomBytes(6)
    const nonce = nonceFromPublicId(publicId)
    await writeAeadFile(aeadDir, '1', publicId, makeYubikeyAeadFile({ key: khKey, keyHandle: 1, nonce, aesKey, privateUid }))
    for (let i = 0; i < otpsPerKey; i++) {
      otps.push(encodeOtp({ publicId, aesKey, privateUid, counter: 1, timestampLow: i, timestampHigh: 0, sessionUse: i & 0xff }))
    }
  }
  // shuffle so consecutive OTPs hit different keys
  for (let i = otps.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [otps[i], otps[j]] = [otps[j], otps[i]]
  }

  const open = (aeadCacheSize) => openFileKsm({ keyfile, aeadDir, keyHandles: ['1'], aeadCacheSize }).ksm

  // Rates per wall-clock second and per CPU second of this process: on a busy machine the second one
  // is the better estimate of what one dedicated core does (I/O waits excluded, though).
  async function timed (n, body) {
    const t0 = process.hrtime.bigint()
    const c0 = process.cpuUsage()
    const ok = await body()
    const wall = Number(process.hrtime.bigint() - t0) / 1e9
    const cpu = process.cpuUsage(c0)
    if (ok !== n) throw new Error(`only ${ok} of ${n} decryptions succeeded`)
    return { wall: n / wall, cpu: n / ((cpu.user + cpu.system) / 1e6) }
  }

  function sequential (ksm, n) {
    return timed(n, async () => {
      let ok = 0
      for (let i = 0; i < n; i++) if ((await ksm.decrypt(otps[i % otps.length])).ok) ok++
      return ok
    })
  }

  function batched (ksm, n, batch) {
    return timed(n, async () => {
      let ok = 0
      for (let i = 0; i < n; i += batch) {
        const start = i % otps.length
        const rs = await Promise.all(otps.slice(start, start + batch).map((o) => ksm.decrypt(o)))
        for (const r of rs) if (r.ok) ok++
      }
      return ok
    })
  }

  const warm = open(keyCount * 2)
  await sequential(warm, otps.length) // fills the cache
  await sequential(warm, 50_000) // JIT warm-up
  const fmt = (r) => `${Math.round(r.wall).toLocaleString('en-US').padStart(9)} /s wall, ${Math.round(r.cpu).toLocaleString('en-US').padStart(9)} /s per CPU second`
  console.log(`keys: ${keyCount}, distinct OTPs: ${otps.length}, node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`)
  console.log(`warm cache, one await at a time: ${fmt(await sequential(warm, rounds))}`)
  console.log(`warm cache, batches of 100:      ${fmt(await batched(warm, rounds, 100))}`)
  // Calibration for this machine: the bare Node cost of one CCM + one ECB context per OTP (what a
  // straightforward implementation pays in crypto alone, no lookup, no checks).
  const n13 = Buffer.alloc(13, 1)
  const sealed = (() => { const c = createCipheriv('aes-256-ccm', khKey, n13, { authTagLength: 8 }); const ct = c.update(Buffer.alloc(22)); c.final(); return { ct, tag: c.getAuthTag() } })()
  const bare = await timed(100_000, async () => {
    for (let i = 0; i < 100_000; i++) {
      const d = createDecipheriv('aes-256-ccm', khKey, n13, { authTagLength: 8 })
      d.setAuthTag(sealed.tag)
      const p = d.update(sealed.ct)
      d.final()
      const e = createDecipheriv('aes-128-ecb', p.subarray(0, 16), null).setAutoPadding(false)
      e.update(sealed.ct.subarray(0, 16))
      e.final()
    }
    return 100_000
  })
  console.log(`(calibration: bare Node CCM+ECB contexts, no KSM: ${fmt(bare)})`)
  const cold = open(0)
  console.log(`no cache (file read each time):  ${fmt(await sequential(cold, Math.min(rounds, 20_000)))}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
