/**
 * How the egress proxy reaches an admitted destination: directly, resolving the name
 * itself and never to a metadata address, or through the runner's own proxy (HTTPS_PROXY,
 * HTTP_PROXY, ALL_PROXY and NO_PROXY as the key proxy reads them, its CA trusted).
 */
import * as dns from 'node:dns'
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { proxyFor } from '../../net/proxy-rules.js'
import { isMetadataAddress } from './rules.js'

/** How long a connection to a destination, or to the runner's proxy, may take. */
const CONNECT_TIMEOUT_MS = 30_000

/** `host:port` as a URL's authority: an IPv6 address in brackets. */
export const authority = (host: string, port: number) => `${net.isIPv6(host) ? `[${host}]` : host}:${port}`

/** dns.lookup without the addresses of the metadata services: a name never leads there. */
const guardedLookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error)
    const usable = addresses.filter((found) => !isMetadataAddress(found.address))
    if (usable.length === 0)
      return callback(
        Object.assign(new Error(`${hostname} resolves only to a link-local address (a cloud metadata service)`), {
          code: 'ELINKLOCAL'
        })
      )
    if (options.all) callback(null, usable)
    else callback(null, usable[0].address, usable[0].family)
  })
}) as unknown as net.LookupFunction

/** Resolves once `socket` is connected (TLS: handshaken); rejects on its error or after CONNECT_TIMEOUT_MS. */
function connected<S extends net.Socket>(socket: S, event: 'connect' | 'secureConnect'): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' })),
      CONNECT_TIMEOUT_MS
    )
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.once(event, () => {
      clearTimeout(timer)
      resolve(socket)
    })
  })
}

/** The runner's proxy for `target`, refused when it is not one this proxy speaks (http:, https:). */
function runnerProxy(target: URL): URL | undefined {
  const proxy = proxyFor(target)
  if (!proxy) return undefined
  const url = URL.canParse(proxy) ? new URL(proxy) : undefined
  if (!url || !/^https?:$/.test(url.protocol))
    throw new Error("the runner's proxy variables name a proxy other than http: or https:")
  return url
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {}
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` }
}

/** A TCP connection to the destination, for a CONNECT tunnel. */
export async function openTunnel(host: string, port: number, ca: string[] | undefined): Promise<net.Socket> {
  const proxy = runnerProxy(new URL(`https://${authority(host, port)}`))
  if (!proxy) return connected(net.connect({ host, port, lookup: guardedLookup }), 'connect')
  const proxyPort = Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80)
  const hop = proxy.hostname.replace(/^\[|\]$/g, '')
  const socket =
    proxy.protocol === 'https:'
      ? await connected(
          tls.connect({ host: hop, port: proxyPort, servername: hop, ...(ca && { ca }) }),
          'secureConnect'
        )
      : await connected(net.connect({ host: hop, port: proxyPort }), 'connect')
  const target = authority(host, port)
  const headers = Object.entries({ host: target, ...proxyAuthorization(proxy) }).map(([n, v]) => `${n}: ${v}\r\n`)
  socket.write(`CONNECT ${target} HTTP/1.1\r\n${headers.join('')}\r\n`)
  const status = await new Promise<number>((resolve, reject) => {
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return head.length > 16_384 ? reject(new Error("the runner's proxy sent no answer")) : undefined
      socket.off('data', onData)
      socket.pause()
      // Bytes after the answer belong to the tunnel.
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4))
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1] ?? 0))
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('end', () => reject(new Error("the runner's proxy closed the connection")))
  })
  if (status !== 200) {
    socket.destroy()
    throw new Error(`the runner's proxy answered ${status || 'something that is not HTTP'} to CONNECT ${target}`)
  }
  return socket
}

/** A plain HTTP request to `url`: to the destination itself, or as an absolute-form request to the runner's proxy. */
export function forwardRequest(
  url: URL,
  method: string,
  headers: http.OutgoingHttpHeaders,
  ca: string[] | undefined
): http.ClientRequest {
  const proxy = runnerProxy(url)
  if (!proxy)
    return http.request({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || 80,
      path: `${url.pathname}${url.search}`,
      method,
      headers,
      lookup: guardedLookup,
      agent: false,
      timeout: CONNECT_TIMEOUT_MS
    })
  const client = proxy.protocol === 'https:' ? https : http
  return client.request({
    host: proxy.hostname.replace(/^\[|\]$/g, ''),
    port: Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80),
    path: url.href,
    method,
    headers: { ...headers, ...proxyAuthorization(proxy) },
    agent: false,
    timeout: CONNECT_TIMEOUT_MS,
    ...(ca && { ca })
  })
}
