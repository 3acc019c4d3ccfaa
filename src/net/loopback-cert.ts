/**
 * A certificate for a server on 127.0.0.1 that only one client trusts: an ephemeral CA signs
 * it and is then forgotten (its private key is never kept), so the CA certificate added to
 * that client's trust can vouch for this one server and nothing else. ECDSA P-256, built with
 * node:crypto alone (Node has no certificate builder; DER is short enough to write by hand).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'

/** Where a certificate's serial number comes from: `n` random bytes. */
export type RandomSource = (n: number) => Buffer

/** DER: tag, length, contents. */
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  const n = body.length
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, body])
}
const seq = (...parts: Buffer[]) => der(0x30, ...parts)
const oid = (hex: string) => der(0x06, Buffer.from(hex, 'hex'))
const ECDSA_SHA256 = seq(oid('2a8648ce3d040302'))
const name = (cn: string) => seq(der(0x31, seq(oid('550403'), der(0x0c, Buffer.from(cn)))))
const time = (date: Date) => der(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`))
const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value))
/**
 * A key's identifier (RFC 5280 4.2.1.2, method 1): SHA-1 of its subjectPublicKey, the point
 * that ends a P-256 SPKI. RFC 5280 wants it in a CA certificate (subjectKeyIdentifier) and in
 * every certificate it signs (authorityKeyIdentifier); OpenSSL's strict verification (Python
 * 3.13's default) refuses a chain without them.
 */
const keyId = (key: KeyObject) =>
  createHash('sha1')
    .update(key.export({ type: 'spki', format: 'der' }).subarray(-65))
    .digest()
const subjectKeyId = (key: KeyObject) => extension('551d0e', false, der(0x04, keyId(key)))
const authorityKeyId = (key: KeyObject) => extension('551d23', false, seq(der(0x80, keyId(key))))

function certificate(
  subject: string,
  issuer: string,
  publicKey: KeyObject,
  signer: KeyObject,
  extensions: Buffer[],
  days: number,
  random: RandomSource
): string {
  const serial = serialNumber(random(16))
  const now = Date.now()
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    ECDSA_SHA256,
    name(issuer),
    seq(time(new Date(now - 3600_000)), time(new Date(now + days * 86_400_000))),
    name(subject),
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(...extensions))
  )
  const signature = sign('sha256', tbs, signer)
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature))
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`
}

/**
 * A DER INTEGER's contents for `bytes`: positive and minimally encoded. Its first byte is
 * never 0 (DER forbids a leading zero byte before one below 0x80, and OpenSSL then refuses
 * the whole certificate, "illegal padding") nor 0x80 or more (a negative number).
 */
function serialNumber(bytes: Buffer): Buffer {
  const serial = Buffer.from(bytes)
  serial[0] = (serial[0] & 0x3f) | 0x40
  return serial
}

export interface LoopbackCert {
  /** The CA certificate (PEM) the client trusts. */
  ca: string
  /** The server's certificate (PEM), for 127.0.0.1. */
  cert: string
  /** The server's private key (PKCS#8 PEM). */
  key: string
}

/**
 * How long the certificate must last: the key proxy's 6 hours, then its guard's explanations
 * (a 410 Codex can read, over this same TLS) for up to 5 days, a self-hosted job's longest.
 */
const KEY_PROXY_DAYS = 6

/** A fresh CA and a 127.0.0.1 server certificate it signed, valid for `days`. */
export function loopbackCert(label: string, days = KEY_PROXY_DAYS, random: RandomSource = randomBytes): LoopbackCert {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const caName = `${label} (ephemeral CA, key discarded)`
  const caCert = certificate(
    caName,
    caName,
    ca.publicKey,
    ca.privateKey,
    [
      extension('551d13', true, seq(der(0x01, Buffer.from([0xff])))),
      // keyCertSign, cRLSign
      extension('551d0f', true, der(0x03, Buffer.from([1, 0x06]))),
      subjectKeyId(ca.publicKey)
    ],
    days,
    random
  )
  const serverCert = certificate(
    '127.0.0.1',
    caName,
    server.publicKey,
    ca.privateKey,
    [
      extension('551d13', true, seq()),
      // digitalSignature
      extension('551d0f', true, der(0x03, Buffer.from([7, 0x80]))),
      // serverAuth
      extension('551d25', false, seq(oid('2b06010505070301'))),
      // IP 127.0.0.1, DNS localhost
      extension('551d11', false, seq(der(0x87, Buffer.from([127, 0, 0, 1])), der(0x82, Buffer.from('localhost')))),
      subjectKeyId(server.publicKey),
      authorityKeyId(ca.publicKey)
    ],
    days,
    random
  )
  return { ca: caCert, cert: serverCert, key: server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
}
