import { parse } from 'smol-toml'
import {
  backgroundHosts,
  checkConfig,
  configToml,
  inheritsVariable,
  mergeConfig,
  parseUserConfig,
  type ConfigRules
} from '../../src/codex/config.js'

const apiKey: ConfigRules = { mode: 'api-key', allowSecretInShell: false }
const accessToken: ConfigRules = { ...apiKey, mode: 'access-token' }
const rules = (mode: ConfigRules['mode']): ConfigRules => ({ ...apiKey, mode })

test('the defaults: file credentials, no KEY/SECRET/TOKEN variables for commands', () => {
  expect(parse(configToml({}, apiKey))).toEqual({
    cli_auth_credentials_store: 'file',
    shell_environment_policy: { ignore_default_excludes: false }
  })
})

test("where codex-network restricts the jail: Codex's background requests off, unless the user's config turns one on", () => {
  const restricted = { ...apiKey, restrictedNetwork: true }
  const quiet = parse(configToml({}, restricted))
  expect(quiet).toEqual({
    cli_auth_credentials_store: 'file',
    shell_environment_policy: { ignore_default_excludes: false },
    features: { plugins: false },
    analytics: { enabled: false }
  })
  expect(backgroundHosts(quiet)).toEqual([])
  const plugins = parse(configToml(parseUserConfig('[features]\nplugins = true\nshell_snapshot = false\n'), restricted))
  expect(plugins.features).toEqual({ plugins: true, shell_snapshot: false })
  expect(plugins.analytics).toEqual({ enabled: false })
  expect(backgroundHosts(plugins)).toEqual(['github.com:443', 'api.github.com:443', 'chatgpt.com:443'])
  // Codex's defaults (a named home's own config.toml without these settings): all of them.
  expect(backgroundHosts({})).toEqual(['github.com:443', 'api.github.com:443', 'chatgpt.com:443', 'ab.chatgpt.com:443'])
})

test("the user's config is merged over the defaults, table by table", () => {
  const user = parseUserConfig(
    'model = "o4-mini"\n[shell_environment_policy]\ninclude_only = ["PATH", "HOME"]\n[features]\nshell_snapshot = false\n'
  )
  expect(parse(configToml(user, apiKey))).toEqual({
    cli_auth_credentials_store: 'file',
    model: 'o4-mini',
    shell_environment_policy: { ignore_default_excludes: false, include_only: ['PATH', 'HOME'] },
    features: { shell_snapshot: false }
  })
  expect(mergeConfig({ a: { b: 1 }, c: [1] }, { a: 2, c: [3] })).toEqual({ a: 2, c: [3] })
})

test('conflicts are refused before any login', () => {
  expect(() => configToml({ forced_login_method: 'chatgpt' }, apiKey)).toThrow(
    /forced_login_method = "chatgpt", but the action logs in with api-key/
  )
  expect(() => configToml({ forced_login_method: 'api' }, accessToken)).toThrow(
    /give the credential it expects \(api-key\)/
  )
  expect(() => configToml({ forced_login_method: 'api' }, apiKey)).not.toThrow()
  expect(() => checkConfig({ cli_auth_credentials_store: 'auto' }, rules('chatgpt'), 'x')).toThrow(/macOS keychain/)
  expect(() => checkConfig({ cli_auth_credentials_store: 'file' }, rules('chatgpt'), 'x')).not.toThrow()
  expect(() => configToml({ forced_login_method: 'api' }, rules('chatgpt'))).toThrow(
    /forced_login_method = "api", but the action logs in with chatgpt/
  )
  expect(() => configToml({ forced_login_method: 'chatgpt' }, rules('chatgpt'))).not.toThrow()
  expect(() => configToml({ forced_login_method: 'chatgpt' }, rules('workload-identity'))).toThrow(
    /access-token or auth-json/
  )
})

test('only the file credential store may be in effect', () => {
  expect(() => checkConfig({ cli_auth_credentials_store: 'file' }, apiKey, 'x')).not.toThrow()
  expect(() => checkConfig({}, apiKey, 'x')).not.toThrow()
  expect(() => checkConfig({ cli_auth_credentials_store: 'auto' }, apiKey, 'x')).toThrow(
    /macOS keychain or the Windows Credential Manager/
  )
  expect(() => checkConfig({ cli_auth_credentials_store: 'keyring' }, apiKey, 'x')).toThrow(
    /OS keyring, outside CODEX_HOME/
  )
  expect(() => checkConfig({ cli_auth_credentials_store: 'ephemeral' }, apiKey, 'x')).toThrow(/in memory only/)
  expect(() => checkConfig({ cli_auth_credentials_store: 'File' }, apiKey, 'x')).toThrow(
    /"File", which is not a store the action can clean up/
  )
  expect(() => checkConfig({ cli_auth_credentials_store: 1 }, apiKey, 'x')).toThrow(/= 1, which is not a store/)
})

test.each([
  // [shell_environment_policy] as TOML, the variable, whether commands the model runs inherit it
  ['', 'CODEX_API_KEY', true], // Codex's default: ignore_default_excludes = true
  ['ignore_default_excludes = false', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = false', 'CODEX_ACCESS_TOKEN', false],
  ['ignore_default_excludes = false\ninherit = "all"', 'GITHUB_TOKEN', false],
  ['ignore_default_excludes = true', 'CODEX_ACCESS_TOKEN', true],
  ['ignore_default_excludes = true\ninherit = "core"', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\ninherit = "none"', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\nexclude = ["codex_*"]', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\nexclude = ["CODEX_?PI_KEY"]', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\nexclude = ["CODEX_API_KE"]', 'CODEX_API_KEY', true],
  ['ignore_default_excludes = true\ninclude_only = ["PATH", "HOME"]', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\ninclude_only = ["*"]', 'CODEX_API_KEY', true],
  ['ignore_default_excludes = true\nset = { CODEX_API_KEY = "none" }', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\nfilters = { "*KEY*" = "exclude" }', 'CODEX_API_KEY', false],
  ['ignore_default_excludes = true\nfilters = { "PATH" = "include" }', 'CODEX_ACCESS_TOKEN', false],
  ['ignore_default_excludes = true\nexclude = ["(.*"]', 'CODEX_API_KEY', true]
])('[shell_environment_policy] %j: %s inherited = %s', (policy, name, inherited) => {
  expect(inheritsVariable(parseUserConfig(`[shell_environment_policy]\n${policy}\n`), name)).toBe(inherited)
})

test('invalid TOML names the place, not the text', () => {
  expect(() => parseUserConfig('model = "o3"\nsecret = sk-abc\n')).toThrow(
    /^config is not valid TOML at line 2, column \d+\./
  )
  expect(parseUserConfig('  \n')).toEqual({})
})
