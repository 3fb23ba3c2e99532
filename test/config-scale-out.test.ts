// The scale-out settings: AEAD store, KSM endpoint and allow-list, remote KSMs.
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'

describe('scale-out settings', () => {
  it('defaults: files, no endpoint, loopback allow-list, no remote KSMs, 3 s', () => {
    const c = loadConfig({})
    expect([c.aeadStore, c.ksmEndpoint, c.ksmAllowedIps, c.ksmUrls, c.ksmTimeoutMs]).toEqual(['files', false, ['127.0.0.1', '::1'], [], 3000])
  })

  it('reads every setting', () => {
    const c = loadConfig({
      YUBIVAL_AEAD_STORE: 'database',
      YUBIVAL_KSM_ENDPOINT: 'yes',
      YUBIVAL_KSM_ALLOWED_IPS: '10.0.0.5, fd00::7',
      YUBIVAL_KSM_URLS: 'http://ksm1:8002/wsapi/decrypt?otp=, https://ksm2/wsapi/decrypt?otp=',
      YUBIVAL_KSM_TIMEOUT_MS: '1500'
    })
    expect([c.aeadStore, c.ksmEndpoint, c.ksmAllowedIps, c.ksmUrls, c.ksmTimeoutMs]).toEqual([
      'database', true, ['10.0.0.5', 'fd00::7'], ['http://ksm1:8002/wsapi/decrypt?otp=', 'https://ksm2/wsapi/decrypt?otp='], 1500])
  })

  it.each([
    ['YUBIVAL_AEAD_STORE', 'sql', /must be one of files, database/],
    ['YUBIVAL_KSM_ALLOWED_IPS', '10.0.0.0/8', /"10.0.0.0\/8" is not an IP address/],
    ['YUBIVAL_KSM_URLS', 'ksm1:8002/wsapi/decrypt?otp=', /must start with http:\/\/ or https:\/\//],
    ['YUBIVAL_KSM_URLS', 'http://', /is not a URL/],
    ['YUBIVAL_KSM_ENDPOINT', 'maybe', /expected true or false/],
    ['YUBIVAL_KSM_TIMEOUT_MS', '0', /between 1 and 600000/]
  ])('%s=%s is refused naming the setting', (name, value, message) => {
    let err: unknown
    try {
      loadConfig({ [name]: value })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).setting).toBe(name)
    expect((err as Error).message).toMatch(message)
  })
})
