import { platformFor } from '../../src/install/platform.js'

test.each([
  ['linux', 'x64', 'linux-x64', 'x86_64-unknown-linux-musl', 'codex'],
  ['linux', 'arm64', 'linux-arm64', 'aarch64-unknown-linux-musl', 'codex'],
  ['darwin', 'x64', 'darwin-x64', 'x86_64-apple-darwin', 'codex'],
  ['darwin', 'arm64', 'darwin-arm64', 'aarch64-apple-darwin', 'codex'],
  ['win32', 'x64', 'win32-x64', 'x86_64-pc-windows-msvc', 'codex.exe'],
  ['win32', 'arm64', 'win32-arm64', 'aarch64-pc-windows-msvc', 'codex.exe']
])('%s/%s', (os, arch, npmSuffix, triple, exe) => {
  expect(platformFor(os, arch)).toEqual({ npmSuffix, triple, exe, arch })
})

test.each([
  ['linux', 'ia32'],
  ['freebsd', 'x64'],
  ['linux', 's390x'],
  ['aix', 'ppc64']
])('%s/%s is a clear error', (os, arch) => {
  expect(() => platformFor(os, arch)).toThrow(`The Codex CLI is not published for ${os}/${arch}`)
})
