import * as core from '@actions/core'
import { X509Certificate } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as tls from 'node:tls'
import { UserError } from '../job/errors.js'
import { makePrivateDir, writePrivateFile } from '../job/files.js'
import { inline } from '../secrets/inert-output.js'
import { maskSecret } from '../secrets/mask.js'

export interface CaCertificate {
  subject: string
  issuer: string
  validTo: string
  fingerprint256: string
  pem: string
}

/** A validated bundle: its certificates, normalised to CERTIFICATE blocks, and what was noticed. */
export interface CaBundle {
  source: 'ca-certificate' | 'ca-certificate-file'
  certificates: CaCertificate[]
  warnings: string[]
  notes: string[]
}

/** Where the bundle was written and what later steps were told. */
export interface WrittenCa {
  bundlePath: string
  nodeCaPath?: string
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g
const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g
const MAX_FILE_BYTES = 4 * 1024 * 1024

/** The DER of the certificate at the start of an OpenSSL TRUSTED CERTIFICATE (it is followed by trust settings). */
function leadingSequence(der: Buffer): Buffer {
  if (der[0] !== 0x30 || der.length < 2) return der
  const first = der[1]
  if (first < 0x80) return der.subarray(0, 2 + first)
  const width = first & 0x7f
  let length = 0
  for (let i = 0; i < width; i++) length = length * 256 + der[2 + i]
  return der.subarray(0, 2 + width + length)
}

/**
 * Parses and checks a PEM bundle with Node's own X.509 support. Errors name the block
 * (1-based) and never echo it; a private key is masked before anything is said about it.
 */
export function parseCaBundle(text: string, source: CaBundle['source'], now = new Date()): CaBundle {
  const bundle: CaBundle = { source, certificates: [], warnings: [], notes: [] }
  const blocks = [...text.matchAll(BLOCK)]
  const begins = [...text.matchAll(BEGIN)].length
  for (const block of blocks) if (/PRIVATE KEY/.test(block[1])) maskSecret(block[0])
  if (begins !== blocks.length) {
    throw new UserError(
      `${source} block ${blocks.length + 1} has no matching -----END----- line. Copy the whole PEM bundle again.`
    )
  }
  const seen = new Set<string>()
  blocks.forEach((block, index) => {
    const n = index + 1
    const [, type, body, endType] = block
    if (type !== endType)
      throw new UserError(
        `${source} block ${n} begins as ${type} but ends as ${endType}. Copy the whole PEM bundle again.`
      )
    if (/PRIVATE KEY/.test(type)) {
      throw new UserError(
        `${source} block ${n} is a private key. A CA bundle holds only public certificates: remove the key (and replace it if it was ever shared).`
      )
    }
    if (type === 'X509 CRL') {
      bundle.notes.push(`block ${n} is a certificate revocation list; skipped`)
      return
    }
    if (type !== 'CERTIFICATE' && type !== 'TRUSTED CERTIFICATE') {
      throw new UserError(
        `${source} block ${n} is a ${type}, not a certificate. A CA bundle holds CERTIFICATE blocks only.`
      )
    }
    const base64 = body.replace(/\s+/g, '')
    let cert: X509Certificate
    try {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new Error('not base64')
      const der = Buffer.from(base64, 'base64')
      cert = new X509Certificate(type === 'TRUSTED CERTIFICATE' ? leadingSequence(der) : der)
    } catch {
      throw new UserError(
        `${source} block ${n} does not parse as an X.509 certificate. Copy the certificate again, from -----BEGIN to -----END.`
      )
    }
    const described = `block ${n} (${cert.subject.replace(/\n/g, ', ')})`
    if (seen.has(cert.fingerprint256)) {
      bundle.warnings.push(`${source} ${described} repeats an earlier certificate; the copy is ignored.`)
      return
    }
    seen.add(cert.fingerprint256)
    if (new Date(cert.validTo) < now)
      bundle.warnings.push(
        `${source} ${described} expired on ${cert.validTo}. Replace it with the CA's current certificate.`
      )
    if (new Date(cert.validFrom) > now)
      bundle.warnings.push(`${source} ${described} is not valid until ${cert.validFrom}.`)
    if (!cert.ca)
      bundle.warnings.push(
        `${source} ${described} is not a CA certificate; it only matches a server that presents this exact certificate.`
      )
    bundle.certificates.push({
      subject: cert.subject.replace(/\n/g, ', '),
      issuer: cert.issuer.replace(/\n/g, ', '),
      validTo: cert.validTo,
      fingerprint256: cert.fingerprint256,
      pem: cert.toString()
    })
  })
  if (bundle.certificates.length === 0) {
    throw new UserError(
      `${source} holds no certificate. Give the PEM text of your root CA, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.`
    )
  }
  return bundle
}

/** Reads and validates the bundle from whichever input was given; undefined when neither was. */
export async function loadCaBundle(text: string | undefined, file: string | undefined): Promise<CaBundle | undefined> {
  if (text) return parseCaBundle(text, 'ca-certificate')
  if (!file) return undefined
  let stat
  try {
    stat = await fs.stat(file)
  } catch {
    throw new UserError(
      `ca-certificate-file ${file} does not exist. Give the path of a PEM bundle on the runner, or use ca-certificate with the PEM text.`
    )
  }
  if (!stat.isFile()) throw new UserError(`ca-certificate-file ${file} is not a file. Give the path of a PEM bundle.`)
  if (stat.size > MAX_FILE_BYTES)
    throw new UserError(
      `ca-certificate-file ${file} is larger than 4 MiB, too large for a CA bundle. Give only your organisation's root certificates.`
    )
  let contents: string
  try {
    contents = await fs.readFile(file, 'utf8')
  } catch {
    throw new UserError(`ca-certificate-file ${file} is not readable by the runner's user. Fix its permissions.`)
  }
  return parseCaBundle(contents, 'ca-certificate-file')
}

/** Logs what is trusted (all public: subject, issuer, expiry, fingerprint) and what was noticed. */
export function reportCaBundle(bundle: CaBundle): void {
  bundle.certificates.forEach((c, i) => {
    core.info(
      `CA certificate ${i + 1}: ${inline(c.subject)}; issuer ${inline(c.issuer)}; expires ${c.validTo}; SHA-256 ${c.fingerprint256}`
    )
  })
  for (const note of bundle.notes) core.info(`${bundle.source}: ${note}`)
  for (const warning of bundle.warnings) core.warning(warning)
}

export function bundlePem(bundle: CaBundle): string {
  return bundle.certificates.map((c) => c.pem.trimEnd()).join('\n') + '\n'
}

/**
 * Writes the bundle (0600) in a new private directory under RUNNER_TEMP. With
 * `forNode`, also a bundle for NODE_EXTRA_CA_CERTS that keeps what that variable
 * already named: it takes one file, so replacing it would drop the runner's own CAs.
 */
export async function writeCaBundle(
  bundle: CaBundle,
  runnerTemp: string,
  forNode: boolean,
  record: (dir: string) => void
): Promise<WrittenCa> {
  const dir = await makePrivateDir(runnerTemp, 'codex-ca-')
  record(dir)
  const pem = bundlePem(bundle)
  const bundlePath = path.join(dir, 'ca-bundle.pem')
  await writePrivateFile(bundlePath, pem)
  if (!forNode) return { bundlePath }
  const existing = await readExistingNodeCa()
  if (!existing) return { bundlePath, nodeCaPath: bundlePath }
  const nodeCaPath = path.join(dir, 'node-extra-ca.pem')
  await writePrivateFile(nodeCaPath, `${existing.trimEnd()}\n${pem}`)
  return { bundlePath, nodeCaPath }
}

async function readExistingNodeCa(): Promise<string | undefined> {
  const current = process.env.NODE_EXTRA_CA_CERTS
  if (!current) return undefined
  return fs.readFile(current, 'utf8').catch(() => undefined)
}

/**
 * Every certificate the action's own HTTPS requests trust: Node's defaults (its roots,
 * NODE_EXTRA_CA_CERTS and, where Node can read it, the system store) plus the bundle.
 * Giving `ca` replaces Node's defaults, so they are listed explicitly.
 */
export async function trustAnchors(bundle: CaBundle): Promise<string[]> {
  return [...(await defaultAnchors(true)), ...bundle.certificates.map((c) => c.pem)]
}

/**
 * What this process trusts without a `ca` of the action's: Node's roots and
 * NODE_EXTRA_CA_CERTS as it read them at start-up, and with `system` the OS store.
 */
export async function defaultAnchors(system: boolean): Promise<string[]> {
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
  const defaults = new Set<string>()
  if (getCACertificates) {
    for (const type of system ? ['default', 'system'] : ['default'])
      for (const pem of getCACertificates(type)) defaults.add(pem)
  } else {
    for (const pem of tls.rootCertificates) defaults.add(pem)
    const extra = await readExistingNodeCa()
    for (const match of (extra ?? '').matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g))
      defaults.add(match[0])
  }
  return [...defaults]
}
