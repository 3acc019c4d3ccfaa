import * as core from '@actions/core'
import { existsSync } from 'node:fs'
import * as path from 'node:path'
import semver from 'semver'
import { parse as parseToml } from 'smol-toml'
import { UserError } from '../job/errors.js'
import { isAzureEndpoint, OPENAI_API_BASE_URL } from '../net/endpoint.js'
import { checkPlainHttp, type CleartextRisk } from '../net/http.js'
import { inline } from '../secrets/inert-output.js'
import { maskSecret } from '../secrets/mask.js'
import { decodeAuthJson, parseChatgptAuth, type ChatgptAuth } from './auth-json.js'
import {
  type BedrockInputs,
  checkBedrockIsolation,
  parseBedrockInputs,
  parseProvider,
  type Provider
} from './bedrock.js'
import { type NetworkPolicy, parseCodexNetwork } from './network.js'
import { parseChatgptRoles, parsePersistInputs, type PersistInputs } from './persist.js'
import { parseSpendCaps, type SpendCaps } from './spend.js'

/** How later steps are authenticated: a stored secret, GitHub OIDC federated by OpenAI, or a ChatGPT sign-in's auth.json. */
export type AuthMode = SecretMode | 'workload-identity' | 'chatgpt' | 'amazon-bedrock'
export type SecretMode = 'api-key' | 'access-token'

/** The one credential a run logs in with. */
export interface Credential {
  mode: SecretMode
  secret: string
}

/** What the workflow gave: one credential, or several during a rotation, newest first. */
export interface Credentials {
  mode: SecretMode
  candidates: string[]
}

/** Secretless mode: a federation rule that accepts GitHub OIDC tokens for this audience. */
export interface WorkloadIdentity {
  ruleId: string
  audience: string
}

/**
 * Where the API key lives while the job runs: auth.json (none), or only a loopback proxy's
 * memory. The input's default, auto, is resolved by getInputs into one of the two.
 */
export type KeyIsolation = 'none' | 'proxy'

/** codex-isolation: a jail of its own for every `codex` call where the runner allows it (auto), or none. */
export type CodexIsolation = 'auto' | 'none'

/** What `codex-version` asks for, classified once so that install never re-parses it. */
export type VersionSpec =
  { kind: 'exact'; version: string } | { kind: 'range'; range: string } | { kind: 'tag'; tag: string }

export interface Inputs {
  /** Exactly one of credentials, workloadIdentity and chatgpt is set. */
  credentials?: Credentials
  workloadIdentity?: WorkloadIdentity
  /** A ChatGPT sign-in (auth-json), validated. */
  chatgpt?: ChatgptAuth
  /** provider: openai (the default) or amazon-bedrock. */
  provider: Provider
  /** provider: amazon-bedrock: its region, endpoint and credential (held by the key proxy); then none of the three above is set. */
  bedrock?: BedrockInputs
  /** Where a refreshed auth.json is written back (persist-secret), with auth-json only. */
  persist?: PersistInputs
  /** refresh: true, refresh the ChatGPT sign-in in the main step (the refresher job). */
  refreshChatgpt: boolean
  /** allow-auth-json-on-public-repo */
  allowAuthJsonOnPublicRepo: boolean
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
  /** Check the credential live before exporting anything. */
  verify: boolean
  /** The Responses API Codex talks to (and verify checks): OpenAI, Azure OpenAI v1 or a gateway. */
  apiBaseUrl: string
  keyIsolation: KeyIsolation
  codexIsolation: CodexIsolation
  /** codex-network: what the commands the model runs may reach. */
  network: NetworkPolicy
  /** max-tokens, max-requests, allowed-models: enforced by the key proxy. */
  spend: SpendCaps
  expiryWarningDays: number
  /** TOML text merged over the action's config.toml. */
  config: string
  allowUntrusted: boolean
  /** GitHub logins (lower case) whose text is trusted besides owners, members and collaborators. */
  allowUsers: string[]
  /** Let commands the model runs read the credential that export-env exports. */
  allowSecretInShell: boolean
}

/** Reads one input as the runner gives it (`INPUT_<NAME>`), surrounding whitespace trimmed. */
export type InputReader = (name: string) => string

const FORK_HINT =
  'Secrets are not passed to workflows triggered by a pull request from a fork or by Dependabot; ' +
  'for those, skip this step (for example `if: github.event.pull_request.head.repo.fork == false`) ' +
  'or store the secret as a Dependabot secret.'

const RULE_ID = /^[A-Za-z0-9_.:-]{3,200}$/
const API_KEY = /^sk-[A-Za-z0-9_-]{20,1024}$/
/** Azure OpenAI keys: 32 hex digits, or the newer 84 letters and digits. */
const AZURE_KEY = /^[A-Za-z0-9]{32,128}$/
const PERSONAL_TOKEN = /^at-[A-Za-z0-9._~+/=-]{16,4096}$/
const JWT = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}$/
const DIST_TAG = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/
/** Why answers over plain http prove nothing (checkPlainHttp). */
const REGISTRY_ANSWERS = "the tarball's dist.integrity arrives over the same channel, so it proves nothing"
const API_ANSWERS = 'its answers (whether a key is accepted) can be forged on the way'
/** A rotation overlap needs two; five is plenty and bounds the live checks. */
const MAX_CANDIDATES = 5

/** Every input, parsed and validated in one place. Secrets are masked before any check. */
export function getInputs(read: InputReader = (name) => core.getInput(name)): Inputs {
  const apiKey = read('api-key')
  const accessToken = read('access-token')
  const registryToken = read('registry-token')
  const authJson = read('auth-json')
  const persistToken = read('persist-token')
  const provider = parseProvider(read('provider'))
  maskSecret(read('bedrock-api-key'))
  maskSecret(apiKey)
  maskSecret(accessToken)
  maskSecret(registryToken)
  // Whole: its lines without a token ("tokens": {) are no secret; parseChatgptAuth masks each token.
  if (authJson) core.setSecret(authJson)
  maskSecret(persistToken)
  // Workload identity: the runner's OIDC request token, before anything can print it.
  if (read('federation-rule-id')) maskSecret(process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '')
  // Codex sends the api-key to this endpoint on every request, not only verify.
  const apiBaseUrl = parseHttpUrl('api-base-url', read('api-base-url'), OPENAI_API_BASE_URL, {
    secret: 'api-key',
    sent: apiKey !== '' || provider === 'amazon-bedrock',
    answers: API_ANSWERS
  })
  const bedrock =
    provider === 'amazon-bedrock'
      ? parseBedrockInputs(
          read,
          {
            'api-key': apiKey,
            'access-token': accessToken,
            'federation-rule-id': read('federation-rule-id'),
            'auth-json': authJson
          },
          apiBaseUrl,
          OPENAI_API_BASE_URL
        )
      : undefined
  const auth = bedrock
    ? {}
    : parseAuth(
        apiKey,
        accessToken,
        read('federation-rule-id'),
        read('oidc-audience'),
        isAzureEndpoint(apiBaseUrl),
        authJson
      )
  const exportEnv = parseBoolean('export-env', read('export-env'), false)
  const codexHome = parseCodexHome(read('codex-home'))
  if (bedrock)
    checkBedrockIsolation(
      read('key-isolation'),
      exportEnv,
      codexHome !== undefined && existsSync(path.join(codexHome, 'config.toml')),
      endpointChooser(read('config'))
    )
  if (!bedrock && apiBaseUrl !== OPENAI_API_BASE_URL && auth.credentials?.mode !== 'api-key') {
    core.warning(
      `api-base-url is set, but it is the endpoint of an api-key only: with ${auth.credentials?.mode ?? (auth.chatgpt ? 'auth-json' : 'federation-rule-id')}, Codex talks to OpenAI as usual. Remove api-base-url, or log in with an api-key for that endpoint.`
    )
  }
  const roles = parseChatgptRoles(
    auth.chatgpt,
    parsePersistInputs(read('persist-secret'), persistToken, read('persist-environment'), Boolean(authJson)),
    parseBoolean('refresh', read('refresh'), false),
    read('shared-secret'),
    codexHome
  )
  const keyIsolation = bedrock
    ? 'proxy'
    : resolveKeyIsolation(
        parseKeyIsolation(read('key-isolation'), auth, exportEnv, isAzureEndpoint(apiBaseUrl)),
        auth,
        exportEnv,
        codexHome,
        read('config'),
        roles.refresh
      )
  return {
    ...auth,
    provider,
    bedrock,
    persist: roles.persist,
    refreshChatgpt: roles.refresh,
    allowAuthJsonOnPublicRepo: parseBoolean(
      'allow-auth-json-on-public-repo',
      read('allow-auth-json-on-public-repo'),
      false
    ),
    version: parseVersionSpec(read('codex-version')),
    registryUrl: parseHttpUrl('registry-url', read('registry-url'), 'https://registry.npmjs.org', {
      secret: 'registry-token',
      sent: registryToken !== '',
      answers: REGISTRY_ANSWERS
    }),
    codexHome,
    install: parseBoolean('install', read('install'), true),
    exportEnv,
    ...parseCaInputs(read('ca-certificate'), read('ca-certificate-file')),
    exportNodeCa: parseBoolean('export-node-ca', read('export-node-ca'), true),
    registryToken: parseRegistryToken(registryToken),
    networkIdleTimeoutMs: parseNumber('network-idle-timeout', read('network-idle-timeout'), 30, 1, 600) * 1000,
    verify: parseBoolean('verify', read('verify'), false),
    apiBaseUrl,
    keyIsolation,
    codexIsolation: parseCodexIsolation(read('codex-isolation')),
    network: parseCodexNetwork(read('codex-network')),
    spend: parseSpendCaps(read, keyIsolation === 'proxy'),
    expiryWarningDays: parseNumber('expiry-warning-days', read('expiry-warning-days'), 7, 0, 365),
    config: read('config'),
    allowUntrusted: parseBoolean('allow-untrusted', read('allow-untrusted'), false),
    allowUsers: parseLogins(read('allow-users')),
    allowSecretInShell: parseBoolean('allow-secret-in-shell', read('allow-secret-in-shell'), false)
  }
}

export function parseRegistryToken(raw: string): string | undefined {
  if (!raw) return undefined
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) {
    throw new UserError(
      'registry-token contains white space or a control character. Store only the token in the secret.'
    )
  }
  return raw
}

export function parseNumber(name: string, raw: string, fallback: number, min: number, max: number): number {
  if (raw === '') return fallback
  const value = Number(raw)
  if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
    throw new UserError(`${name} must be a number from ${min} to ${max}, not "${raw}".`)
  }
  return value
}

export function parseCaInputs(text: string, file: string): Pick<Inputs, 'caCertificate' | 'caCertificateFile'> {
  if (text && file) {
    throw new UserError(
      'ca-certificate and ca-certificate-file are both set. Give the CA bundle one way: its PEM text, or the path of a file on the runner.'
    )
  }
  if (!file) return { caCertificate: text || undefined }
  return { caCertificateFile: path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), file) }
}

/**
 * `proxy` keeps the API key in a loopback proxy's memory only. It needs an API key (an
 * access token or an OIDC identity is used by the CLI itself), and refuses export-env,
 * which would hand the key to every later step again. An Azure key always goes through
 * the proxy: without it Codex would send Azure's `api-key` header itself, and its client
 * carries that header across a redirect to another origin (it drops only Authorization).
 */
export function parseKeyIsolation(
  raw: string,
  auth: Pick<Inputs, 'credentials' | 'workloadIdentity' | 'chatgpt'>,
  exportEnv: boolean,
  azure = false
): KeyIsolation | 'auto' {
  const value = raw || 'auto'
  if (value !== 'auto' && value !== 'none' && value !== 'proxy')
    throw new UserError(`key-isolation must be auto, proxy or none, not "${raw}".`)
  if (azure && auth.credentials?.mode === 'api-key') {
    if (value === 'none')
      throw new UserError(
        'key-isolation: none cannot be used with an Azure OpenAI api-base-url: Codex would send the key in its api-key header itself, and carries that header to wherever a redirect points. Remove key-isolation: the key proxy then holds the key and follows no redirect.'
      )
    if (exportEnv)
      throw new UserError(
        'export-env: true cannot be used with an Azure OpenAI api-base-url: an Azure key is kept in the key proxy only (Codex would carry its api-key header across a redirect), and export-env would hand it to every later step. Remove export-env; a later step that needs the key can take it from the secret itself.'
      )
  }
  if (value !== 'proxy') return value
  if (auth.credentials?.mode === 'access-token' && !personalTokens(auth.credentials.candidates)) {
    throw new UserError(
      'key-isolation: proxy takes an access-token only when it is a personal access token (at-…): an agent identity JWT carries a private key with which Codex signs every request itself. Use a personal access token, or remove key-isolation.'
    )
  }
  if (exportEnv) {
    throw new UserError(
      'key-isolation: proxy and export-env: true contradict each other: export-env would put the key back into every later step. Remove export-env.'
    )
  }
  return value
}

/** Whether every token of a rotation list is a personal access token (`at-…`), which the key proxy can hold. */
export function personalTokens(candidates: readonly string[]): boolean {
  return candidates.every((secret) => secret.startsWith('at-'))
}

/**
 * auto: the key proxy for an api-key, a personal access token, a GitHub OIDC identity or a
 * ChatGPT sign-in wherever nothing rules it out, else `none` (for an api-key or a sign-in
 * with one notice that says why the credential is in auth.json and how to change that).
 * `refresh`: refresh: true (a sign-in's refresher job, which the CLI refreshes in the main step).
 */
export function resolveKeyIsolation(
  value: KeyIsolation | 'auto',
  auth: Pick<Inputs, 'credentials' | 'chatgpt'> & Partial<Pick<Inputs, 'workloadIdentity'>>,
  exportEnv: boolean,
  codexHome: string | undefined,
  config = '',
  refresh = false
): KeyIsolation {
  const chooser = endpointChooser(config)
  if (value === 'proxy' && chooser)
    throw new UserError(
      `key-isolation: proxy and config's ${chooser} contradict each other: the key proxy is the endpoint Codex talks to, and it forwards to api-base-url. Give the endpoint as api-base-url instead of ${chooser} in config.`
    )
  if (auth.chatgpt && value !== 'none') {
    // Where the sign-in must live in auth.json: a persistent runner's home, or the CLI's own refresh.
    const why = codexHome
      ? `codex-home ${inline(codexHome)} is the sign-in's home on a persistent runner, where it stays between jobs`
      : refresh
        ? 'refresh: true has the Codex CLI refresh it in the main step'
        : undefined
    if (!why) return 'proxy'
    if (value === 'proxy')
      throw new UserError(
        `key-isolation: proxy cannot hold the ChatGPT sign-in here: ${why}. Remove key-isolation (the sign-in is then in auth.json, as with key-isolation: none).`
      )
    core.notice(
      `The ChatGPT sign-in is stored in CODEX_HOME/auth.json, where every command the model runs can read it, and not only in the key proxy (key-isolation: auto), because ${why}. Set key-isolation: none to keep it there without this notice.`
    )
    return 'none'
  }
  if (value !== 'auto') return value
  // A personal access token goes to the proxy whatever else is set: nothing there needs Codex to hold it.
  if (
    auth.credentials?.mode === 'access-token' &&
    personalTokens(auth.credentials.candidates) &&
    !exportEnv &&
    !codexHome
  )
    return 'proxy'
  // So does a workload identity: the proxy makes the exchange, and no OIDC token reaches Codex.
  if (auth.workloadIdentity && !exportEnv && !codexHome) return 'proxy'
  if (auth.credentials?.mode !== 'api-key') return 'none'
  const silence = 'set key-isolation: none to keep it there without this notice.'
  if (chooser) {
    core.notice(
      `The api-key is stored in CODEX_HOME/auth.json, where every command the model runs can read it, and not only in the key proxy (key-isolation: auto), because config's ${chooser} chooses the endpoint Codex talks to. To keep it out of every file, give that endpoint as api-base-url instead; or ${silence}`
    )
    return 'none'
  }
  if (exportEnv) {
    core.notice(
      `The api-key is stored in CODEX_HOME/auth.json, where every command the model runs can read it, and not only in the key proxy (key-isolation: auto), because export-env: true hands it to every later step anyway. To keep it out of every file and step, remove export-env; or ${silence}`
    )
    return 'none'
  }
  if (codexHome && existsSync(path.join(codexHome, 'config.toml'))) {
    core.notice(
      `The api-key is stored in auth.json in codex-home ${inline(codexHome)}, where every command the model runs can read it, and not only in the key proxy (key-isolation: auto), because that codex-home has its own config.toml, which the action does not change, so Codex cannot be pointed at the proxy. To keep the key out of every file, leave codex-home empty or name a directory without a config.toml; or ${silence}`
    )
    return 'none'
  }
  return 'proxy'
}

/**
 * The setting of the `config` input that chooses Codex's endpoint itself, which the key
 * proxy would override: openai_base_url, or a model_provider other than OpenAI's. A config
 * that is not TOML is refused later, with its line (parseUserConfig).
 */
export function endpointChooser(config: string): string | undefined {
  let table: Record<string, unknown>
  try {
    table = config.trim() ? parseToml(config) : {}
  } catch {
    return undefined
  }
  if (typeof table.openai_base_url === 'string') return 'openai_base_url'
  if (typeof table.model_provider === 'string' && table.model_provider !== 'openai') return 'model_provider'
  return undefined
}

/** codex-isolation: auto (the default) or none; nothing else, codex-user included (it is gone). */
export function parseCodexIsolation(raw: string): CodexIsolation {
  const value = (raw || 'auto').toLowerCase()
  if (value === 'auto' || value === 'none') return value
  throw new UserError(`codex-isolation must be auto or none, not "${raw}".`)
}

/** Exactly one credential source: api-key, access-token, federation-rule-id (with oidc-audience), or auth-json. */
export function parseAuth(
  apiKey: string,
  accessToken: string,
  ruleId: string,
  audience: string,
  azure = false,
  authJson = ''
): Pick<Inputs, 'credentials' | 'workloadIdentity' | 'chatgpt'> {
  if (authJson) {
    const other = [apiKey && 'api-key', accessToken && 'access-token', ruleId && 'federation-rule-id'].find(Boolean)
    if (other)
      throw new UserError(
        `auth-json and ${other} are both set. Set only one credential source: auth-json is a ChatGPT sign-in, ${other} another way to authenticate.`
      )
    const text = decodeAuthJson(authJson)
    return { chatgpt: parseChatgptAuth(text, 'auth-json') }
  }
  if (!ruleId) {
    if (audience)
      throw new UserError(
        'oidc-audience is set but federation-rule-id is empty. Set federation-rule-id to use GitHub OIDC, or remove oidc-audience.'
      )
    return { credentials: parseCredentials(apiKey, accessToken, azure) }
  }
  if (apiKey || accessToken) {
    throw new UserError(
      `federation-rule-id and ${apiKey ? 'api-key' : 'access-token'} are both set. Set only one credential source: federation-rule-id needs no stored secret.`
    )
  }
  if (!RULE_ID.test(ruleId))
    throw new UserError(
      'federation-rule-id does not look like a federation rule ID (such as idpm_…). Copy it from the OpenAI workload identity settings.'
    )
  if (!audience)
    throw new UserError(
      'oidc-audience is required with federation-rule-id. Set it to the audience your federation rule accepts.'
    )
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(audience))
    throw new UserError(
      'oidc-audience contains white space or a control character. Set it to the audience your federation rule accepts.'
    )
  return { workloadIdentity: { ruleId, audience } }
}

/**
 * Exactly one of the two inputs; each holds one credential, or several during a rotation
 * (one a line, newest first). Every line must have the shape of its kind (for an Azure
 * endpoint, an API key may also have the shape of an Azure key).
 */
export function parseCredentials(apiKey: string, accessToken: string, azure = false): Credentials {
  if (!apiKey && !accessToken) {
    throw new UserError(
      `api-key and access-token are both empty. Set one of them from a secret, or use federation-rule-id for GitHub OIDC. ${FORK_HINT}`
    )
  }
  if (apiKey && accessToken) {
    throw new UserError(
      'api-key and access-token are both set. Set only one of them: the action logs in with exactly one credential.'
    )
  }
  const mode: SecretMode = apiKey ? 'api-key' : 'access-token'
  const lines = (apiKey || accessToken).split(/\r?\n/).map((line) => line.trim())
  if (lines.length > MAX_CANDIDATES) {
    throw new UserError(
      `${mode} holds ${lines.length} lines; a rotation needs at most ${MAX_CANDIDATES} (one credential a line, newest first). Remove the retired ones.`
    )
  }
  lines.forEach((line, index) => {
    const where = lines.length > 1 ? `${mode} line ${index + 1}` : mode
    if (!line)
      throw new UserError(
        `${where} is empty. Give one credential a line, newest first, with no empty lines between them.`
      )
    if (lines.indexOf(line) !== index)
      throw new UserError(`${where} repeats line ${lines.indexOf(line) + 1}. Give each credential once.`)
    checkSecretShape(mode, where, line, azure)
  })
  return { mode, candidates: lines }
}

function checkSecretShape(mode: SecretMode, where: string, secret: string, azure: boolean): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) {
    throw new UserError(
      `${where} contains a control character. Copy the credential into the secret again, without invisible characters.`
    )
  }
  if (mode === 'api-key' && !API_KEY.test(secret) && !(azure && AZURE_KEY.test(secret))) {
    throw new UserError(
      `${where} does not look like an ${azure ? 'Azure OpenAI key (32 to 128 letters and digits) or an ' : ''}OpenAI API key (sk- followed by letters, digits, - and _). ` +
        'Check that the secret holds the key itself, not its name; a Codex access token goes in access-token.'
    )
  }
  if (mode === 'access-token' && !PERSONAL_TOKEN.test(secret) && !JWT.test(secret)) {
    throw new UserError(
      `${where} does not look like a Codex access token (a personal access token at-…, or an agent identity JWT). ` +
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

/**
 * An http(s) base URL without credentials, query or fragment, and without a trailing
 * slash; plain http beyond this machine as checkPlainHttp allows it.
 */
export function parseHttpUrl(name: string, raw: string, fallback: string, risk?: CleartextRisk): string {
  const value = raw || fallback
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UserError(`${name} "${value}" is not a URL. Use an address such as ${fallback}.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(
      `${name} must be an http or https URL, not ${url.protocol}. Use an address such as ${fallback}.`
    )
  }
  if (url.username || url.password) {
    throw new UserError(
      `${name} must not contain credentials: they would be printed in logs. Remove the user name and password from it.`
    )
  }
  if (url.search || url.hash) {
    throw new UserError(`${name} must not have a query or a fragment. Use the base address.`)
  }
  if (risk) checkPlainHttp(name, url.href, risk)
  return url.href.replace(/\/+$/, '')
}

export function parseCodexHome(raw: string): string | undefined {
  if (!raw) return undefined
  if (!path.isAbsolute(raw)) {
    throw new UserError(
      `codex-home "${raw}" is not an absolute path. Name an absolute directory outside the workspace, or leave it empty.`
    )
  }
  return path.resolve(raw)
}

/** allow-users: GitHub logins, comma or newline separated; logins are case-insensitive. */
export function parseLogins(raw: string): string[] {
  const logins = raw
    .split(/[,\r\n]/)
    .map((entry) => entry.trim())
    .filter(Boolean)
  for (const login of logins) {
    if (!LOGIN.test(login)) {
      throw new UserError(
        `allow-users holds "${login}", which is not a GitHub login (letters, digits and hyphens, at most 39, and [bot] for an app). Give logins separated by commas or new lines.`
      )
    }
  }
  return logins.map((login) => login.toLowerCase())
}

export function parseBoolean(name: string, raw: string, fallback: boolean): boolean {
  if (raw === '') return fallback
  if (/^(true|True|TRUE)$/.test(raw)) return true
  if (/^(false|False|FALSE)$/.test(raw)) return false
  throw new UserError(`${name} must be true or false, not "${raw}".`)
}

/** Login syntax, with the `[bot]` suffix of GitHub Apps; anything else in a payload is not printed. */
export const LOGIN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$/
