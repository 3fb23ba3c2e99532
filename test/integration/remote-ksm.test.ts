// yubival as the KSM of another yubival: K serves /wsapi/decrypt (YUBIVAL_KSM_ENDPOINT) from its AEAD
// tree; V has no keys at all and asks K (YUBIVAL_KSM_URLS, plus a KSM that is down). V's answers must
// be those of a normal VAL; with K gone they are BACKEND_ERROR. Needs `npm run build`.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createInstallation, randomSoftKey, type TestInstallation } from '../helpers/environment.js'
import { freePort, startServer, type ServerProcess } from '../helpers/server-process.js'
import { verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'

describe('a VAL using another yubival as its remote KSM', () => {
  let k: TestInstallation
  let v: TestInstallation
  let ksmServer: ServerProcess
  let val: ServerProcess

  beforeAll(async () => {
    ;[k, v] = await Promise.all([createInstallation({ keyCount: 1 }), createInstallation({ keyCount: 0 })])
    ksmServer = await startServer({ ...k.env, YUBIVAL_KSM_ENDPOINT: 'true' })
    const down = `http://127.0.0.1:${await freePort()}/wsapi/decrypt?otp=`
    val = await startServer({
      ...v.env,
      // V's own keyfile setting points nowhere: a remote-KSM VAL needs none
      YUBIVAL_KEYFILE: '/nonexistent/keys.json',
      YUBIVAL_KSM_URLS: `${down},${ksmServer.url}/wsapi/decrypt?otp=`,
      YUBIVAL_KSM_TIMEOUT_MS: '5000'
    })
  }, 90_000)
  afterAll(async () => {
    await Promise.all([ksmServer?.stop(), val?.stop()])
    await Promise.all([k?.cleanup(), v?.cleanup()])
  })

  test('OK, replay and unknown key through the remote KSM; BACKEND_ERROR once it is gone; no OTP in its log', async () => {
    const key = k.keys[0]!
    const [otp1, otp2, otp3] = yubiotpOtps(key, [{ counter: 1, use: 0 }, { counter: 1, use: 1 }, { counter: 2, use: 0 }])
    const ok = await verifyOtp(val.url, v.client, otp1!)
    expect(ok.status).toBe('OK')
    expect(ok.fields.sl).toBe('100')
    expect((await verifyOtp(val.url, v.client, otp1!)).status).toBe('REPLAYED_OTP')
    // K holds the key and refuses a forged token: BAD_OTP
    const [forged] = yubiotpOtps({ ...randomSoftKey(), publicId: key.publicId }, [{ counter: 5, use: 0 }])
    expect((await verifyOtp(val.url, v.client, forged!)).status).toBe('BAD_OTP')
    // K does not know the key, but the other KSM is down and might: not the OTP's fault
    const [stranger] = yubiotpOtps(randomSoftKey(), [{ counter: 1, use: 0 }])
    expect((await verifyOtp(val.url, v.client, stranger!)).status).toBe('BACKEND_ERROR')

    // the KSM endpoint itself, as an old VAL would call it
    const res = await fetch(`${ksmServer.url}/wsapi/decrypt?otp=${otp2!}`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/^OK counter=0001 low=[0-9a-f]{4} high=[0-9a-f]{2} use=01\n$/)
    expect(ksmServer.output()).not.toContain(otp2!.slice(-32))

    await ksmServer.stop()
    const gone = await verifyOtp(val.url, v.client, otp3!)
    expect(gone.status).toBe('BACKEND_ERROR')
    expect(val.output()).toContain('ksm_unavailable')
  }, 60_000)
})
