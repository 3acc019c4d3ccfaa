/**
 * The security audit every black-box scenario gets when its Runner is disposed: the
 * secrets it gave the action, and their derived forms, searched for everywhere the job
 * left text; the half states (files under RUNNER_TEMP after the post step, partial
 * tool-cache entries) that must never exist; the user's directories before and after the
 * job; the workflow commands in every step's output; what the CLI was started with; and
 * the processes of dist/ still running when the scenario ends. Figures go to a file that
 * the jest global teardown sums up.
 */
import { createHash } from 'node:crypto'
import { appendFileSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { alive, distProcesses } from './processes.js'
import { waitFor } from './wait.js'

/** Files larger than this are not read: the CLI's binaries in the tool cache, which the action never writes into. */
const MAX_SCANNED_BYTES = 1 << 20

/**
 * The forms a secret could leak in: as it is, base64, URL-encoded, JSON-escaped, and the
 * CLI's first-8/last-5 rendering of a key. Each line of a multi-line value counts too.
 * Forms under 8 characters would match by chance and are left out.
 * @param {string} secret
 * @returns {Map<string, string>} form → name of the form
 */
export function derivedForms(secret) {
  /** @type {Map<string, string>} */
  const forms = new Map()
  const values = [secret, ...secret.split(/\r?\n/).map((l) => l.trim())].filter(Boolean)
  for (const value of new Set(values)) {
    const candidates = [
      [value, 'raw'],
      [Buffer.from(value).toString('base64'), 'base64'],
      [Buffer.from(value).toString('base64url'), 'base64url'],
      [encodeURIComponent(value), 'URL-encoded'],
      [JSON.stringify(value).slice(1, -1), 'JSON-escaped'],
      [`${value.slice(0, 8)}***${value.slice(-5)}`, 'first-8/last-5']
    ]
    for (const [form, name] of candidates) if (form.length >= 8 && !forms.has(form)) forms.set(form, name)
  }
  return forms
}

/**
 * @typedef {{ place: string, text: string }} Place
 * @typedef {{ leaks: string[], halfStates: string[], places: number, forms: number, userState: string[], userPaths: number, commands: string[], commandCount: number, cliEnv: string[], cliCalls: number, processes: string[], helpers: number }} AuditResult
 */

/**
 * Searches every place for every form of every secret.
 * @param {Place[]} places
 * @param {Iterable<string>} secrets
 * @returns {{ leaks: string[], forms: number }}
 */
export function findLeaks(places, secrets) {
  /** @type {string[]} */
  const leaks = []
  let forms = 0
  for (const secret of secrets) {
    const derived = derivedForms(secret)
    forms += derived.size
    for (const { place, text } of places) {
      for (const [form, name] of derived) if (text.includes(form)) leaks.push(`${name} form of a secret in ${place}`)
    }
  }
  return { leaks, forms }
}

/**
 * A step's stdout without its ::add-mask:: lines. Those of the secrets the step was given
 * must come before any other output; a secret the step obtains later (an OIDC token) is
 * masked when it exists.
 * @param {string} stdout
 * @param {Iterable<string>} [given]
 * @returns {{ text: string, lateMask: boolean }}
 */
export function withoutMaskLines(stdout, given = []) {
  const lines = stdout.split('\n')
  const firstOther = lines.findIndex((l) => !l.startsWith('::add-mask::'))
  const early = [...given].flatMap((s) => [s, ...s.split(/\r?\n/).map((l) => l.trim())]).filter(Boolean)
  const lateMask =
    firstOther >= 0 &&
    lines
      .slice(firstOther)
      .some((l) => l.startsWith('::add-mask::') && early.some((s) => l.slice('::add-mask::'.length).includes(s)))
  return { text: lines.filter((l) => !l.startsWith('::add-mask::')).join('\n'), lateMask }
}

/**
 * What a step printed for its reader: stdout without the ::add-mask:: lines, then stderr.
 * @param {{ stdout: string, stderr: string }} result
 */
export function printed(result) {
  return withoutMaskLines(result.stdout).text + result.stderr
}

/**
 * Every regular file below `dir` as a place, except under `skip` and files too large to read.
 * @param {string} dir
 * @param {string} label
 * @param {string[]} skip
 * @returns {Promise<Place[]>}
 */
export async function filePlaces(dir, label, skip = []) {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  /** @type {Place[]} */
  const places = []
  for (const entry of entries) {
    const full = path.join(entry.parentPath ?? /** @type {any} */ (entry).path, entry.name)
    if (!entry.isFile() || skip.some((s) => full === s || full.startsWith(s + path.sep))) continue
    const stat = await fs.stat(full)
    if (stat.size > MAX_SCANNED_BYTES) continue
    places.push({ place: `${label}/${path.relative(dir, full)}`, text: await fs.readFile(full, 'latin1') })
  }
  return places
}

/**
 * Partial entries in a tool cache: staging directories, and versions without their
 * `.complete` marker or markers without their version.
 * @param {string} toolCache
 * @returns {Promise<string[]>}
 */
export async function toolCacheHalfStates(toolCache) {
  /** @type {string[]} */
  const problems = []
  /** @param {string} dir */
  const names = (dir) => fs.readdir(dir).catch(() => /** @type {string[]} */ ([]))
  for (const name of await names(toolCache)) {
    if (name.startsWith('.codex-staging-')) problems.push(`staging directory ${name} left in the tool cache`)
  }
  const codex = path.join(toolCache, 'codex')
  for (const version of await names(codex)) {
    const entries = await names(path.join(codex, version))
    for (const name of entries) {
      const twin = name.endsWith('.complete') ? name.slice(0, -'.complete'.length) : `${name}.complete`
      if (!entries.includes(twin)) problems.push(`tool cache entry codex/${version}/${name} without ${twin}`)
    }
  }
  return problems
}

/**
 * Adds one scenario's figures to the run's tally (under the jest global setup's directory).
 * Under jest without that directory the global setup did not run: the audit would go
 * uncounted, so that fails instead. Scripts outside jest (the benchmark) audit uncounted.
 * @param {Record<string, number>} figures
 */
export function recordFigures(figures) {
  const shared = process.env.CODEX_AUTH_TEST_SHARED
  if (shared) appendFileSync(path.join(shared, 'security-figures.jsonl'), `${JSON.stringify(figures)}\n`)
  else if (process.env.JEST_WORKER_ID !== undefined)
    throw new Error(
      'test bug: the e2e global setup did not run (CODEX_AUTH_TEST_SHARED is unset), so this scenario cannot be audited and counted: run it in the e2e jest project (npx jest --selectProjects e2e <file>)'
    )
}

// ---- Processes: a scenario ends with none of dist/ running.

/** How long a helper may take to go after its scenario's post step: it looks for its stop file every 250 ms. */
const HELPER_EXIT_MS = 3000

/**
 * Lines with which the main step reports each helper it started.
 * @param {string} stdout
 * @returns {number}
 */
export function helpersStarted(stdout) {
  return (stdout.match(/^(Key proxy|OIDC token refresher) started \(pid \d+\)/gm) ?? []).length
}

/**
 * The processes of dist/ started below `root` (a runner's directory) that are still
 * running once they have had time to stop: each is reported, then killed, so that a
 * failed scenario leaves nothing running either.
 * @param {string} root
 * @returns {Promise<string[]>}
 */
export async function auditProcesses(root) {
  await waitFor(() => distProcesses(root).length === 0, HELPER_EXIT_MS)
  const left = distProcesses(root)
  for (const { pid } of left) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Went at the last moment.
    }
  }
  // A signal is delivered, not obeyed on the spot.
  await waitFor(() => !left.some(({ pid }) => alive(pid)), HELPER_EXIT_MS)
  return left.map(
    ({ pid, entry, guard }) =>
      `dist/${entry}${guard ? ' --guard' : ''} (pid ${pid}) still running at the end of the scenario`
  )
}

// ---- "Before = after": what the user had before the job is there, byte for byte, after it.

/**
 * Everything below `dir` (and `dir` itself, as ''), without following links: path → its
 * type, permission bits, and size and SHA-256 (files) or target (links). Empty when `dir`
 * does not exist.
 * @param {string} dir
 * @returns {Promise<Map<string, string>>}
 */
export async function snapshotTree(dir) {
  /** @type {Map<string, string>} */
  const tree = new Map()
  /** @param {string} rel */
  const visit = async (rel) => {
    const full = path.join(dir, rel)
    const stat = await fs.lstat(full).catch(() => undefined)
    if (!stat) return
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0')
    if (stat.isSymbolicLink()) tree.set(rel, `symlink -> ${await fs.readlink(full)}`)
    else if (stat.isFile())
      tree.set(
        rel,
        `file ${mode} ${stat.size} bytes sha256:${createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex')
          .slice(0, 16)}`
      )
    else if (stat.isDirectory()) {
      tree.set(rel, `directory ${mode}`)
      for (const name of (await fs.readdir(full).catch(() => [])).sort()) await visit(path.join(rel, name))
    } else tree.set(rel, `special ${mode}`)
  }
  await visit('')
  return tree
}

/**
 * What differs between two snapshots of one of the user's directories: a path that was
 * there and is gone or different, and (`leftBehind`) one that was not and is there now.
 * @param {string} label
 * @param {Map<string, string>} before
 * @param {Map<string, string>} after
 * @param {{ leftBehind: boolean, keptRoot?: boolean, kept?: Set<string> }} check  `keptRoot`: the directory itself may remain (a named codex-home is kept after the job); `kept`: paths that may change or stay (a ChatGPT sign-in's auth.json)
 * @returns {string[]}
 */
export function compareTrees(label, before, after, check) {
  const name = (/** @type {string} */ rel) => (rel ? `${label}/${rel}` : label)
  /** @type {string[]} */
  const findings = []
  for (const [rel, was] of before) {
    if (check.kept?.has(rel)) continue
    const now = after.get(rel)
    if (now === undefined) findings.push(`${name(rel)} removed (was ${was})`)
    else if (now !== was) findings.push(`${name(rel)} changed (${was} → ${now})`)
  }
  if (check.leftBehind) {
    for (const [rel, now] of after) {
      if (!before.has(rel) && !(rel === '' && check.keptRoot) && !check.kept?.has(rel))
        findings.push(`${name(rel)} left behind (${now})`)
    }
  }
  return findings
}

// ---- Workflow commands: only the action's own may reach the runner.

/** Every command the runner acts on (actions/runner ActionCommandManager), compared case-insensitively. */
const RUNNER_COMMANDS = [
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'debug',
  'warning',
  'error',
  'notice',
  'group',
  'endgroup',
  'echo',
  'stop-commands'
]

/**
 * What src/ issues: core.setSecret, debug, warning, error (setFailed), notice, startGroup
 * and group, and untrusted.ts's stop-commands. Always `::name::data` at the start of a line,
 * never with properties, never in the legacy `##[` form. (Outputs, state, env and path go
 * to the GITHUB_* files.)
 */
const ACTION_COMMANDS = new Set([
  'add-mask',
  'debug',
  'warning',
  'error',
  'notice',
  'group',
  'endgroup',
  'stop-commands'
])

/**
 * Lines the stand-in CLI and the fakes print where the action reads untrusted text: each
 * is a command if it reaches the runner as a line of its own. `::error::` and
 * `::add-mask::` have the shape of the action's own, so only this list tells them apart.
 */
export const SPOOF_LINES = [
  '::warning title=spoof::spoofed annotation',
  '::add-mask::spoofed-mask-value',
  '::set-output name=spoof::spoofed output',
  '##[error]spoofed legacy error',
  '::error::spoofed error',
  '  ::notice::spoofed indented notice'
]

/**
 * One line as the runner reads it (ActionCommand.TryParseV2, then the legacy TryParse):
 * `::name props::data` after leading white space, or `##[name props]data` anywhere in it.
 * @param {string} line
 * @param {Set<string>} registered  lower-case names
 * @returns {{ form: '::' | '##[', name: string, properties: string, data: string, indented: boolean } | undefined}
 */
export function parseCommandLine(line, registered) {
  const trimmed = line.trimStart()
  if (trimmed.startsWith('::')) {
    const end = trimmed.indexOf('::', 2)
    if (end >= 0) {
      const info = trimmed.slice(2, end)
      const space = info.indexOf(' ')
      const name = space < 0 ? info : info.slice(0, space)
      if (registered.has(name.toLowerCase())) {
        return {
          form: '::',
          name,
          properties: space > 0 ? info.slice(space + 1).trim() : '',
          data: trimmed.slice(end + 2),
          indented: trimmed !== line
        }
      }
    }
  }
  const start = line.indexOf('##[')
  const close = start < 0 ? -1 : line.indexOf(']', start)
  if (close < 0) return undefined
  const info = line.slice(start + 3, close)
  const space = info.indexOf(' ')
  const name = space < 0 ? info : info.slice(0, space)
  if (!registered.has(name.toLowerCase())) return undefined
  return {
    form: '##[',
    name,
    properties: space > 0 ? info.slice(space + 1) : '',
    data: line.slice(close + 1),
    indented: start > 0
  }
}

/**
 * Reads one output stream the way the runner does (lines end at CR, LF or CRLF; commands
 * after `::stop-commands::TOKEN` are ignored until `::TOKEN::`), and reports every command
 * the action did not issue itself, and every stop-commands block that is guessable or
 * never closed.
 * @param {string} output
 * @param {string} label
 * @returns {{ commands: number, blocks: number, findings: string[] }}
 */
export function auditCommands(output, label) {
  const registered = new Set(RUNNER_COMMANDS)
  const spoofs = new Set(SPOOF_LINES.map((l) => l.trimStart()))
  /** @type {string[]} */
  const findings = []
  /** @type {Set<string>} */
  const tokens = new Set()
  let stopToken = ''
  let commands = 0
  let blocks = 0
  for (const line of output.split(/\r\n|\r|\n/)) {
    const command = parseCommandLine(line, stopToken ? new Set([...registered, stopToken.toLowerCase()]) : registered)
    if (!command) continue
    const name = command.name.toLowerCase()
    if (stopToken) {
      if (name === stopToken.toLowerCase()) {
        stopToken = ''
        blocks++
      }
      continue
    }
    commands++
    const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)
    if (spoofs.has(line.trimStart()))
      findings.push(`${label}: a spoofed command from untrusted text reached the runner: ${shown}`)
    else if (command.form === '##[')
      findings.push(`${label}: a legacy ##[${command.name}] command the action never issues: ${shown}`)
    else if (!ACTION_COMMANDS.has(name))
      findings.push(`${label}: a ::${command.name}:: command the action never issues: ${shown}`)
    else if (command.properties || command.indented)
      findings.push(
        `${label}: a ::${command.name}:: command with properties or indentation the action never writes: ${shown}`
      )
    if (name !== 'stop-commands') continue
    if (!/^[0-9a-f]{32,}$/i.test(command.data) || tokens.has(command.data))
      findings.push(`${label}: stop-commands with a guessable or reused token: ${shown}`)
    tokens.add(command.data)
    stopToken = command.data || ' '
  }
  if (stopToken) findings.push(`${label}: stop-commands never closed: the runner ignores the step's later commands`)
  return { commands, blocks, findings }
}

// ---- What the CLI was started with: never a secret, in its environment or its argv.

/** The directory, beside a stand-in codex's bin/, where it records each invocation (see fake-package.ts). */
export const CLI_RECORDS = 'cli-records'

/**
 * Searches what the CLI was started with for every form of every secret. Each record is
 * `<name>.argv` and `<name>.env`: NUL-separated (or, without /proc, `env`'s lines).
 * @param {string[]} records  paths without the extension
 * @param {Iterable<string>} secrets
 * @returns {Promise<string[]>}
 */
export async function auditCliRecords(records, secrets) {
  const forms = [...secrets].flatMap((s) => [...derivedForms(s)])
  /** @type {Set<string>} */
  const findings = new Set()
  const split = (/** @type {string} */ text) => text.split(text.includes('\0') ? '\0' : '\n').filter(Boolean)
  for (const record of records) {
    const argv = split(await fs.readFile(`${record}.argv`, 'utf8'))
    const env = split(await fs.readFile(`${record}.env`, 'utf8'))
    const command = `codex ${argv.slice(1).join(' ')}`
    for (const [form, name] of forms) {
      if (argv.some((arg) => arg.includes(form)))
        findings.add(`${name} form of a secret in the CLI's argv (${command})`)
      for (const entry of env)
        if (entry.includes(form))
          findings.add(`${name} form of a secret in the CLI's environment: ${entry.split('=')[0]}`)
    }
  }
  return [...findings]
}
