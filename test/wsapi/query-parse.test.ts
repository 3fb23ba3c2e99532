import { describe, expect, it } from 'vitest'
import {
  MAX_INPUT_VARS, parseFormBody, parseQueryString, phpUrlDecode, selectRequestParams, type PhpValue
} from '../../src/wsapi/query-parse.js'

/** A plain-object view of a parsed map, to compare with what PHP's var_export would show. */
type Plain = string | { [k: string]: Plain }
function plain (v: PhpValue): Plain {
  if (typeof v === 'string') return v
  return Object.fromEntries([...v.entries].map(([k, x]) => [k, plain(x)]))
}
const q = (s: string): Plain => plain(parseQueryString(s))
const keys = (s: string): string[] => [...parseQueryString(s).entries.keys()]

describe('php_url_decode', () => {
  it.each([
    ['a+b', 'a b'], ['%41%2b%2B', 'A++'], ['%zz%4', '%zz%4'], ['100%', '100%'], ['%%41', '%A'], ['%e9', '\u00e9'],
    ['%C3%A9', '\u00c3\u00a9'], ['%00', '\0']
  ])('%j → %j', (raw, decoded) => {
    expect(phpUrlDecode(raw)).toBe(decoded)
  })
})

describe('$_GET from a query string', () => {
  it.each<[string, Plain]>([
    ['a=1&b=2', { a: '1', b: '2' }],
    ['a=1&a=2', { a: '2' }],
    ['a', { a: '' }],
    ['a=', { a: '' }],
    ['a==b', { a: '=b' }],
    ['=1&&', {}],
    ['', {}],
    ['a+b=1&c.d=2&e%20f=3', { a_b: '1', c_d: '2', e_f: '3' }],
    ['%20%20a=1', { a: '1' }],
    ['a%00b=1', { a: '1' }],
    ['v=a%00b', { v: 'a\0b' }],
    ['x[]=1&x[]=2', { x: { 0: '1', 1: '2' } }],
    ['x[a]=1&x[b][]=2', { x: { a: '1', b: { 0: '2' } } }],
    ['x[=1', { x_: '1' }],
    ['x[a.b c[=1', { x_a_b_c_: '1' }],
    ['x.y[a.b]=1', { x_y: { 'a.b': '1' } }],
    ['x[a]b=1', { x: { a: '1' } }],
    ['x[a][b=1', { x: { a: '1' } }],
    ['x=1&x[]=2', { x: { 0: '2' } }],
    ['x[]=1&x=2', { x: '2' }],
    ['x[ ]=1', { x: { 0: '1' } }],
    ['x[ a]=1', { x: { ' a': '1' } }],
    ['x[5]=a&x[]=b', { x: { 5: 'a', 6: 'b' } }],
    ['x[05]=a&x[]=b', { x: { '05': 'a', 0: 'b' } }],
    ['x[-5]=a&x[]=b', { x: { '-5': 'a', '-4': 'b' } }],
    ['[x]=1', {}],
    ['_.Host-x=1&__Host-y=2& __Secure-z=3', { '__Host-y': '2', '__Secure-z': '3' }]
  ])('%j', (raw, expected) => {
    expect(q(raw)).toEqual(expected)
  })

  it('keeps the first position of a repeated name', () => {
    expect(keys('b=1&a=2&b=3')).toEqual(['b', 'a'])
  })

  it('stops after max_input_vars pieces (empty pieces not counted)', () => {
    const raw = '&&' + Array.from({ length: MAX_INPUT_VARS + 5 }, (_, i) => `p${i}=${i}`).join('&')
    const parsed = parseQueryString(raw)
    expect(parsed.entries.size).toBe(MAX_INPUT_VARS)
    expect(parsed.entries.has(`p${MAX_INPUT_VARS - 1}`)).toBe(true)
  })

  it('drops a variable nested deeper than max_input_nesting_level', () => {
    expect(q(`a${'[b]'.repeat(64)}=1&c=2`)).toHaveProperty('a')
    expect(q(`a${'[b]'.repeat(65)}=1&c=2`)).toEqual({ c: '2' })
  })

  it('treats a string as UTF-8 text and bytes as bytes', () => {
    expect(q('v=é')).toEqual({ v: '\u00c3\u00a9' })
    expect(plain(parseQueryString(Uint8Array.from([0x76, 0x3d, 0xe9])))).toEqual({ v: '\u00e9' })
  })
})

describe('$_POST from a urlencoded body', () => {
  it('parses like the query string', () => {
    expect(plain(parseFormBody('id=1&otp=x+y&n[]=1&'))).toEqual({ id: '1', otp: 'x y', n: { 0: '1' } })
    expect(plain(parseFormBody(Buffer.from('a=%41&b\0c=2')))).toEqual({ a: 'A', b: '2' })
  })

  it('counts empty pieces and stops one variable after the limit', () => {
    const raw = Array.from({ length: MAX_INPUT_VARS + 5 }, (_, i) => `p${i}=${i}`).join('&')
    expect(parseFormBody(raw).entries.size).toBe(MAX_INPUT_VARS + 1)
    expect(parseFormBody('&&' + raw).entries.size).toBe(MAX_INPUT_VARS - 1)
  })
})

describe('parameter source', () => {
  it('uses the query when it yields a parameter, else the body', () => {
    expect(plain(selectRequestParams('id=1', 'id=2'))).toEqual({ id: '1' })
    expect(plain(selectRequestParams('', 'id=2'))).toEqual({ id: '2' })
    expect(plain(selectRequestParams('&&=x', 'id=2'))).toEqual({ id: '2' })
    expect(plain(selectRequestParams(null, null))).toEqual({})
    expect(plain(selectRequestParams('a', 'id=2'))).toEqual({ a: '' })
  })
})
