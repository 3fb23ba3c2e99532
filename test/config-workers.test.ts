import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { ConfigError, KNOWN_ENV, loadConfig } from '../src/config.js'

function setting (env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.setting
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('YUBIVAL_WORKERS', () => {
  it('is known and defaults to one process', () => {
    expect(KNOWN_ENV).toContain('YUBIVAL_WORKERS')
    expect(loadConfig({}).workers).toBe(1)
  })

  it('takes a number, or auto for one per CPU', () => {
    expect(loadConfig({ YUBIVAL_WORKERS: '3' }).workers).toBe(3)
    expect(loadConfig({ YUBIVAL_WORKERS: 'auto' }).workers).toBe(os.availableParallelism())
  })

  it('refuses anything else, naming the setting', () => {
    for (const bad of ['0', 'two', '-1', '1.5', '1000']) expect(setting({ YUBIVAL_WORKERS: bad })).toBe('YUBIVAL_WORKERS')
  })
})
