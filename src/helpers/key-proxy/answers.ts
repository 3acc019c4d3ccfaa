/** The key proxy's own answers, over HTTP or to an upgrade request, for the proxy and its guard alike. */
import * as http from 'node:http'
import type { Duplex } from 'node:stream'

const body = (message: string) => JSON.stringify({ error: { message, type: 'codex_auth_action_key_proxy' } })

export function sendError(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(body(message))
}

/** Writes a plain HTTP answer on a socket that asked for an upgrade, and ends it. */
export function answerUpgrade(
  socket: Duplex,
  status: number,
  headers: Record<string, string | string[]>,
  content: Buffer
): void {
  if (socket.destroyed) return
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`]
  for (const [name, value] of Object.entries(headers))
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one.replace(/[\r\n]/g, ' ')}`)
  lines.push(`content-length: ${content.length}`, 'connection: close', '', '')
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), content]))
}

/** sendError's JSON, as the answer to an upgrade request. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  answerUpgrade(socket, status, { 'content-type': 'application/json' }, Buffer.from(body(message)))
}
