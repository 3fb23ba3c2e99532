// `yubival sync status | resync | purge` and the state messages `keys disable/enable` queue, through the
// real CLI (npm run build) on a private database.
import { afterEach, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { adminEnv, type AdminEnv } from './admin-env.js'

const P1 = 'http://10.0.0.2:8080/wsapi/2.0/sync'
const P2 = 'https://val3.example.com/wsapi/2.0/sync'

let a: AdminEnv
afterEach(async () => { await a?.cleanup() })

async function queue (): Promise<Array<{ server: string, yk_publicname: string, kind: string, active: boolean | null }>> {
  await a.db.reopen()
  try {
    return (await a.db.db.query<{ server: string, yk_publicname: string, kind: string, active: boolean | null }>(
      'SELECT server, yk_publicname, kind, active FROM sync_queue ORDER BY server, yk_publicname')).rows
  } finally {
    await a.db.close()
  }
}

describe('yubival sync', () => {
  test('without a pool: status says so, resync refuses naming the setting, keys disable queues nothing', async () => {
    a = await adminEnv()
    const st = a.cli(['sync', 'status'])
    expect([st.status, st.stderr]).toEqual([0, 'yubival: no sync pool configured (YUBIVAL_SYNC_POOL) and nothing queued\n'])
    const rs = a.cli(['sync', 'resync', '--all'])
    expect([rs.status, rs.stderr]).toEqual([2, 'yubival: no sync pool: set YUBIVAL_SYNC_POOL to the peers\' sync URLs\n'])
    expect(a.cli(['keys', 'disable', 'credtivccccc']).stdout).toBe('key credtivccccc disabled\n')
    expect(await queue()).toEqual([])
  })

  test('with a pool: keys disable/enable and resync queue state messages; status counts them; purge removes them', async () => {
    a = await adminEnv()
    const env = { ...a.env, YUBIVAL_SYNC_POOL: `${P1},${P2}` }
    const cli = (args: string[]) => runCli(args, { env })
    expect(cli(['keys', 'disable', 'credtivccccc']).stdout).toBe('key credtivccccc disabled; queued for 2 sync peers\n')
    expect(await queue()).toEqual([
      { server: P1, yk_publicname: 'credtivccccc', kind: 'state', active: false },
      { server: P2, yk_publicname: 'credtivccccc', kind: 'state', active: false }
    ])
    // the enable replaces the queued disable (one state message per peer and key)
    expect(cli(['keys', 'enable', 'credtivccccc']).stdout).toBe('key credtivccccc enabled; queued for 2 sync peers\n')
    expect((await queue()).map((r) => r.active)).toEqual([true, true])
    expect(cli(['keys', 'disable', 'credtivccccd']).status).toBe(0)
    const status = JSON.parse(cli(['sync', 'status', '--json']).stdout) as Array<{ peer: string, inPool: boolean, queued: number, failing: number }>
    expect(status.map((s) => [s.peer, s.inPool, s.queued, s.failing])).toEqual([[P1, true, 2, 0], [P2, true, 2, 0]])
    expect(cli(['sync', 'status']).stdout).toMatch(/^PEER +IN POOL +QUEUED +FAILING +OLDEST\n/)
    expect(cli(['sync', 'resync', 'credtivccccc', 'credtivccccd']).stdout)
      .toBe('queued 4 messages for 2 peers (http://10.0.0.2:8080, https://val3.example.com)\n')
    expect(cli(['sync', 'resync']).status).toBe(2)
    expect(cli(['sync', 'resync', 'not-modhex']).status).not.toBe(0)
    // a peer taken out of the pool: its messages are stale
    const narrowed = { ...env, YUBIVAL_SYNC_POOL: P1 }
    const stale = JSON.parse(runCli(['sync', 'status', '--json'], { env: narrowed }).stdout) as Array<{ peer: string, inPool: boolean }>
    expect(stale.map((s) => [s.peer, s.inPool])).toEqual([[P1, true], [P2, false]])
    expect(runCli(['sync', 'purge', '--stale'], { env: narrowed }).stdout).toBe('deleted 2 queued messages\n')
    expect(cli(['sync', 'purge', '--peer', P1]).stdout).toBe('deleted 2 queued messages\n')
    expect(await queue()).toEqual([])
    expect(cli(['sync', 'purge']).status).toBe(2)
  })
})
