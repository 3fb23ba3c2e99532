import { describe, expect, it } from 'vitest'
import { bytesToModhex, hexToModhex, isModhex, modhexToBytes, modhexToHex, ModhexError } from '../../src/otp/modhex.js'

describe('modhex', () => {
  it('maps the alphabet cbdefghijklnrtuv to 0-f both ways', () => {
    expect(modhexToHex('cbdefghijklnrtuv')).toBe('0123456789abcdef')
    expect(hexToModhex('0123456789abcdef')).toBe('cbdefghijklnrtuv')
    expect(hexToModhex('ABCDEF')).toBe('lnrtuv')
  })

  it('converts the fixture public ids (credentials.json public_id_hex)', () => {
    expect(modhexToHex('credtivccccc')).toBe('0c32d7f00000')
    expect(modhexToHex('ccftftftcccc')).toBe('004d4d4d0000')
    expect(bytesToModhex(Buffer.from('0c32d7f00001', 'hex'))).toBe('credtivccccb')
  })

  it('handles odd lengths for hex strings (odd public ids exist)', () => {
    expect(modhexToHex('ccr')).toBe('00c')
    expect(hexToModhex('00c')).toBe('ccr')
  })

  it('is strict: invalid characters throw instead of becoming 0', () => {
    expect(() => modhexToHex('cca')).toThrow(ModhexError)
    expect(() => modhexToHex('ccC')).toThrow(/position 2/)
    expect(() => hexToModhex('0g')).toThrow(ModhexError)
    expect(() => modhexToBytes('cx')).toThrow(ModhexError)
    expect(() => modhexToHex('cé')).toThrow(ModhexError)
  })

  it('refuses odd lengths only when bytes are asked for', () => {
    expect(() => modhexToBytes('ccc')).toThrow(/odd length/)
    expect(modhexToBytes('')).toEqual(Buffer.alloc(0))
  })

  it('round-trips every byte value', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    expect(modhexToBytes(bytesToModhex(all))).toEqual(all)
  })

  it('isModhex accepts only lower-case modhex (the empty string too)', () => {
    expect(isModhex('cbdefghijklnrtuv')).toBe(true)
    expect(isModhex('')).toBe(true)
    expect(isModhex('C')).toBe(false)
    expect(isModhex('a')).toBe(false)
    expect(isModhex('c/')).toBe(false)
    expect(isModhex('cĉ')).toBe(false)
  })
})
