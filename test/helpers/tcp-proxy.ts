// A TCP proxy in front of PostgreSQL that a test can switch between passing traffic, refusing it (the
// database is gone: every connection is reset) and freezing it (the network black-holes packets:
// connections stay open but nothing arrives), to see what the server does when its database goes away.
import net from 'node:net'
import { once } from 'node:events'

export type ProxyMode = 'pass' | 'down' | 'freeze'

export interface TcpProxy {
  port: number
  /** `url` with its host and port replaced by the proxy's. */
  rewrite: (url: string) => string
  setMode: (mode: ProxyMode) => void
  close: () => Promise<void>
}

interface Link {
  client: net.Socket
  upstream: net.Socket | null
  /** Bytes held back while frozen, per direction. */
  held: { up: Buffer[], down: Buffer[] }
}

export async function startTcpProxy (target: { host: string, port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass'
  const links = new Set<Link>()

  const drop = (link: Link): void => {
    link.client.destroy()
    link.upstream?.destroy()
    links.delete(link)
  }
  const connectUpstream = (link: Link): void => {
    const upstream = net.connect(target.port, target.host)
    link.upstream = upstream
    upstream.on('data', (d: Buffer) => { if (mode === 'freeze') link.held.down.push(d); else link.client.write(d) })
    upstream.on('error', () => drop(link))
    upstream.on('close', () => drop(link))
    for (const d of link.held.up.splice(0)) upstream.write(d)
  }

  const server = net.createServer((client) => {
    if (mode === 'down') {
      client.resetAndDestroy()
      return
    }
    const link: Link = { client, upstream: null, held: { up: [], down: [] } }
    links.add(link)
    client.on('data', (d: Buffer) => {
      if (mode === 'freeze' || link.upstream === null) link.held.up.push(d)
      else link.upstream.write(d)
    })
    client.on('error', () => drop(link))
    client.on('close', () => drop(link))
    if (mode === 'pass') connectUpstream(link)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port

  return {
    port,
    rewrite: (url) => {
      const u = new URL(url)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    setMode: (next) => {
      mode = next
      if (next === 'down') {
        for (const link of [...links]) {
          link.client.resetAndDestroy()
          drop(link)
        }
      }
      if (next === 'pass') {
        for (const link of links) {
          if (link.upstream === null) connectUpstream(link)
          for (const d of link.held.up.splice(0)) link.upstream?.write(d)
          for (const d of link.held.down.splice(0)) link.client.write(d)
        }
      }
    },
    close: async () => {
      for (const link of [...links]) drop(link)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
