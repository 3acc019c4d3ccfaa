import { parse, stringify, TomlError } from 'smol-toml'
import { UserError } from './errors.js'
import type { AuthMode } from './inputs.js'

type Table = Record<string, unknown>

/**
 * What the action's config.toml always says: credentials live in auth.json (a runner has
 * no keyring), and commands the model runs do not inherit variables whose names hold
 * KEY, SECRET or TOKEN, such as CODEX_API_KEY.
 */
export const DEFAULT_CONFIG: Table = {
  cli_auth_credentials_store: 'file',
  shell_environment_policy: { ignore_default_excludes: false }
}

/** The only store that keeps the login inside CODEX_HOME, where the post step removes it ("auto" uses a keychain on macOS and Windows). */
const USABLE_STORES = new Set(['file'])
/** Modes that are ChatGPT sign-ins, as forced_login_method sees them; the others are API credentials. */
const CHATGPT_MODES = new Set<AuthMode>(['access-token', 'chatgpt'])

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

/**
 * Refuses settings that would undo the login: a credential store that does not keep it
 * between steps, or a forced_login_method that makes `codex exec` log out and delete
 * auth.json because the credential is of the other kind.
 */
export function checkConfig(config: Table, mode: AuthMode, source: string): void {
  const store = config.cli_auth_credentials_store
  if (typeof store === 'string' && !USABLE_STORES.has(store)) {
    throw new UserError(`${source} sets cli_auth_credentials_store = "${store}", but only "file" keeps the login in CODEX_HOME, where the post step removes it ("auto" may use the keychain or Credential Manager, "keyring" fails on Linux runners, "ephemeral" keeps nothing between steps). Set it to "file", or remove it.`)
  }
  const forced = config.forced_login_method
  const conflict = (forced === 'chatgpt' && !CHATGPT_MODES.has(mode)) || (forced === 'api' && CHATGPT_MODES.has(mode))
  if (conflict) {
    throw new UserError(
      `${source} sets forced_login_method = "${forced}", but the action logs in with ${mode}: codex would log out and delete auth.json at its first command. ` +
        `Remove forced_login_method, or give the credential it expects (${forced === 'api' ? 'api-key' : 'access-token or auth-json'}).`
    )
  }
}

/** config.toml for an action-owned CODEX_HOME: the defaults with the user's settings merged over them. */
export function configToml(userConfig: Table, mode: AuthMode): string {
  const merged = mergeConfig(DEFAULT_CONFIG, userConfig)
  checkConfig(merged, mode, 'config')
  return `# Written by codex-auth-action; removed by its post step.\n${stringify(merged)}\n`
}

/** Reads an existing config.toml the user keeps in their codex-home, for the same checks. */
export function parseExistingConfig(text: string, source: string): Table {
  try {
    return parse(text) as Table
  } catch {
    throw new UserError(`${source} is not valid TOML, so codex would not start. Fix it, or leave codex-home empty.`)
  }
}
