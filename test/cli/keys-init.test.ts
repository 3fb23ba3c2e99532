import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

describe('yubival keys init', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'yubival-init-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('creates a 0400 keyfile with one AES-256 key for handle 1 and the AEAD directory, then refuses to overwrite', () => {
    const keyfile = path.join(dir, 'etc', 'keys.json')
    const aeadDir = path.join(dir, 'aeads')
    const first = runCli(['keys', 'init', '--keyfile', keyfile, '--aead-dir', aeadDir])
    expect(first.stderr).toContain('created keyfile')
    expect(first.status).toBe(0)
    expect(statSync(keyfile).mode & 0o777).toBe(0o400)
    expect(statSync(aeadDir).isDirectory()).toBe(true)
    const parsed = JSON.parse(readFileSync(keyfile, 'utf8')) as Record<string, string>
    expect(Object.keys(parsed)).toEqual(['1'])
    expect(parsed['1']).toMatch(/^[0-9a-f]{64}$/)
    // The key is never printed.
    expect(first.stdout + first.stderr).not.toContain(parsed['1'])

    const again = runCli(['keys', 'init', '--keyfile', keyfile, '--aead-dir', aeadDir])
    expect(again.status).not.toBe(0)
    expect(again.stderr).toContain('refusing to overwrite')
    expect(JSON.parse(readFileSync(keyfile, 'utf8'))).toEqual(parsed)
  })
})
