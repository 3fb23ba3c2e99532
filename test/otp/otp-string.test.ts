import { describe, expect, it } from 'vitest'
import { isValidOtp, normaliseOtp, splitOtp } from '../../src/otp/otp-string.js'

const GOOD = 'credtivcccccdkdkdkcjdnhugrhccljvbcddvfdckfrk'

describe('normaliseOtp', () => {
  it('lower-cases ASCII', () => {
    expect(normaliseOtp(GOOD.toUpperCase())).toBe(GOOD)
  })

  it('leaves a modhex OTP containing f/l/r/v alone', () => {
    expect(normaliseOtp(GOOD)).toBe(GOOD)
  })

  it('translates US-Dvorak input to modhex', () => {
    // j x e . u i d c h t n b p y g k  →  c b d e f g h i j k l n r t u v
    expect(normaliseOtp('jxe.uidchtnbpygk')).toBe('cbdefghijklnrtuv')
    expect(normaliseOtp('JXE.UIDCHTNBPYGK')).toBe('cbdefghijklnrtuv')
  })

  it('keeps yubikey-val\'s gotcha: pure modhex without f/l/r/v is taken for Dvorak', () => {
    expect(normaliseOtp('c'.repeat(44))).toBe('i'.repeat(44))
    expect(normaliseOtp('cbdeghijkntu')).toBe('inhdujgcvlkf')
  })

  it('does not translate when a single character is outside the Dvorak set', () => {
    expect(normaliseOtp('jxe.uidchtnbpygkf')).toBe('jxe.uidchtnbpygkf')
    expect(normaliseOtp('')).toBe('')
  })

  it('lower-cases only ASCII, like PHP strtolower', () => {
    expect(normaliseOtp('ÀB')).toBe('Àb')
  })
})

describe('isValidOtp / splitOtp', () => {
  it('accepts 32..48 lower-case modhex characters', () => {
    expect(isValidOtp(GOOD)).toBe(true)
    expect(isValidOtp(GOOD.slice(12))).toBe(true) // 32
    expect(isValidOtp('cccc' + GOOD)).toBe(true) // 48
    expect(isValidOtp('ccccc' + GOOD)).toBe(false) // 49
    expect(isValidOtp(GOOD.slice(13))).toBe(false) // 31
    expect(isValidOtp(GOOD.toUpperCase())).toBe(false)
    expect(isValidOtp(GOOD.slice(0, -1) + 'a')).toBe(false)
    expect(isValidOtp('')).toBe(false)
    expect(isValidOtp(GOOD + '\n')).toBe(false)
  })

  it('splits off the last 32 characters as token; the public id may be empty or odd', () => {
    expect(splitOtp(GOOD)).toEqual({ publicId: 'credtivccccc', token: 'dkdkdkcjdnhugrhccljvbcddvfdckfrk' })
    expect(splitOtp(GOOD.slice(12))).toEqual({ publicId: '', token: 'dkdkdkcjdnhugrhccljvbcddvfdckfrk' })
    expect(splitOtp('c' + GOOD).publicId).toBe('ccredtivccccc')
  })

  it('refuses invalid OTPs without echoing them', () => {
    expect(() => splitOtp('x' + GOOD)).toThrow(/32-48/)
    try { splitOtp('x' + GOOD) } catch (err) { expect((err as Error).message).not.toContain(GOOD) }
  })
})
