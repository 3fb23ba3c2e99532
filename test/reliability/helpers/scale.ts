// One switch for the sizes of the reliability suite: CI runs the small ones; `npm run stress` sets
// RELIABILITY_SCALE=stress for the big ones and RELIABILITY_REPORT=<file> to collect the numbers.
// (Not YUBIVAL_*: the server refuses unknown YUBIVAL_ variables, and it inherits our environment.)
import { appendFileSync } from 'node:fs'

export const STRESS = process.env.RELIABILITY_SCALE === 'stress'

/** The CI size, or the stress size under `npm run stress`; RELIABILITY_<NAME> overrides both. */
export function size (name: string, ci: number, stress: number): number {
  const raw = process.env[`RELIABILITY_${name.toUpperCase()}`]
  if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw)
  return STRESS ? stress : ci
}

/** A test timeout that grows with the work: `perUnitMs` per unit on top of a minute. */
export function timeoutFor (units: number, perUnitMs: number): number {
  return 60_000 + units * perUnitMs
}

/** Appends one measurement to the stress report (a JSON line per result); no-op in CI. */
export function report (name: string, data: Record<string, unknown>): void {
  const file = process.env.RELIABILITY_REPORT
  if (file === undefined || file === '') return
  appendFileSync(file, JSON.stringify({ name, ...data }) + '\n')
}
