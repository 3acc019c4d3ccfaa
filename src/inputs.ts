import * as path from 'node:path'
import * as core from '@actions/core'
import semver from 'semver'
import { UserError } from './errors.js'
import { maskSecret } from './secrets.js'

export type AuthMode = 'api-key' | 'access-token'

export interface Credential {
  mode: AuthMode
  secret: string
}

/** What `codex-version` asks for, classified once so that install never re-parses it. */
export type VersionSpec =
  | { kind: 'exact'; version: string }
  | { kind: 'range'; range: string }
  | { kind: 'tag'; tag: string }

export interface Inputs {
  credential: Credential
  version: VersionSpec
  registryUrl: string
  /** Absolute path the user named, or undefined for an action-owned directory. */
  codexHome?: string
  install: boolean
  exportEnv: boolean
  /** PEM text of the CA bundle (ca-certificate). */
  caCertificate?: string
  /** Absolute path of the CA bundle (ca-certificate-file, resolved against the workspace). */
  caCertificateFile?: string
  exportNodeCa: boolean
  /** A bearer token for a private registry, sent only to registry-url's origin. */
  registryToken?: string
  networkIdleTimeoutMs: number
}

/** Reads one input as the runner gives it (`INPUT_<NAME>`), surrounding whitespace trimmed. */
export type InputReader = (name: string) => string

const FORK_HINT =
  'Secrets are not passed to workflows triggered by a pull request from a fork or by Dependabot; ' +
  'for those, skip this step (for example `if: github.event.pull_request.head.repo.fork == false`) ' +
  'or store the secret as a Dependabot secret.'

const API_KEY = /^sk-[A-Za-z0-9_-]{20,1024}$/
const PERSONAL_TOKEN = /^at-[A-Za-z0-9._~+/=-]{16,4096}$/
const JWT = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}$/
const DIST_TAG = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/

/** Every input, parsed and validated in one place. Secrets are masked before any check. */
export function getInputs(read: InputReader = (name) => core.getInput(name)): Inputs {
  const apiKey = read('api-key')
  const accessToken = read('access-token')
  const registryToken = read('registry-token')
  maskSecret(apiKey)
  maskSecret(accessToken)
  maskSecret(registryToken)
  return {
    credential: parseCredential(apiKey, accessToken),
    version: parseVersionSpec(read('codex-version')),
    registryUrl: parseRegistryUrl(read('registry-url')),
    codexHome: parseCodexHome(read('codex-home')),
    install: parseBoolean('install', read('install'), true),
    exportEnv: parseBoolean('export-env', read('export-env'), false),
    ...parseCaInputs(read('ca-certificate'), read('ca-certificate-file')),
    exportNodeCa: parseBoolean('export-node-ca', read('export-node-ca'), true),
    registryToken: parseRegistryToken(registryToken),
    networkIdleTimeoutMs: parseSeconds('network-idle-timeout', read('network-idle-timeout'), 30) * 1000
  }
}

export function parseRegistryToken(raw: string): string | undefined {
  if (!raw) return undefined
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) {
    throw new UserError('registry-token contains white space or a control character. Store only the token in the secret.')
  }
  return raw
}

export function parseSeconds(name: string, raw: string, fallback: number): number {
  if (raw === '') return fallback
  const value = Number(raw)
  if (!/^\d+(\.\d+)?$/.test(raw) || value < 1 || value > 600) {
    throw new UserError(`${name} must be a number of seconds from 1 to 600, not "${raw}".`)
  }
  return value
}

export function parseCaInputs(text: string, file: string): Pick<Inputs, 'caCertificate' | 'caCertificateFile'> {
  if (text && file) {
    throw new UserError('ca-certificate and ca-certificate-file are both set. Give the CA bundle one way: its PEM text, or the path of a file on the runner.')
  }
  if (!file) return { caCertificate: text || undefined }
  return { caCertificateFile: path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), file) }
}

export function parseCredential(apiKey: string, accessToken: string): Credential {
  if (!apiKey && !accessToken) {
    throw new UserError(`api-key and access-token are both empty. Set one of them from a secret. ${FORK_HINT}`)
  }
  if (apiKey && accessToken) {
    throw new UserError('api-key and access-token are both set. Set only one of them: the action logs in with exactly one credential.')
  }
  const mode: AuthMode = apiKey ? 'api-key' : 'access-token'
  const secret = apiKey || accessToken
  checkSecretShape(mode, secret)
  return { mode, secret }
}

function checkSecretShape(mode: AuthMode, secret: string): void {
  if (/[\r\n]/.test(secret)) {
    throw new UserError(`${mode} holds more than one line. Store exactly one credential in the secret, with no line breaks inside it.`)
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) {
    throw new UserError(`${mode} contains a control character. Copy the credential into the secret again, without invisible characters.`)
  }
  if (mode === 'api-key' && !API_KEY.test(secret)) {
    throw new UserError(
      'api-key does not look like an OpenAI API key (sk- followed by letters, digits, - and _). ' +
        'Check that the secret holds the key itself, not its name; a Codex access token goes in access-token.'
    )
  }
  if (mode === 'access-token' && !PERSONAL_TOKEN.test(secret) && !JWT.test(secret)) {
    throw new UserError(
      'access-token does not look like a Codex access token (a personal access token at-…, or an agent identity JWT). ' +
        'Check that the secret holds the token itself; an OpenAI API key goes in api-key.'
    )
  }
}

export function parseVersionSpec(raw: string): VersionSpec {
  const value = raw || 'latest'
  const exact = semver.valid(value)
  if (exact) return { kind: 'exact', version: exact }
  if (DIST_TAG.test(value) && !semver.validRange(value)) return { kind: 'tag', tag: value }
  const range = semver.validRange(value)
  if (range) return { kind: 'range', range: value }
  throw new UserError(
    `codex-version "${value}" is not a version, a semver range or a dist-tag. ` +
      'Use latest, an exact version such as 0.171.0, or a range such as ^0.171.'
  )
}

export function parseRegistryUrl(raw: string): string {
  const value = raw || 'https://registry.npmjs.org'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UserError(`registry-url "${value}" is not a URL. Use the address of an npm registry, such as https://registry.npmjs.org.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`registry-url must be an http or https URL, not ${url.protocol}. Use the address of an npm registry.`)
  }
  if (url.username || url.password) {
    throw new UserError('registry-url must not contain credentials: they would be printed in logs. Remove the user name and password from it.')
  }
  if (url.search || url.hash) {
    throw new UserError('registry-url must not have a query or a fragment. Use the registry\'s base address.')
  }
  return url.href.replace(/\/+$/, '')
}

export function parseCodexHome(raw: string): string | undefined {
  if (!raw) return undefined
  if (!path.isAbsolute(raw)) {
    throw new UserError(`codex-home "${raw}" is not an absolute path. Name an absolute directory outside the workspace, or leave it empty.`)
  }
  return path.resolve(raw)
}

export function parseBoolean(name: string, raw: string, fallback: boolean): boolean {
  if (raw === '') return fallback
  if (/^(true|True|TRUE)$/.test(raw)) return true
  if (/^(false|False|FALSE)$/.test(raw)) return false
  throw new UserError(`${name} must be true or false, not "${raw}".`)
}
