import { parse } from 'smol-toml'
import { checkConfig, configToml, mergeConfig, parseUserConfig } from '../src/config.js'

test('the defaults: file credentials, no KEY/SECRET/TOKEN variables for commands', () => {
  expect(parse(configToml({}, 'api-key'))).toEqual({ cli_auth_credentials_store: 'file', shell_environment_policy: { ignore_default_excludes: false } })
})

test('the user\'s config is merged over the defaults, table by table', () => {
  const user = parseUserConfig('model = "o4-mini"\n[shell_environment_policy]\ninclude_only = ["PATH", "HOME"]\n[features]\nshell_snapshot = false\n')
  expect(parse(configToml(user, 'api-key'))).toEqual({
    cli_auth_credentials_store: 'file',
    model: 'o4-mini',
    shell_environment_policy: { ignore_default_excludes: false, include_only: ['PATH', 'HOME'] },
    features: { shell_snapshot: false }
  })
  expect(mergeConfig({ a: { b: 1 }, c: [1] }, { a: 2, c: [3] })).toEqual({ a: 2, c: [3] })
})

test('conflicts are refused before any login', () => {
  expect(() => configToml({ forced_login_method: 'chatgpt' }, 'api-key')).toThrow(/forced_login_method = "chatgpt", but the action logs in with api-key/)
  expect(() => configToml({ forced_login_method: 'api' }, 'access-token')).toThrow(/give the credential it expects \(api-key\)/)
  expect(() => configToml({ forced_login_method: 'api' }, 'api-key')).not.toThrow()
  expect(() => configToml({ cli_auth_credentials_store: 'ephemeral' }, 'api-key')).toThrow(/only "file" keeps the login in CODEX_HOME/)
  // "auto" would put a ChatGPT sign-in in the keychain on macOS and Windows runners, out of the post step's reach.
  for (const mode of ['api-key', 'chatgpt'] as const) expect(() => checkConfig({ cli_auth_credentials_store: 'auto' }, mode, 'x')).toThrow(/only "file"/)
  expect(() => checkConfig({ cli_auth_credentials_store: 'file' }, 'chatgpt', 'x')).not.toThrow()
  expect(() => configToml({ forced_login_method: 'api' }, 'chatgpt')).toThrow(/forced_login_method = "api", but the action logs in with chatgpt/)
  expect(() => configToml({ forced_login_method: 'chatgpt' }, 'chatgpt')).not.toThrow()
  expect(() => configToml({ forced_login_method: 'chatgpt' }, 'workload-identity')).toThrow(/access-token or auth-json/)
})

test('invalid TOML names the place, not the text', () => {
  expect(() => parseUserConfig('model = "o3"\nsecret = sk-abc\n')).toThrow(/^config is not valid TOML at line 2, column \d+\./)
  expect(parseUserConfig('  \n')).toEqual({})
})
