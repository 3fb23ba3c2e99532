// The pyhsm fixtures live in ../shared next to the repository (on every machine and in CI).
import path from 'node:path'

export const PYHSM_FIXTURES = process.env.PYHSM_FIXTURES ??
  path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'pyhsm')
