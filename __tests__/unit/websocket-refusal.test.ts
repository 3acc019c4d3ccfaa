/**
 * A websocket upgrade the upstream refuses with a 401 is told to the credential's kind
 * (Upgrade.refused) before Codex gets the answer: workload identity exchanges again at Codex's
 * refresh only after a 401 to the token it holds (upstreams/workload-identity.ts), and over the
 * WebSocket transport that 401 is an upgrade's. Loopback servers on both sides of websocket.ts's relay.
 */
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket } from 'ws'
import type { KeyProxyStatus } from '../../src/helpers/key-proxy/protocol.js'
import { Meter, SocketMeter } from '../../src/helpers/key-proxy/usage.js'
import { relay } from '../../src/helpers/key-proxy/websocket.js'

const servers: http.Server[] = []
afterAll(() => Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))))

async function listen(server: http.Server): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** An upstream that answers every upgrade with `status`, and a proxy in front relaying to it; how many refusals the relay told. */
async function refusing(status: number) {
  const upstream = http.createServer()
  upstream.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) =>
    socket.end(
      `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`
    )
  )
  const upstreamPort = await listen(upstream)
  const told: number[] = []
  const front = http.createServer()
  front.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
    relay(req, socket, head, {
      url: `ws://127.0.0.1:${upstreamPort}/backend-api/codex/responses`,
      headers: { authorization: 'Bearer held-token' },
      status: { requests: 0, websockets: 0, websocketMessages: 0, refused: 0, upstreamErrors: 0 } as KeyProxyStatus,
      changed: () => undefined,
      refused: () => told.push(status),
      origin: `http://127.0.0.1:${upstreamPort}`,
      meter: new SocketMeter(new Meter(), undefined),
      fault: () => undefined
    })
  )
  const frontPort = await listen(front)
  // What the relay had told when Codex's side got its answer.
  return new Promise<{ answered?: number; told: number[] }>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${frontPort}/backend-api/codex/responses`)
    ws.on('unexpected-response', (_req, res) => {
      res.resume()
      resolve({ answered: res.statusCode, told: [...told] })
    })
    ws.on('open', () => reject(new Error('the upgrade was accepted')))
    ws.on('error', () => undefined)
  })
}

test('an upgrade refused with a 401 is told to the credential once, before Codex gets the 401', async () => {
  expect(await refusing(401)).toEqual({ answered: 401, told: [401] })
})

test('an upgrade refused otherwise (426, 403) is not', async () => {
  expect(await refusing(426)).toEqual({ answered: 426, told: [] })
  expect(await refusing(403)).toEqual({ answered: 403, told: [] })
})
