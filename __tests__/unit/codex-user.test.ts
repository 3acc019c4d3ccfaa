/** codex-user: its input, and the environment Codex's own user gets. */
import { codexEnv } from '../../src/helpers/codex-user/protocol.js'
import { parseCodexUser } from '../../src/inputs/inputs.js'

test.each([
  ['', 'proxy', { kind: 'auto' }],
  ['auto', 'proxy', { kind: 'auto' }],
  // Without the proxy the key is in CODEX_HOME, which Codex's user must read: nothing to gain.
  ['auto', 'none', { kind: 'none' }],
  ['none', 'proxy', { kind: 'none' }],
  ['codex-bot', 'proxy', { kind: 'named', name: 'codex-bot' }]
] as const)('codex-user %j with key-isolation %s', (raw, isolation, expected) => {
  expect(parseCodexUser(raw, isolation)).toEqual(expected)
})

test.each([
  ['Root Name', 'proxy', /must be auto, none or the name of a user/],
  ['codex-bot', 'none', /needs key-isolation: proxy/]
] as const)('codex-user %j with key-isolation %s is refused', (raw, isolation, message) => {
  expect(() => parseCodexUser(raw, isolation)).toThrow(message)
})

test("Codex's user gets no input, state, runner token or command file, and a HOME of its own", () => {
  const env = codexEnv(
    {
      PATH: '/usr/bin',
      'INPUT_API-KEY': 'sk-secret',
      STATE_codex_user: '{}',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'token',
      GITHUB_ENV: '/runner/env',
      github_path: '/runner/path',
      GITHUB_OUTPUT: '/runner/output',
      GITHUB_WORKSPACE: '/work',
      HOME: '/home/runner'
    },
    {
      user: 'codex-1',
      uid: 999,
      gid: 999,
      jobUid: 1001,
      jobGid: 1001,
      sudo: true,
      binary: '/cli/codex',
      setpriv: '/usr/bin/setpriv',
      home: '/tmp/codex-home',
      shares: []
    }
  )
  expect(env).toEqual({
    PATH: '/usr/bin',
    GITHUB_WORKSPACE: '/work',
    HOME: '/tmp/codex-home',
    USER: 'codex-1',
    LOGNAME: 'codex-1'
  })
})
