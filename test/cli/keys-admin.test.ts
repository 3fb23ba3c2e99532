// keys list/disable/enable/reset/delete, ykval export/import, header-less ykksm-export import and rewrap,
// through the real CLI on copies of the pyhsm fixture tree. Needs `npm run build`.
import { existsSync, readFileSync, renameSync, cpSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import { openFileKsm } from '../../src/ksm/index.js'
import { fixturePath } from '../ksm/fixtures.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import { adminEnv, fixtureOtp, layout, type AdminEnv } from './admin-env.js'

let a: AdminEnv
afterEach(async () => { await a?.cleanup() })

async function rows (): Promise<unknown[]> {
  await a.db.reopen()
  try {
    return (await a.db.db.query('SELECT * FROM yubikeys ORDER BY yk_publicname')).rows
  } finally {
    await a.db.close()
  }
}

describe('keys export/import --format ykval', () => {
  const CSV = [
    '1,1359550400,1359551000,credtivccccc,1,1,6972,10,f6b5c3a2e1d0918273645546372819ab,"desk, 2nd floor"',
    // yubikey-val's format document shows lines without notes
    '1,1359550400,-1,credtivccccd,-1,-1,-1,-1,',
    '# a comment',
    '',
    ',1359550400,1359553000,ftftftftftft,5,0,6956,10,0000000000000000,lost'
  ].join('\n') + '\n'

  test('round trip in ykval-export\'s format; a re-import only ever raises counters', async () => {
    a = await adminEnv()
    const imp = a.cli(['keys', 'import', '--format', 'ykval', '-'], CSV)
    expect(imp.stderr).toBe('yubival: imported 3 keys from standard input into the yubikeys table: 3 new, 0 with raised counters\n')
    expect(imp.status).toBe(0)
    const exported = a.cli(['keys', 'export', '--format', 'ykval'])
    expect(exported.stdout).toBe([
      '1,1359550400,1359551000,credtivccccc,1,1,6972,10,f6b5c3a2e1d0918273645546372819ab,"desk, 2nd floor"',
      '1,1359550400,-1,credtivccccd,-1,-1,-1,-1,,',
      '0,1359550400,1359553000,ftftftftftft,5,0,6956,10,0000000000000000,lost'
    ].join('\n') + '\n')

    const next = [
      '1,1400000000,1400000001,credtivccccc,1,0,1,1,older,lower',  // lower use: ignored
      '0,1400000000,1400000002,credtivccccd,3,2,4,5,n,higher',     // higher: whole row taken
      '1,1400000000,1400000003,ftftftftftft,5,0,1,1,same,same',     // equal: ignored (active stays 0)
      '1,1400000000,1400000004,vvvvvvvvvvvv,7,7,7,7,new,'           // new row
    ].join('\n')
    const second = a.cli(['keys', 'import', '--format', 'ykval', '-'], next)
    expect(second.status).toBe(0)
    expect(second.stderr).toBe('yubival: imported 4 keys from standard input into the yubikeys table: 1 new, 1 with raised counters, ' +
      '2 unchanged (stored counters as high or higher: credtivccccc, ftftftftftft)\n')
    expect(a.cli(['keys', 'export', '--format', 'ykval']).stdout).toBe([
      '1,1359550400,1359551000,credtivccccc,1,1,6972,10,f6b5c3a2e1d0918273645546372819ab,"desk, 2nd floor"',
      '0,1400000000,1400000002,credtivccccd,3,2,4,5,n,higher',
      '0,1359550400,1359553000,ftftftftftft,5,0,6956,10,0000000000000000,lost',
      '1,1400000000,1400000004,vvvvvvvvvvvv,7,7,7,7,new,'
    ].join('\n') + '\n')
  })

  test('every bad line is named with its field; nothing is imported', async () => {
    a = await adminEnv()
    const bad = [
      '1,1359550400,1359551000,credtivccccc,1,1,6972,10,,',
      '2,1359550400,1359551000,credtivccccd,1,1,6972,10,,',
      '1,x,1359551000,credtivcccce,1,1,6972,10,,',
      '1,1359550400,1359551000,CREDTIVCCCCF,1,1,6972,10,,',
      '1,1359550400,1359551000,credtivccccg,65536,256,6972,10,,',
      '1,1359550400,1359551000,credtivccccc,2,1,6972,10,,',
      '1,1359550400,1359551000,credtivcccch,1,1,6972,10'
    ].join('\n')
    const r = a.cli(['keys', 'import', '--format', 'ykval', '-'], bad)
    expect(r.status).toBe(1)
    expect(r.stderr).toBe([
      'yubival: standard input rejected, nothing imported (7 problems):',
      '  line 2, active: must be 1 or 0, got "2"',
      '  line 3, created: must be a Unix time in seconds, got "x"',
      '  line 4, yk_publicname: must be 1-16 lower-case modhex characters, got "CREDTIVCCCCF"',
      '  line 5, yk_counter: must be a whole number from -1 to 65535, got "65536"',
      '  line 5, yk_use: must be a whole number from -1 to 255, got "256"',
      '  line 6, yk_publicname: public id credtivccccc is also on line 1',
      '  line 7, line: expected 10 comma-separated fields (active,created,modified,yk_publicname,yk_counter,yk_use,yk_low,yk_high,nonce,notes), got 8',
      ''
    ].join('\n'))
    expect(await rows()).toEqual([])
  })
})

describe('keys list, disable, enable, reset, delete', () => {
  test('list joins the table and the AEAD tree; disable/enable/reset act on the next accept; delete removes files and row', async () => {
    a = await adminEnv()
    expect(a.cli(['keys', 'import', '--format', 'ykval', '-'], '1,1359550400,1359551000,credtivccccc,258,6,1029,3,abc,\n').status).toBe(0)
    const list = JSON.parse(a.cli(['keys', 'list', '--json']).stdout) as Array<Record<string, unknown>>
    expect(list.map((k) => k.publicId)).toEqual(['ccftftftcccc', 'credtivccccb', 'credtivccccc', 'credtivccccd', 'credtivcccce', 'credtivccccf',
      'credtivccccg', 'credtivcccch', 'dddddddddddd', 'dteffujehknh', 'eeeeeeeeeeee', 'ftftftftftft', 'vvvvvvvvvvvv'])
    expect(list.find((k) => k.publicId === 'credtivccccc')).toEqual({
      publicId: 'credtivccccc', inDatabase: true, active: true, counter: 258, use: 6, low: 1029, high: 3, created: 1359550400,
      lastUse: '2013-01-30T13:03:20Z', nonce: 'abc', notes: '', keyHandles: ['1']
    })
    expect(list.find((k) => k.publicId === 'credtivcccch')).toMatchObject({ inDatabase: false, counter: -1, lastUse: null, keyHandles: ['1', '2'] })
    expect(list.find((k) => k.publicId === 'eeeeeeeeeeee')).toMatchObject({ keyHandles: ['0x3'] })
    const text = a.cli(['keys', 'list']).stdout.split('\n')
    expect(text[0]).toBe('PUBLIC ID     ACTIVE  COUNTER  USE  LAST USE              AEAD KEY HANDLES')
    expect(text).toContain('credtivccccc  yes     258      6    2013-01-30T13:03:20Z  1')
    expect(text).toContain('credtivcccch  yes     -        -    never used            1,2')

    // a key never used can be disabled (a row is made for it); an unknown one cannot
    expect(a.cli(['keys', 'disable', 'credtivccccd']).stdout).toBe('key credtivccccd disabled\n')
    expect(a.cli(['keys', 'disable', 'credtivccccc']).stdout).toBe('key credtivccccc disabled\n')
    const unknown = a.cli(['keys', 'disable', 'cccccccccccb'])
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toBe(`yubival: unknown public id cccccccccccb: no database row and no AEAD under ${a.aeadDir}\n`)
    expect(a.cli(['keys', 'enable', 'Credtiv']).status).toBe(2)

    // the verify path's accept statement sees it at once
    await a.db.reopen()
    const accept = async (publicId: string, counter: number): Promise<boolean> =>
      (await new YubikeysRepository(a.db.db).accept({ publicId, counter, use: 0, low: 0, high: 0, nonce: 'n', now: 1 })).accepted
    expect(await accept('credtivccccd', 1)).toBe(false)
    expect(await accept('credtivccccc', 300)).toBe(false)
    await a.db.close()
    expect(a.cli(['keys', 'enable', 'credtivccccc']).stdout).toBe('key credtivccccc enabled\n')
    // reset needs --force; afterwards a lower counter (a reprogrammed key) is accepted once
    const noForce = a.cli(['keys', 'reset', 'credtivccccc'])
    expect(noForce.status).toBe(2)
    expect(a.cli(['keys', 'reset', 'credtivccccc', '--force']).stdout).toBe('key credtivccccc: counters reset (were counter=258 use=6)\n')
    await a.db.reopen()
    expect(await accept('credtivccccc', 2)).toBe(true)
    expect(await accept('credtivccccc', 2)).toBe(false)
    await a.db.close()

    // delete: AEADs in every folder and the row
    expect(a.cli(['keys', 'delete', 'credtivcccch']).status).toBe(2)
    expect(a.cli(['keys', 'delete', 'credtivcccch', '--force']).stdout).toBe('key credtivcccch deleted: AEADs in 1, 2, no database row\n')
    expect(existsSync(path.join(a.aeadDir, layout('1', 'credtivcccch')))).toBe(false)
    expect(existsSync(path.join(a.aeadDir, layout('2', 'credtivcccch')))).toBe(false)
    expect(existsSync(path.join(a.aeadDir, layout('1', 'credtivccccg')))).toBe(true)
    expect(a.cli(['keys', 'delete', 'credtivccccc', '--force']).stdout).toBe('key credtivccccc deleted: AEAD in 1, database row\n')
    expect((await rows()).map((r) => (r as { yk_publicname: string }).yk_publicname)).toEqual(['credtivccccd'])
    expect(a.cli(['keys', 'delete', 'credtivccccc', '--force']).status).toBe(1)
  })
})

describe('keys import of the PHP YK-KSM\'s ykksm-export output', () => {
  test('rows without the "# ykksm 1" line are imported; errors keep the input\'s line numbers', async () => {
    a = await adminEnv({ folders: [] })
    const key = { publicId: 'vvcccccccccb', aesKeyHex: '0123456789abcdef0123456789abcdef', privateUidHex: '0a0b0c0d0e0f' }
    // serialnr,publicname,internalname,aeskey,lockcode,created,
    const exported = `1,${key.publicId},${key.privateUidHex},${key.aesKeyHex},000000000000,2013-01-30T12:00:00,\n`
    const bad = a.cli(['keys', 'import', '-'], exported + '2,vvcccccccccd,0a0b0c,0123,000000000000,,\n')
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('  line 2, internaluid: private uid must be 12 hex characters\n')
    const ok = a.cli(['keys', 'import', '-'], exported)
    expect(ok.status).toBe(0)
    expect(ok.stderr).toContain('has no "# ykksm 1" first line: reading it as ykksm-export output')
    const decoded = a.cli(['otp', 'decode', yubiotpOtp(key, 3, 4)])
    expect(decoded.stdout).toContain('OTP fields:    counter=3 (0x0003) use=4')
    expect(decoded.status).toBe(0)
  })
})

describe('keys rewrap', () => {
  test('re-encrypts folder 1 under key handle 2 byte for byte as pyhsm would; keys check then passes for 2', async () => {
    a = await adminEnv({ keyfile: 'keys-multi.json', folders: ['1'] })
    const r = a.cli(['keys', 'rewrap', '--from-key-handle', '1', '--to-key-handle', '2'])
    expect(r.stderr).toContain('rewrapped 11 AEADs of key handle 1 to key handle 2: 11 AEAD files under')
    expect(r.status).toBe(0)
    // pyhsm generated credtivcccch for key handles 1 and 2 with the same secret: ours must equal its file
    expect(readFileSync(path.join(a.aeadDir, layout('2', 'credtivcccch')))).toEqual(readFileSync(fixturePath(path.join('aeads', layout('2', 'credtivcccch')))))
    // a second run finds everything in place
    const again = a.cli(['keys', 'rewrap', '--from-key-handle', '1', '--to-key-handle', '2'])
    expect(again.stderr).toContain('(11 already there with the same secret): nothing to write')

    renameSync(path.join(a.aeadDir, '1'), path.join(a.dir, 'retired-1'))
    const check = a.cli(['keys', 'check', '--key-handle', '2'])
    expect(check.stdout).toContain('11 ok; problems: 0 unreadable, 0 unauthenticated, 0 unknown key handle, 0 orphan')
    expect(check.status).toBe(0)
    const { ksm } = openFileKsm({ keyfile: a.keyfile, aeadDir: a.aeadDir, keyHandles: ['2'], aeadCacheSize: 0 })
    for (const name of ['credtivccccc-otp1', 'credtivccccg-otp3', 'ccftftftcccc-otp2']) {
      const d = await ksm.decrypt(fixtureOtp(name))
      expect(d.ok, name).toBe(true)
      if (d.ok) expect(d.keyHandle).toBe(2)
    }
  })

  test('a source that does not open, or a key handle missing from the keyfile, writes nothing', async () => {
    a = await adminEnv({ keyfile: 'keys-multi.json', folders: ['1'] })
    const tampered = layout('1', 'cececececece')
    cpSync(fixturePath(path.join('aeads-edge', tampered)), path.join(a.aeadDir, tampered))
    const r = a.cli(['keys', 'rewrap', '--from-key-handle', '1', '--to-key-handle', '2'])
    expect(r.status).toBe(1)
    expect(r.stderr).toBe('yubival: 1 AEAD in folder 1 cannot be opened; nothing was written:\n' +
      `  ${tampered}: integrity check failed with key handle 1 (wrong key-handle key or tampered file)\n`)
    expect(existsSync(path.join(a.aeadDir, '2'))).toBe(false)
    const noKey = a.cli(['keys', 'rewrap', '--from-key-handle', '1', '--to-key-handle', '7'])
    expect(noKey.status).toBe(1)
    expect(noKey.stderr).toBe(`yubival: --to-key-handle 7: keyfile ${a.keyfile} has no key for key handle 7\n`)
  })
})
