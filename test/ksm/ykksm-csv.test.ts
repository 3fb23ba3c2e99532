import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { formatYubikeyCsvLine, parseYkksmCsv, YkksmCsvError } from '../../src/ksm/ykksm-csv.js'
import { fixturePath } from './fixtures.js'

const KEY = 'fcacd309a20ce1809c2db257f0e8d6ea'

function problems (text: string): string[] {
  try {
    parseYkksmCsv(text)
  } catch (err) {
    expect(err).toBeInstanceOf(YkksmCsvError)
    expect((err as Error).message).not.toContain(KEY)
    return (err as YkksmCsvError).problems.map((p) => `${p.line} ${p.field}: ${p.message}`)
  }
  throw new Error('expected the CSV to be rejected')
}

describe('parseYkksmCsv', () => {
  it('reads the fixture import.csv (4 credentials, 10-character id kept unpadded)', () => {
    const rows = parseYkksmCsv(readFileSync(fixturePath('import.csv'), 'utf8'))
    expect(rows.map((r) => r.publicId)).toEqual(['dteffujehknh', 'ftftftftftft', 'vvvvvvvvvvvv', 'ftftftcccc'])
    expect(rows[1]).toMatchObject({ line: 3, serialNr: '2', privateUid: '534543524554', aesKey: KEY, lockCode: '000000000000', created: '2016-01-01T00:00:00', accessed: '' })
  })

  it('skips # comments and blank lines (pyhsm crashes on blank lines), accepts progflags and extra columns', () => {
    const text = [
      '# ykksm 1',
      '# serialnr,identity,internaluid,aeskey,lockpw,created,accessed[,progflags]',
      '',
      `1,vvcccccccccb,0102030405A6,${KEY.toUpperCase()},000000000000,2020-01-01T00:00:00,,17`,
      '   ',
      `2,vvcccccccccd,0102030405a6,${KEY},000000000000,,,,,,`, // yhsm-decrypt-aead yubikey-csv shape
      `3,vvccccccccce,0102030405a6,${KEY}\r`, // PHP-style minimum / CRLF data line
      '# the end',
      ''
    ].join('\n')
    const rows = parseYkksmCsv(text)
    expect(rows).toHaveLength(3)
    expect(rows[0]).toMatchObject({ line: 4, privateUid: '0102030405a6', aesKey: KEY, extra: ['17'] })
    expect(rows[1]!.extra).toEqual(['', '', '', ''])
    expect(rows[2]).toMatchObject({ line: 7, aesKey: KEY, lockCode: '' })
  })

  it('needs the exact header line', () => {
    expect(problems('1,vvcccccccccb,010203040506,' + KEY)).toEqual(['1 header: the first line must be exactly "# ykksm 1"'])
    expect(problems(`# ykksm 1\r\n1,vvcccccccccb,010203040506,${KEY}\r\n`)[0]).toMatch(/CR/)
    expect(problems(`# ykksm 2\n`)).toHaveLength(1)
  })

  it('collects every problem with line number and field, all or nothing', () => {
    const text = [
      '# ykksm 1',
      `1,vvcccccccccb,010203040506,${KEY},000000000000,,`,
      `x,vvcccccccccd,0102030405,${KEY}ff,000000000000,,`,
      `3,VVCCCCCCCCCE,010203040506,${KEY},,`,
      '4,vvcccccccccf,010203040506',
      `5,vvccccccccc,010203040506,${KEY},,`,
      `6,cccccccccc,010203040506,${KEY},,`,
      `7,vvcccccccccb,010203040506,${KEY},,`,
      `8,ftftftcccc,010203040506,${KEY},,`,
      `9,ccftftftcccc,010203040506,${KEY},,`,
      `10,cccccccccccccccc,010203040506,${KEY},,`
    ].join('\n')
    expect(problems(text)).toEqual([
      '3 serialnr: must be a decimal number',
      '3 internaluid: private uid must be 12 hex characters',
      '3 aeskey: AES key must be 32 hex characters (16 bytes)',
      '4 identity: public id "VVCCCCCCCCCE" must be lower-case modhex',
      '5 line: expected at least 4 comma-separated fields (serialnr,identity,internaluid,aeskey,...), got 3',
      '6 identity: public id "vvccccccccc" must have an even length of 2-12 characters (it is also the AEAD nonce)',
      '7 identity: the all-zero public id is not supported (pyhsm skips it)',
      '8 identity: public id "vvcccccccccb" gives file name vvcccccccccb, like line 2',
      '10 identity: public id "ccftftftcccc" gives file name ccftftftcccc, like line 9',
      '11 identity: public id "cccccccccccccccc" must have an even length of 2-12 characters (it is also the AEAD nonce)'
    ])
  })

  it('returns nothing for a file with only the header', () => {
    expect(parseYkksmCsv('# ykksm 1\n')).toEqual([])
  })
})

describe('formatYubikeyCsvLine', () => {
  it('matches yhsm-decrypt-aead --format yubikey-csv byte for byte (11 fields, 10 commas)', () => {
    const transcript = readFileSync(fixturePath('transcripts/07-decrypt-aead-yubikey-csv-kh1.txt'), 'utf8')
    const lines = transcript.split('\n').filter((l) => /^\d+,/.test(l))
    expect(lines).toHaveLength(11)
    for (const line of lines) {
      const [n, id, uid, key] = line.split(',') as [string, string, string, string]
      expect(formatYubikeyCsvLine(Number(n), id, uid, key)).toBe(line)
      expect(line.split(',')).toHaveLength(11)
    }
  })

  it('output parses back as ykksm input', () => {
    const text = `# ykksm 1\n${formatYubikeyCsvLine(1, 'vvcccccccccb', '010203040506', KEY)}\n`
    expect(parseYkksmCsv(text)[0]).toMatchObject({ publicId: 'vvcccccccccb', aesKey: KEY })
  })
})
