/**
 * The key proxy's certificate, built by hand in DER: whatever random bytes its serial numbers
 * start with, OpenSSL (the proxy's TLS) loads it and the CA verifies it. A serial that began
 * with a zero byte once made one run in 256 fail at Codex's first request to the proxy.
 */
import { createSecureContext } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { loopbackCert } from '../../src/net/loopback-cert.js'

test.each(
  [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff].flatMap((first) =>
    [0x00, 0x7f, 0x80, 0xff].map((second) => [first, second])
  )
)(
  'serials from random bytes %i, %i, …: a certificate OpenSSL loads, a positive serial, signed by its CA',
  (first, second) => {
    const random = (n: number) => Buffer.from([first, second, ...Buffer.alloc(n - 2, 0)])
    const made = loopbackCert('unit test', 2, random)
    expect(() => createSecureContext({ cert: made.cert, key: made.key })).not.toThrow()
    const ca = new X509Certificate(made.ca)
    const server = new X509Certificate(made.cert)
    for (const cert of [ca, server]) expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]/)
    expect(server.verify(ca.publicKey)).toBe(true)
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1')
  }
)
