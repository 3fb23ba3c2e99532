import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'

export class DatabaseInUseError extends Error {
  constructor (what: string, readonly pid: number) {
    super(`${what} is in use by process ${pid}; stop that process first, or set DATABASE_URL to share ` +
      'one PostgreSQL database between processes')
    this.name = 'DatabaseInUseError'
  }
}

/** Lock files this process holds: a lock naming our own pid is stale unless it is one of these. */
const heldHere = new Set<string>()

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function holder (file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/**
 * Creates `file` holding our pid, exclusively (written to a temporary file and hard-linked into place, so
 * a reader never sees it half written). A lock left by a process that no longer exists (crash, kill -9,
 * a restarted container where we got the same pid) is taken over. Returns the release function.
 */
export function acquireLockFile (file: string, what: string): () => void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 })
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, file)
        heldHere.add(file)
        let released = false
        return () => {
          if (released) return
          released = true
          heldHere.delete(file)
          try { unlinkSync(file) } catch { /* already gone: nothing to release */ }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const pid = holder(file)
      const stale = pid === null || (pid === process.pid ? !heldHere.has(file) : !processAlive(pid))
      if (!stale) throw new DatabaseInUseError(what, pid)
      try { unlinkSync(file) } catch { /* someone else removed it first: the next attempt decides */ }
    }
    throw new Error(`${what}: cannot take the lock file ${file}`)
  } finally {
    try { unlinkSync(tmp) } catch { /* best effort */ }
  }
}
