/**
 * Platform packages shaped like `@openai/codex@<v>-<os>-<cpu>`, built in the test, with a
 * small shell-script `codex` that answers --version and stores a login the way the real
 * one does. They make install faults cheap to test; the real CLI is tested elsewhere.
 */
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { create } from 'tar'
import { CLI_RECORDS, SPOOF_LINES } from './audit.js'
import { FakeRegistry } from './fake-registry.js'
import { type TestRunners, useRunners } from './lifecycle.js'
import type { Runner } from './runner.js'
import type { TlsIdentity } from './servers.js'

export const HOST_TRIPLE: string =
  (
    {
      'linux-x64': 'x86_64-unknown-linux-musl',
      'linux-arm64': 'aarch64-unknown-linux-musl',
      'darwin-x64': 'x86_64-apple-darwin',
      'darwin-arm64': 'aarch64-apple-darwin'
    } as Record<string, string>
  )[`${process.platform}-${process.arch}`] ?? 'unsupported'

export const HOST_SUFFIX = `${process.platform}-${process.arch}`

export function fakeCodexScript(version: string): string {
  return `#!/bin/sh
# A stand-in for the Codex CLI: enough of its login behaviour for install tests.
case "$1" in
  --version) echo "codex-cli ${version}" ;;
  login)
    case "$2" in
      status) [ -s "$CODEX_HOME/auth.json" ] || { echo "Not logged in" >&2; exit 1; } ;;
      --with-api-key|--with-access-token)
        umask 077
        read -r secret
        [ -n "$secret" ] || { echo "No credential provided via stdin." >&2; exit 1; }
        printf '{"secret":"%s"}' "$secret" > "$CODEX_HOME/auth.json" ;;
      *) exit 2 ;;
    esac ;;
  *) exit 2 ;;
esac
`
}

export interface PackageOptions {
  version: string
  triple?: string
  /** Leave out vendor/<triple>/bin/codex. */
  withoutBinary?: boolean
  /** The `bin/codex` script, instead of fakeCodexScript(version). */
  codexScript?: string
  /** Add a file of this many zero bytes (it compresses to almost nothing). */
  paddingBytes?: number
}

/** A gzipped npm tarball with `package/vendor/<triple>/{bin,codex-path,codex-resources}`. */
export async function buildPackage(options: PackageOptions): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex-fake-package-'))
  try {
    const vendor = path.join(dir, 'package', 'vendor', options.triple ?? HOST_TRIPLE)
    await fs.mkdir(path.join(vendor, 'bin'), { recursive: true })
    await fs.mkdir(path.join(vendor, 'codex-path'), { recursive: true })
    await fs.mkdir(path.join(vendor, 'codex-resources'), { recursive: true })
    await fs.writeFile(
      path.join(dir, 'package', 'package.json'),
      JSON.stringify({ name: '@openai/codex', version: `${options.version}-${HOST_SUFFIX}` })
    )
    await fs.writeFile(path.join(vendor, 'codex-path', 'rg'), '#!/bin/sh\necho rg\n', { mode: 0o755 })
    await fs.writeFile(path.join(vendor, 'codex-resources', 'README'), 'resources\n')
    if (options.paddingBytes)
      await fs.writeFile(path.join(vendor, 'codex-resources', 'padding'), Buffer.alloc(options.paddingBytes))
    if (!options.withoutBinary) {
      await fs.writeFile(path.join(vendor, 'bin', 'codex'), options.codexScript ?? fakeCodexScript(options.version), {
        mode: 0o755
      })
      await fs.writeFile(path.join(vendor, 'bin', 'codex-code-mode-host'), '#!/bin/sh\n', { mode: 0o755 })
    }
    const chunks: Buffer[] = []
    for await (const chunk of create({ gzip: true, cwd: dir, portable: true }, ['package']))
      chunks.push(Buffer.from(chunk as Buffer))
    return Buffer.concat(chunks)
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

/**
 * A stand-in codex whose login always fails and prints the key back, raw, in the CLI's
 * first-8/last-5 form and in base64: what the action's redaction must catch.
 */
export function rejectingCodexScript(): string {
  return fakeCodexScript('1.0.0').replace(
    '--with-api-key|--with-access-token)',
    '--with-api-key|--with-access-token)\n        read -r s; echo "Error: key $s ${s%%${s#????????}}***${s#${s%?????}} was rejected" >&2; printf %s "$s" | base64 >&2; exit 1 ;;\n      --never)'
  )
}

/**
 * A stand-in codex whose failed login prints workflow commands (SPOOF_LINES) on stdout and
 * stderr and into codex-login.log: the command audit fails if any reaches the runner.
 */
export function spoofingCodexScript(): string {
  const spoofs = SPOOF_LINES.map((line) => `printf '%s\\n' '${line}'`).join('; ')
  return fakeCodexScript('1.0.0').replace(
    '--with-api-key|--with-access-token)',
    `--with-api-key|--with-access-token)\n        mkdir -p "$CODEX_HOME/log"; { ${spoofs}; } | tee -a "$CODEX_HOME/log/codex-login.log" >&2; { ${spoofs}; }; exit 1 ;;\n      --never)`
  )
}

/** A stand-in codex whose login hangs, for a main step the runner kills. */
export function hangingCodexScript(): string {
  return fakeCodexScript('1.0.0').replace(
    '--with-api-key|--with-access-token)',
    '--with-api-key|--with-access-token)\n        sleep 20 ;;\n      --never)'
  )
}

/**
 * Puts a stand-in codex in a directory of the runner's; returns the environment that puts
 * it first on PATH, for a main step with install: false. It first records its argv and its
 * environment (as the OS gave them) in `<root>/cli-records/` for the runner's
 * CLI-environment audit; the path is in the script, so it needs no variable of its own.
 */
export async function standInCodex(
  root: string,
  script = fakeCodexScript('1.0.0')
): Promise<{ bin: string; env: Record<string, string> }> {
  const bin = path.join(root, 'bin')
  const records = path.join(root, CLI_RECORDS)
  await fs.mkdir(bin, { recursive: true })
  await fs.mkdir(records, { recursive: true })
  // A CLI run by another user (a test's job user) records its calls too; one in Codex's jail
  // cannot see the records (the runner's directories are not shown there) and records nothing.
  await fs.chmod(records, 0o1777)
  const record = [
    `if rec=$(mktemp '${records}/call-XXXXXX' 2>/dev/null); then`,
    `  printf '%s\\0' "$0" "$@" > "$rec.argv"`,
    '  if [ -r /proc/$$/environ ]; then cat /proc/$$/environ; else env; fi > "$rec.env"',
    'fi',
    ''
  ].join('\n')
  await fs.writeFile(
    path.join(bin, 'codex'),
    script.replace(/^#!.*\n/, (shebang) => shebang + record),
    { mode: 0o755 }
  )
  return { bin, env: { PATH: `${bin}${path.delimiter}${process.env.PATH}` } }
}

/** A started fake registry whose `latest` is one fake release for this platform. */
export async function registryWithRelease(version: string, tls?: TlsIdentity): Promise<FakeRegistry> {
  const registry = await new FakeRegistry(tls).start()
  registry.publish(version, HOST_SUFFIX, await buildPackage({ version }))
  registry.distTags.latest = version
  return registry
}

/** One test's runner and the environment that puts the stand-in codex first on its PATH. */
export interface StandInJob {
  runner: Runner
  codexEnv: Record<string, string>
  /** The file's lifecycle: more runners, and servers stopped after the test. */
  runners: TestRunners
}

/**
 * For a test file whose tests run the action against the stand-in codex: each test gets a
 * fresh Runner, disposed (and so audited) after it (see lifecycle.ts). Read `job.runner`
 * inside the tests.
 */
export function standInJobs(): StandInJob {
  const runners = useRunners()
  const job = { runners } as StandInJob
  beforeEach(async () => {
    job.runner = await runners.create()
    job.codexEnv = (await standInCodex(job.runner.root)).env
  })
  return job
}
