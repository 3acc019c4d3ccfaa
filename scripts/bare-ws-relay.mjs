/**
 * For scale in `npm run bench`: the least a websocket relay in Node does, with the ws library
 * the key proxy uses: accept an upgrade, open a websocket to the upstream URL given as argv[2],
 * pass each message on as it is. No key, capability, routes, meter or status. Prints its port
 * as the key proxy does.
 */
import * as http from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'

const upstreamUrl = process.argv[2]
// The bench holds the other end of stdin: when it goes, so does the relay.
process.stdin.on('close', () => process.exit(0)).resume()
const codexSide = new WebSocketServer({ noServer: true })
const server = http.createServer()
server.on('upgrade', (req, socket, head) => {
  const upstream = new WebSocket(upstreamUrl, { perMessageDeflate: false })
  upstream.on('error', () => socket.destroy())
  upstream.once('open', () =>
    codexSide.handleUpgrade(req, socket, head, (codex) => {
      codex.on('error', () => upstream.terminate())
      upstream.on('message', (data, isBinary) => codex.send(data, { binary: isBinary }))
      codex.on('message', (data, isBinary) => upstream.send(data, { binary: isBinary }))
      codex.on('close', () => upstream.close())
      upstream.on('close', () => codex.close())
    })
  )
})
server.listen(0, '127.0.0.1', () => {
  const address = /** @type {import('node:net').AddressInfo} */ (server.address())
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`)
})
