export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

/** One line of the doctor's report: a check, its outcome, and a one-line cause or finding. */
export interface CheckResult {
  name: string
  status: CheckStatus
  detail: string
}

export const check = (name: string, status: CheckStatus, detail: string): CheckResult => ({ name, status, detail })

/** A message for a check line: the first line only, without our `yubival:` prefix. */
export function oneLine (err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.split('\n')[0]!.replace(/^yubival: /, '')
}
