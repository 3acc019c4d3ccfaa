/**
 * The key proxy's certificate, built by hand in DER: whatever random bytes its serial numbers
 * start with, OpenSSL (the proxy's TLS) loads it and the CA verifies it. A serial that began
 * with a zero byte once made one run in 256 fail at Codex's first request to the proxy.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
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

test("a chain OpenSSL's strict verification takes: the CA names its key, the server certificate its CA's (RFC 5280 4.2.1.1-2)", () => {
  const made = loopbackCert('unit test')
  const dir = mkdtempSync(path.join(tmpdir(), 'loopback-cert-'))
  try {
    writeFileSync(path.join(dir, 'ca.pem'), made.ca)
    writeFileSync(path.join(dir, 'cert.pem'), made.cert)
    // Before: "Missing Authority Key Identifier" (the server's), "Missing Subject Key Identifier" (the CA's).
    const verified = execFileSync(
      'openssl',
      ['verify', '-x509_strict', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'cert.pem')],
      { encoding: 'utf8', stdio: 'pipe' }
    )
    expect(verified.trim()).toBe(`${path.join(dir, 'cert.pem')}: OK`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("valid for as long as the key proxy's guard answers with it: its 6 hours, then up to 5 days of a self-hosted job", () => {
  const made = loopbackCert('unit test')
  const until = Date.now() + 6 * 3600_000 + 5 * 86_400_000
  // Before: 2 days, so a codex call on the third day met an expired certificate instead of the guard's 410.
  for (const pem of [made.ca, made.cert]) expect(Date.parse(new X509Certificate(pem).validTo)).toBeGreaterThan(until)
})
