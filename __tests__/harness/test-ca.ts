/** Certificates made by the test: a root CA, servers it signs for 127.0.0.1, and odd ones. */
import forge from 'node-forge'

const { pki, md } = forge

export interface Issued {
  cert: string
  key: string
}

interface Options {
  subject: string
  ca?: boolean
  notBefore?: Date
  notAfter?: Date
  issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }
  /** Subject alternative names: 127.0.0.1 and localhost for servers. */
  loopback?: boolean
  /** More DNS names (a server that stands in for a public host behind an intercepting proxy). */
  names?: string[]
}

let serial = 1
// One RSA key pair serves every certificate: generating keys in pure JS is slow, and
// the tests are about trust chains, not key separation.
const keys = pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })

function issue(options: Options): { cert: forge.pki.Certificate; pem: Issued } {
  const cert = pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = (serial++).toString(16).padStart(2, '0')
  const now = Date.now()
  cert.validity.notBefore = options.notBefore ?? new Date(now - 3600_000)
  cert.validity.notAfter = options.notAfter ?? new Date(now + 365 * 86400_000)
  const attrs = [
    { name: 'commonName', value: options.subject },
    { name: 'organizationName', value: 'codex-auth-action tests' }
  ]
  cert.setSubject(attrs)
  cert.setIssuer(options.issuer ? options.issuer.cert.subject.attributes : attrs)
  const extensions: object[] = [{ name: 'basicConstraints', cA: !!options.ca, critical: true }]
  if (options.ca) extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true })
  else
    extensions.push(
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true }
    )
  if (options.loopback)
    extensions.push({
      name: 'subjectAltName',
      altNames: [
        { type: 7, ip: '127.0.0.1' },
        { type: 2, value: 'localhost' },
        ...(options.names ?? []).map((value) => ({ type: 2, value }))
      ]
    })
  extensions.push({ name: 'subjectKeyIdentifier' })
  cert.setExtensions(extensions)
  cert.sign(options.issuer?.key ?? keys.privateKey, md.sha256.create())
  return { cert, pem: { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) } }
}

/** A root CA and a server certificate for 127.0.0.1 that it signed. */
export function makeTestCa(name = 'Test Proxy Root CA', names: string[] = []) {
  const root = issue({ subject: name, ca: true })
  const server = issue({
    subject: '127.0.0.1',
    loopback: true,
    names,
    issuer: { cert: root.cert, key: keys.privateKey }
  })
  return {
    ca: root.pem.cert,
    caKey: root.pem.key,
    server: server.pem,
    /** A CA certificate that expired yesterday. */
    expiredCa: () =>
      issue({
        subject: `${name} (expired)`,
        ca: true,
        notBefore: new Date(Date.now() - 30 * 86400_000),
        notAfter: new Date(Date.now() - 86400_000)
      }).pem.cert,
    /** A certificate that is not a CA. */
    leaf: () => issue({ subject: 'not-a-ca.example.com' }).pem.cert
  }
}
