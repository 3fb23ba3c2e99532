import { describe, expect, it } from 'vitest'
import { KeyHandleError, parseKeyHandle, parseKeyHandles, parsePythonUint32 } from '../../src/ksm/key-handle.js'

describe('parseKeyHandle (pyhsm key_handle_to_int)', () => {
  it.each([
    ['1', 1], ['1234', 1234], ['007', 7], ['+7', 7], [' 7 ', 7], ['4294967295', 0xffffffff], ['0', 0],
    ['0x1', 1], ['0x3', 3], ['0x2000', 0x2000], ['0xffffffff', 0xffffffff], ['0xABcd', 0xabcd],
    ['KSM1', 0x314d534b], ['abcd', 0x64636261]
  ])('%s → %d, typed string kept', (typed, value) => {
    expect(parseKeyHandle(typed)).toEqual({ typed, value })
  })

  it('keeps 0x1 and 1 apart (they name different folders)', () => {
    expect(parseKeyHandle('0x1').typed).toBe('0x1')
    expect(parseKeyHandle('1').typed).toBe('1')
  })

  it.each([
    ['', /empty/], ['abcde', /could not parse/], ['0X1', /could not parse/], ['ab', /could not parse/],
    ['4294967296', /out of range/], ['-1', /out of range/], ['0x100000000', /out of range/], ['a/bc', /folder/],
    ['..', /folder/], ['ab\\c', /folder/]
  ])('refuses %j', (typed, re) => {
    expect(() => parseKeyHandle(typed)).toThrow(KeyHandleError)
    expect(() => parseKeyHandle(typed)).toThrow(re)
  })

  it('refuses duplicate and empty lists', () => {
    expect(() => parseKeyHandles([])).toThrow(/at least one/)
    expect(() => parseKeyHandles(['1', '1'])).toThrow(/twice/)
    expect(parseKeyHandles(['1', '0x1']).map((k) => k.value)).toEqual([1, 1])
  })

  it('parsePythonUint32 follows int(): blanks, sign, leading zeros; no hex', () => {
    expect(parsePythonUint32('\t 0012\n')).toBe(12)
    expect(parsePythonUint32('-0')).toBe(0)
    expect(parsePythonUint32('0x1')).toBeUndefined()
    expect(parsePythonUint32('1 2')).toBeUndefined()
    expect(parsePythonUint32('')).toBeUndefined()
  })
})
