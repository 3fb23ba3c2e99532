// Holds a verify in flight deterministically: the test locks the yubikeys table, so the server's accept
// statement waits until the test lets go.
import pg from 'pg'

export interface TableLock {
  /** Resolves once a yubival backend waits for the lock (the verify is in flight). */
  waitForWaiter: () => Promise<void>
  release: () => Promise<void>
  end: () => Promise<void>
}

export async function lockYubikeys (databaseUrl: string): Promise<TableLock> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await client.query('BEGIN')
  await client.query('LOCK TABLE yubikeys IN ACCESS EXCLUSIVE MODE')
  let held = true
  return {
    waitForWaiter: async () => {
      const deadline = Date.now() + 30_000
      for (;;) {
        const { rows } = await client.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = 'yubival' AND datname = current_database() AND wait_event_type = 'Lock'")
        if (rows.length > 0) return
        if (Date.now() > deadline) throw new Error('no verify waited on the yubikeys lock within 30 s')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    release: async () => { if (held) { held = false; await client.query('COMMIT') } },
    end: async () => {
      if (held) await client.query('ROLLBACK').catch(() => undefined)
      await client.end()
    }
  }
}
