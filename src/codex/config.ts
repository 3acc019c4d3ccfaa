import * as core from '@actions/core'
import { parse, stringify, TomlError } from 'smol-toml'
import type { AuthMode } from '../inputs/inputs.js'
import { BACKGROUND_REQUESTS } from '../inputs/network.js'
import { UserError } from '../job/errors.js'
import { OPENAI_API_BASE_URL } from '../net/endpoint.js'
import { checkPlainHttp } from '../net/http.js'

type Table = Record<string, unknown>

/** What the checks of a config.toml need to know about the run. */
export interface ConfigRules {
  mode: AuthMode
  /** With export-env: the variable that puts the credential in the environment of later steps. */
  exported?: string
  /** allow-secret-in-shell: commands the model runs may read it there. */
  allowSecretInShell: boolean
  /** codex-network restricts Codex's jail: the background requests it would refuse are turned off (QUIET_CONFIG). */
  restrictedNetwork?: boolean
}

/**
 * What the action's config.toml always says: credentials live in auth.json (a runner has
 * no keyring), and commands the model runs do not inherit variables whose names hold
 * KEY, SECRET or TOKEN, such as CODEX_API_KEY.
 */
export const DEFAULT_CONFIG: Table = {
  cli_auth_credentials_store: 'file',
  shell_environment_policy: { ignore_default_excludes: false }
}

/**
 * Every BACKGROUND_REQUESTS setting, off: where codex-network restricts the jail,
 * config.toml says so unless the user's config sets them.
 */
export const QUIET_CONFIG: Table = Object.fromEntries(
  BACKGROUND_REQUESTS.map(({ setting: [table, key] }) => [table, { [key]: false }])
)

/** The hosts (on 443) Codex's background requests go to with this config: those whose setting is not false. */
export function backgroundHosts(config: Table): string[] {
  return BACKGROUND_REQUESTS.filter(({ setting: [table, key] }) => {
    const section = config[table]
    return !(isTable(section) && section[key] === false)
  }).flatMap(({ hosts }) => hosts.map((host) => `${host}:443`))
}

/**
 * Why each credential store but `file` is refused: only auth.json inside CODEX_HOME is
 * removed by the post step.
 */
const REFUSED_STORES: Record<string, string> = {
  auto: 'keeps the login in the macOS keychain or the Windows Credential Manager where there is one (as on macOS and Windows runners), outside CODEX_HOME, where the post step never removes it',
  keyring:
    'keeps the login in the OS keyring, outside CODEX_HOME, where the post step never removes it (and Linux runners have no keyring)',
  ephemeral: 'keeps the login in memory only, so later steps would not be logged in'
}

/** Modes that are ChatGPT sign-ins, as forced_login_method sees them; the others are API credentials. */
const CHATGPT_MODES = new Set<AuthMode>(['access-token', 'chatgpt'])

/**
 * Variables a job commonly holds a credential in: those of them that commands the model
 * runs would inherit are named in the warning.
 */
const CREDENTIAL_VARIABLES = [
  'CODEX_API_KEY',
  'CODEX_ACCESS_TOKEN',
  'OPENAI_API_KEY',
  'AZURE_OPENAI_API_KEY',
  'GITHUB_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN'
]
/** Codex's default excludes, applied only with ignore_default_excludes = false. */
const DEFAULT_EXCLUDES = ['*KEY*', '*SECRET*', '*TOKEN*']

/** The input that holds the credential Codex sends, by mode, for the messages. */
const CREDENTIAL_INPUT: Record<AuthMode, string> = {
  'api-key': 'api-key',
  'access-token': 'access-token',
  chatgpt: 'auth-json',
  'workload-identity': 'the workload identity token',
  'amazon-bedrock': 'the AWS credentials'
}

/**
 * Every endpoint a config names, wherever in it (openai_base_url, chatgpt_base_url, each
 * model provider's base_url, a profile's): any key that ends in base_url, with its dotted path.
 */
export function configEndpoints(config: Table, prefix = ''): { key: string; url: unknown }[] {
  return Object.entries(config).flatMap(([key, value]) => {
    const dotted = `${prefix}${key}`
    if (isTable(value)) return configEndpoints(value, `${dotted}.`)
    return /base_url$/.test(key) ? [{ key: dotted, url: value }] : []
  })
}

/**
 * The one rule for endpoints, applied to those of a config too: Codex may send the run's
 * credential to any of them (a profile or a later `-c model_provider=` picks one), so each
 * must be a URL, and plain http only on this machine (see checkPlainHttp).
 */
export function checkEndpoints(config: Table, mode: AuthMode, source: string): void {
  for (const { key, url } of configEndpoints(config)) {
    if (typeof url !== 'string' || !URL.canParse(url))
      throw new UserError(`${source} sets ${key}, which is not a URL. Give an address such as ${OPENAI_API_BASE_URL}.`)
    checkPlainHttp(`${source}'s ${key}`, url, {
      secret: CREDENTIAL_INPUT[mode],
      sent: true,
      answers: 'its answers can be forged on the way'
    })
  }
}

/**
 * The Responses API Codex sends an api-key login to with this config: the built-in
 * provider's openai_base_url (else `fallback`), or the base_url of the model provider the
 * config selects. Undefined when that provider does not use the login (no
 * requires_openai_auth): Codex then never sends the key anywhere.
 */
export function loginEndpoint(config: Table, fallback: string): string | undefined {
  const selected = typeof config.model_provider === 'string' ? config.model_provider : 'openai'
  const providers = isTable(config.model_providers) ? config.model_providers : {}
  const provider = isTable(providers[selected]) ? providers[selected] : undefined
  if (selected === 'openai' && !provider)
    return typeof config.openai_base_url === 'string' ? config.openai_base_url.replace(/\/+$/, '') : fallback
  if (provider?.requires_openai_auth !== true || typeof provider.base_url !== 'string') return undefined
  return provider.base_url.replace(/\/+$/, '')
}

/** The `config` input as a table; a TOML error names the line, never echoes the text. */
export function parseUserConfig(text: string): Table {
  if (!text.trim()) return {}
  try {
    return parse(text) as Table
  } catch (error) {
    const where = error instanceof TomlError ? ` at line ${error.line}, column ${error.column}` : ''
    throw new UserError(`config is not valid TOML${where}. Give config.toml settings, for example: model = "o4-mini".`)
  }
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

/** `over` merged into `base`, tables key by key, anything else replaced. */
export function mergeConfig(base: Table, over: Table): Table {
  const out: Table = { ...base }
  for (const [key, value] of Object.entries(over)) {
    out[key] = isTable(value) && isTable(out[key]) ? mergeConfig(out[key] as Table, value) : value
  }
  return out
}

/** A shell_environment_policy pattern: `*` and `?` wildcards, case-insensitive, as Codex matches them. */
function matchesPattern(pattern: unknown, name: string): boolean {
  if (typeof pattern !== 'string') return false
  const source = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('')
  return new RegExp(`^${source}$`, 'i').test(name)
}

function patterns(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

/**
 * Whether a command the model runs inherits the variable `name`, following Codex's
 * shell_environment_policy: inherit (default all; core and none pass no credential
 * variable), the default excludes (skipped unless ignore_default_excludes = false: Codex
 * defaults it to true), exclude, set (which replaces the value), include_only, and the
 * filters table that stands for exclude and include_only.
 */
export function inheritsVariable(config: Table, name: string): boolean {
  const policy = isTable(config.shell_environment_policy) ? config.shell_environment_policy : {}
  if (policy.inherit === 'core' || policy.inherit === 'none') return false
  const filters = isTable(policy.filters) ? Object.entries(policy.filters) : []
  const excludes = [
    ...patterns(policy.exclude),
    ...filters.filter(([, action]) => action === 'exclude').map(([pattern]) => pattern)
  ]
  const includes = [
    ...patterns(policy.include_only),
    ...filters.filter(([, action]) => action === 'include').map(([pattern]) => pattern)
  ]
  if (policy.ignore_default_excludes === false) excludes.push(...DEFAULT_EXCLUDES)
  if (excludes.some((pattern) => matchesPattern(pattern, name))) return false
  if (isTable(policy.set) && name in policy.set) return false
  return includes.length === 0 || includes.some((pattern) => matchesPattern(pattern, name))
}

/**
 * Refuses settings that would undo the login or leave it where the post step cannot
 * remove it: a credential store other than `file`, or a forced_login_method that makes
 * `codex exec` log out and delete auth.json because the credential is of the other kind.
 * Warns when commands the model runs would inherit credential variables, and refuses it
 * when export-env puts the credential among them, unless allow-secret-in-shell says so.
 */
export function checkConfig(config: Table, rules: ConfigRules, source: string): void {
  checkEndpoints(config, rules.mode, source)
  const store = config.cli_auth_credentials_store
  // Absent, Codex uses file.
  if (store !== undefined && store !== 'file') {
    const why = (typeof store === 'string' && REFUSED_STORES[store]) || 'is not a store the action can clean up'
    throw new UserError(
      `${source} sets cli_auth_credentials_store = ${JSON.stringify(store)}, which ${why}. Set it to "file", or remove it.`
    )
  }
  const { mode } = rules
  const forced = config.forced_login_method
  const conflict = (forced === 'chatgpt' && !CHATGPT_MODES.has(mode)) || (forced === 'api' && CHATGPT_MODES.has(mode))
  if (conflict) {
    throw new UserError(
      `${source} sets forced_login_method = "${forced}", but the action logs in with ${mode}: codex would log out and delete auth.json at its first command. ` +
        `Remove forced_login_method, or give the credential it expects (${forced === 'api' ? 'api-key' : 'access-token or auth-json'}).`
    )
  }
  const visible = CREDENTIAL_VARIABLES.filter((name) => inheritsVariable(config, name))
  if (visible.length === 0) return
  // Every listed name holds KEY or TOKEN: it is visible only with the default excludes off.
  const turnedOff =
    isTable(config.shell_environment_policy) && config.shell_environment_policy.ignore_default_excludes === true
  const what =
    `${source} ${turnedOff ? 'sets [shell_environment_policy] ignore_default_excludes = true' : 'does not set [shell_environment_policy] ignore_default_excludes = false'}, ` +
    `so commands the model runs can read variables whose names hold KEY, SECRET or TOKEN, such as ${visible.join(', ')}`
  const fix = `Set ignore_default_excludes = false (or inherit = "core") under [shell_environment_policy] in ${source}`
  const { exported } = rules
  if (exported && visible.includes(exported) && !rules.allowSecretInShell) {
    throw new UserError(
      `${what}, and export-env: true puts the credential in ${exported}: Codex could be steered into printing or sending it. ${fix}, turn export-env off, or set allow-secret-in-shell: true to accept this.`
    )
  }
  core.warning(`${what}. Codex could be steered into printing or sending them. ${fix}.`)
}

/** The settings of an action-owned CODEX_HOME's config.toml: the defaults with the user's settings merged over them. */
export function actionConfig(userConfig: Table, rules: ConfigRules): Table {
  const defaults = rules.restrictedNetwork ? mergeConfig(DEFAULT_CONFIG, QUIET_CONFIG) : DEFAULT_CONFIG
  const merged = mergeConfig(defaults, userConfig)
  checkConfig(merged, rules, 'config')
  return merged
}

/** config.toml's text for those settings. */
export function configText(config: Table): string {
  return `# Written by codex-auth-action; removed by its post step.\n${stringify(config)}\n`
}

/** config.toml for an action-owned CODEX_HOME. */
export function configToml(userConfig: Table, rules: ConfigRules): string {
  return configText(actionConfig(userConfig, rules))
}

/** Reads an existing config.toml the user keeps in their codex-home, for the same checks. */
export function parseExistingConfig(text: string, source: string): Table {
  try {
    return parse(text) as Table
  } catch {
    throw new UserError(`${source} is not valid TOML, so codex would not start. Fix it, or leave codex-home empty.`)
  }
}
