import { describe, expect, it } from 'vitest'
import {
  ctypeDigit, isPhpNumeric, phpIntval, phpKeyCompare, phpLooseEquals, phpLooseEqualsOne, phpTrim
} from '../../src/wsapi/php-string.js'

describe('PHP 8 string semantics', () => {
  it('trim() strips exactly " \\t\\n\\r\\0\\x0B" at both ends', () => {
    expect(phpTrim(' \t\n\r\0\x0Bab c\x0B\0\r\n\t ')).toBe('ab c')
    expect(phpTrim('\fab\f')).toBe('\fab\f') // form feed is not in PHP's default list
    expect(phpTrim('\u00a0x\u00a0')).toBe('\u00a0x\u00a0')
  })

  it.each([
    ['1', true], [' 1', true], ['1 ', true], ['1.', true], ['.5', true], ['1e3', true], ['-1.5E-3', true],
    ['+0', true], ['', false], ['.', false], ['1e', false], ['0x1A', false], ['1abc', false], ['abc', false], [' ', false]
  ])('is_numeric(%j) = %s', (s, expected) => {
    expect(isPhpNumeric(s)).toBe(expected)
  })

  it.each([
    ['50abc', 50], ['1e2', 100], ['50.9', 50], [' 7', 7], ['\n7x', 7], ['abc', 0], ['-3', -3], ['0x1A', 0],
    ['1e', 1], ['.9', 0], ['-0.5', 0], ['1e400', 9223372036854775807], ['-1e400', -9223372036854775807],
    ['99999999999999999999', 9223372036854775807], ['', 0]
  ])('intval(%j) = %d', (s, expected) => {
    expect(phpIntval(s)).toBe(expected)
  })

  it.each([
    ['1', true], ['01', true], ['1.0', true], [' 1', true], ['1 ', true], ['+1', true], ['1e0', true], ['.1e1', true],
    ['1abc', false], ['0x1', false], ['2', false], ['', false], ['true', false], ['1.0000000001', false]
  ])('%j == 1 is %s', (s, expected) => {
    expect(phpLooseEqualsOne(s)).toBe(expected)
  })

  it('loose == between strings: numeric strings compare as numbers', () => {
    expect(phpLooseEquals('0000000000000000', '00000000000000000')).toBe(true)
    expect(phpLooseEquals('1e3', '1000')).toBe(true)
    expect(phpLooseEquals('abc', 'abc')).toBe(true)
    expect(phpLooseEquals('abc', 'ABC')).toBe(false)
    expect(phpLooseEquals('1e3', '1000x')).toBe(false)
    // Integers overflowing to the same side: PHP falls back to comparing the strings.
    expect(phpLooseEquals('99999999999999999999', '99999999999999999998')).toBe(false)
    expect(phpLooseEquals('9223372036854775807', '9223372036854775808')).toBe(false)
    expect(phpLooseEquals('00', '0')).toBe(true)
  })

  it('ksort key order: bytes, except two numeric keys compare as numbers', () => {
    const sorted = (keys: string[]): string[] => [...keys].sort(phpKeyCompare)
    expect(sorted(['timestamp', 'timeout', 'otp', 'nonce', 'id', 'Zed', '_x'])).toEqual(['Zed', '_x', 'id', 'nonce', 'otp', 'timeout', 'timestamp'])
    expect(sorted(['10', '9', '1e1', '1.5', ' 2'])).toEqual(['1.5', ' 2', '9', '10', '1e1'])
    expect(sorted(['b', '100', 'a', '20'])).toEqual(['20', '100', 'a', 'b'])
    expect(phpKeyCompare('1e1', '10')).toBe(0)
  })

  it('ctype_digit', () => {
    expect(ctypeDigit('0123')).toBe(true)
    expect(ctypeDigit('')).toBe(false)
    expect(ctypeDigit('1 ')).toBe(false)
    expect(ctypeDigit('\u0661')).toBe(false)
  })
})
