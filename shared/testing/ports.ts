/**
 * Local ports for tests: a server listening on 127.0.0.1 on a port the system picks, and,
 * for what must be told its port up front, a port that was free a moment ago.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'

export interface Listening {
  port: number
  /** http://127.0.0.1:<port> */
  url: string
  /** Closes the server (connections still open are not waited for). */
  close(): Promise<void>
}

/**
 * Starts `server` (any node:net server: http, https, a bare socket server) on 127.0.0.1 and a
 * port the system picks, and answers its port and URL once it is listening. With no server,
 * a bare one that accepts connections and does nothing with them.
 */
export async function listenLocal(server: Server = createServer()): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * A 127.0.0.1 port nothing listens on: listened on, then closed. For a process that must be
 * given its port before it starts (PostgreSQL, a server restarted on the same port, several
 * instances behind one balancer) and for a URL that refuses connections. Another process may
 * take it in between; where the port can be 0 instead, use listenLocal.
 */
export async function freePort(): Promise<number> {
  const listening = await listenLocal()
  await listening.close()
  return listening.port
}
