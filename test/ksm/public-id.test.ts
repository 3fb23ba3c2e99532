import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { padPublicId, parseStartPublicId, publicIdFromNumber, publicIdRange } from '../../src/ksm/public-id.js'
import { fixturePath } from './fixtures.js'

describe('public id counting (yhsm-generate-keys)', () => {
  it('reads --start-public-id as decimal or modhex', () => {
    expect(parseStartPublicId('credtivccccc')).toBe(13412510728192n) // transcript 01: 13412510728192 (0xc32d7f00000)
    expect(parseStartPublicId('4711')).toBe(4711n)
    expect(parseStartPublicId(' +12 ')).toBe(12n)
  })

  it('refuses 0, negatives and garbage', () => {
    expect(() => parseStartPublicId('0')).toThrow(/greater than 0, was 0/)
    expect(() => parseStartPublicId('cccc')).toThrow(/greater than 0/)
    expect(() => parseStartPublicId('-5')).toThrow(/neither/)
    expect(() => parseStartPublicId('xyz')).toThrow(/neither/)
    expect(() => parseStartPublicId('')).toThrow(/neither/)
  })

  it('formats numbers as zero-padded 12-character modhex', () => {
    expect(publicIdFromNumber(4711n)).toBe('ccccccccbdhi')
    expect(publicIdFromNumber(0xffffffffffffn)).toBe('vvvvvvvvvvvv')
    expect(publicIdFromNumber(1n, 16)).toBe('cccccccccccccccb')
    expect(() => publicIdFromNumber(0x1000000000000n)).toThrow(/does not fit/)
  })

  it('counts as integers: credtivccccc, credtivccccb, credtivccccd, ... (transcript 01)', () => {
    const ids = publicIdRange(parseStartPublicId('credtivccccc'), 5)
    expect(ids).toEqual(['credtivccccc', 'credtivccccb', 'credtivccccd', 'credtivcccce', 'credtivccccf'])
    const transcript = readFileSync(fixturePath('transcripts/01-generate-keys.txt'), 'utf8')
    expect(transcript.match(/^ {2}(\w{12})$/gm)!.map((s) => s.trim())).toEqual(ids)
    expect(publicIdRange(parseStartPublicId('credtivccccv'), 2)).toEqual(['credtivccccv', 'credtivcccbc'])
  })

  it('pads imported ids with c on the left (import pads, the nonce does not)', () => {
    expect(padPublicId('ftftftcccc')).toBe('ccftftftcccc')
    expect(padPublicId('vvvvvvvvvvvv')).toBe('vvvvvvvvvvvv')
    expect(padPublicId('vv', 4)).toBe('ccvv')
  })
})
