/**
 * A stand-in for the GitHub Actions runner: runs the bundled dist/ as a child process
 * with INPUT_* variables (action.yml's defaults filled in) and the GITHUB_* command files,
 * reads back what the step wrote, applies GITHUB_ENV and GITHUB_PATH to later steps, and
 * hands the saved state to the post step as STATE_*.
 */
import { spawn } from 'node:child_process'
import { promises as fs, readFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import {
  auditCliRecords,
  auditCommands,
  auditProcesses,
  CLI_RECORDS,
  compareTrees,
  filePlaces,
  findLeaks,
  helpersStarted,
  recordFigures,
  snapshotTree,
  toolCacheHalfStates,
  withoutMaskLines
} from './audit.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** @type {{ inputs: Record<string, { default?: string, description: string, required?: boolean }>, outputs: Record<string, { description: string }> }} */
export const actionYml = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))

/** Inputs whose values are secrets: the audit searches for every line of them. */
const SECRET_INPUTS = ['api-key', 'access-token', 'registry-token', 'auth-json', 'persist-token', 'bedrock-api-key']

/** Variables a child needs from this machine: tools, and the trust store of its TLS-intercepting proxy. */
const PASSED_THROUGH = [
  'PATH',
  'HOME',
  'LANG',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'SYSTEMROOT',
  'TMPDIR'
]

/**
 * @param {{ withCa?: boolean }} [options]
 * @returns {Record<string, string>}
 */
export function machineEnv(options = {}) {
  /** @type {Record<string, string>} */
  const env = {}
  for (const name of PASSED_THROUGH) {
    if (!options.withCa && name !== 'PATH' && name !== 'HOME' && /CERT/.test(name)) continue
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

/**
 * @typedef {{ exitCode: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, timedOut: boolean }} ProcessResult
 * @typedef {{ env: Record<string, string>, input?: string, timeoutMs?: number, cwd?: string }} RunOptions
 */

/**
 * Runs a command to the end (or its timeout, then SIGKILL), collecting its output.
 * @param {string} command
 * @param {string[]} args
 * @param {RunOptions} options
 * @returns {Promise<ProcessResult>}
 */
export function runProcess(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (chunk) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer)
      resolve({ exitCode, signal, stdout, stderr, timedOut })
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Reads a file-command file: `name=value` lines and `name<<DELIM` … `DELIM` blocks.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseCommandFile(text) {
  /** @type {Record<string, string>} */
  const values = {}
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (!line) continue
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1)
      values[heredoc[1]] = lines.slice(i + 1, end).join('\n')
      i = end
    } else {
      const eq = line.indexOf('=')
      values[line.slice(0, eq)] = line.slice(eq + 1)
    }
  }
  return values
}

/**
 * @typedef {ProcessResult & {
 *   outputs: Record<string, string>, exported: Record<string, string>, paths: string[],
 *   state: Record<string, string>, summary: string, errors: string[], cliRecords: string[]
 * }} StepResult  `errors` holds the `::error::` lines the step printed; `cliRecords` the
 *   invocations of a stand-in codex during the step (see fake-package.ts standInCodex).
 * @typedef {{ toolCache?: string, withCa?: boolean, launcher?: string[], node?: string, parent?: string, actionDir?: string, owner?: { uid: number, gid: number } }} RunnerOptions
 *   `toolCache`: one to share between runners (a self-hosted machine), default a fresh one;
 *   `withCa`: pass this machine's CA variables to the action (default true); `launcher`: a
 *   command that runs node for the steps (the benchmark's /usr/bin/time), default none;
 *   `node`: the Node.js binary that runs the steps, default CODEX_AUTH_TEST_NODE or the one
 *   running the tests; `parent`: the directory the runner's own is made in, default the OS's
 *   temporary directory; `actionDir`: where the action's files are (a copy the job's user owns,
 *   as on a hosted runner), default this checkout; `owner`: the user the launcher runs the
 *   steps as, who then owns each step's command files.
 */

export class Runner {
  /** @type {Record<string, string>} what the steps wrote to GITHUB_ENV */
  exported = {}
  /** @type {string[]} what the steps wrote to GITHUB_PATH, newest first */
  paths = []
  /** @type {Record<string, string>} */
  #state = {}
  #stepCount = 0
  #options
  /** @type {Set<string>} every secret the audit searches for: those given as inputs, and any a test adds (tokens obtained during a step) */
  canaries = new Set()
  /** @type {Set<string>} the secrets given as inputs: their ::add-mask:: lines must come first */
  #given = new Set()
  /** @type {Set<string>} files a credential may stay in after the post step: a named codex-home's auth.json, the one documented exception */
  keptCredentials = new Set()
  /** @type {Record<string, string>} the INPUT_* variables of the last main step, which the runner gives its post step too */
  #inputEnv = {}
  /** @type {{ kind: 'main' | 'post', result: StepResult, exportEnv: boolean, codexHome?: string, tokenDir?: string }[]} */
  #steps = []
  /** @type {Map<string, { label: string, tree: Map<string, string> }>} the user's directories as they were before the first step that could touch them */
  #before = new Map()

  /**
   * @param {string} root
   * @param {string} temp
   * @param {string} toolCache
   * @param {string} workspace
   * @param {RunnerOptions} options
   */
  constructor(root, temp, toolCache, workspace, options) {
    this.root = root
    this.temp = temp
    this.toolCache = toolCache
    this.workspace = workspace
    /** The steps' HOME: the runner's own, so that the real one is never touched or scanned. */
    this.home = path.join(root, 'user-home')
    this.#options = options
  }

  /**
   * @param {RunnerOptions} [options]
   * @returns {Promise<Runner>}
   */
  static async create(options = {}) {
    const root = await fs.mkdtemp(path.join(options.parent ?? os.tmpdir(), 'codex-auth-runner-'))
    const temp = path.join(root, 'temp')
    const workspace = path.join(root, 'workspace')
    const toolCache = options.toolCache ?? path.join(root, 'tool-cache')
    for (const dir of [temp, workspace, toolCache]) await fs.mkdir(dir, { recursive: true })
    const runner = new Runner(root, temp, toolCache, workspace, options)
    // Something of the user's in each, for the before = after audit.
    await fs.mkdir(path.join(runner.home, '.config'), { recursive: true })
    await fs.writeFile(path.join(runner.home, '.profile'), 'export EDITOR=vi\n', { mode: 0o644 })
    await fs.writeFile(path.join(workspace, 'README.md'), '# checked out\n')
    return runner
  }

  /**
   * The environment every step starts from, before GITHUB_ENV and GITHUB_PATH are applied.
   * @returns {Record<string, string>}
   */
  #baseEnv() {
    return {
      ...machineEnv({ withCa: this.#options.withCa ?? true }),
      HOME: this.home,
      GITHUB_ACTIONS: 'true',
      CI: 'true',
      RUNNER_OS: 'Linux',
      RUNNER_TEMP: this.temp,
      RUNNER_TOOL_CACHE: this.toolCache,
      GITHUB_WORKSPACE: this.workspace,
      GITHUB_EVENT_NAME: 'push'
    }
  }

  /**
   * The environment of a later `run:` step: GITHUB_ENV applied, GITHUB_PATH prepended.
   * @param {Record<string, string>} [extra]
   * @returns {Record<string, string>}
   */
  stepEnv(extra = {}) {
    const env = { ...this.#baseEnv(), ...this.exported, ...extra }
    env.PATH = [...this.paths, env.PATH].join(path.delimiter)
    return env
  }

  /**
   * Runs the main step with the given inputs (others take action.yml's defaults).
   * @param {Record<string, string>} inputs
   * @param {Record<string, string>} [extraEnv]
   * @param {number} [timeoutMs]
   * @returns {Promise<StepResult>}
   */
  async main(inputs, extraEnv = {}, timeoutMs) {
    for (const name of Object.keys(inputs)) {
      if (!(name in actionYml.inputs)) throw new Error(`test bug: action.yml has no input ${name}`)
    }
    // A new main step is a new job: the runner ran the last one's post step (post-if: always()).
    if (this.#steps.at(-1)?.kind === 'main') await this.post()
    const env = this.stepEnv(extraEnv)
    this.#inputEnv = {}
    for (const [name, spec] of Object.entries(actionYml.inputs)) {
      this.#inputEnv[`INPUT_${name.toUpperCase()}`] = inputs[name] ?? spec.default ?? ''
    }
    Object.assign(env, this.#inputEnv)
    for (const name of SECRET_INPUTS) {
      if (!inputs[name]?.trim()) continue
      this.canaries.add(inputs[name])
      this.#given.add(inputs[name])
    }
    const named = inputs['codex-home']
    for (const [label, dir] of [
      ['workspace', this.workspace],
      ['HOME', this.home],
      ['codex-home', named]
    ]) {
      if (dir && path.isAbsolute(dir) && !this.#before.has(dir))
        this.#before.set(dir, { label, tree: await snapshotTree(dir) })
    }
    const result = await this.#step(
      path.join(this.#options.actionDir ?? ROOT, 'dist', 'main', 'index.js'),
      env,
      timeoutMs
    )
    this.#state = { ...this.#state, ...result.state }
    const codexHome = result.outputs['codex-home'] || inputs['codex-home']
    const tokenDir = result.exported.OPENAI_IDENTITY_TOKEN_FILE
      ? path.dirname(result.exported.OPENAI_IDENTITY_TOKEN_FILE)
      : undefined
    this.#steps.push({
      kind: 'main',
      result,
      exportEnv: /^true$/i.test(inputs['export-env'] ?? ''),
      codexHome,
      tokenDir
    })
    return result
  }

  /**
   * Runs the post step with the state the main step saved and, as the runner does, the
   * main step's inputs.
   * @param {Record<string, string>} [extraEnv]
   * @returns {Promise<StepResult>}
   */
  async post(extraEnv = {}) {
    const env = { ...this.stepEnv(extraEnv), ...this.#inputEnv }
    for (const [name, value] of Object.entries(this.#state)) env[`STATE_${name}`] = value
    const result = await this.#step(path.join(this.#options.actionDir ?? ROOT, 'dist', 'post', 'index.js'), env)
    this.#steps.push({ kind: 'post', result, exportEnv: false })
    return result
  }

  /**
   * A later `run:` step: a command with the exported environment.
   * @param {string} command
   * @param {string[]} args
   * @param {{ env?: Record<string, string>, input?: string, timeoutMs?: number }} [options]
   * @returns {Promise<ProcessResult>}
   */
  async run(command, args, options = {}) {
    return runProcess(command, args, {
      env: this.stepEnv(options.env),
      input: options.input,
      timeoutMs: options.timeoutMs,
      cwd: this.workspace
    })
  }

  /**
   * Runs `fn`, a step of the job's own (a workflow's `run:` step, which may run Codex), and
   * credits to the user what it changed in the user's directories (the workspace, HOME): the
   * audit then holds the action to what it did around such steps, as the runner would.
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async userStep(fn) {
    /** @type {Map<string, Map<string, string>>} */
    const before = new Map()
    for (const dir of this.#before.keys()) before.set(dir, await snapshotTree(dir))
    const temp = new Set(await fs.readdir(this.temp))
    try {
      return await fn()
    } finally {
      // Files the step itself wrote into RUNNER_TEMP (its own scratch files) are its own.
      for (const entry of await fs.readdir(this.temp, { withFileTypes: true }))
        if (entry.isFile() && !temp.has(entry.name)) this.#userTemp.add(entry.name)
      for (const [dir, baseline] of this.#before) {
        const was = /** @type {Map<string, string>} */ (before.get(dir))
        const now = await snapshotTree(dir)
        for (const [rel, entry] of now) if (was.get(rel) !== entry) baseline.tree.set(rel, entry)
        for (const rel of was.keys()) if (!now.has(rel)) baseline.tree.delete(rel)
      }
    }
  }

  /**
   * @param {string} script
   * @param {Record<string, string>} env
   * @param {number} [timeoutMs]
   * @returns {Promise<StepResult>}
   */
  async #step(script, env, timeoutMs) {
    const dir = path.join(this.root, 'steps', String(++this.#stepCount))
    await fs.mkdir(dir, { recursive: true })
    const files = {
      GITHUB_OUTPUT: path.join(dir, 'output'),
      GITHUB_ENV: path.join(dir, 'env'),
      GITHUB_PATH: path.join(dir, 'path'),
      GITHUB_STATE: path.join(dir, 'state'),
      GITHUB_STEP_SUMMARY: path.join(dir, 'summary')
    }
    for (const file of Object.values(files)) await fs.writeFile(file, '')
    const owner = this.#options.owner
    if (owner) for (const file of [dir, ...Object.values(files)]) await fs.chown(file, owner.uid, owner.gid)
    this.#stepFiles.push(files)
    const node = this.#options.node ?? process.env.CODEX_AUTH_TEST_NODE ?? process.execPath
    const [command, ...args] = [...(this.#options.launcher ?? []), node, script]
    const records = await this.#cliRecords()
    const result = await runProcess(command, args, { env: { ...env, ...files }, timeoutMs, cwd: this.workspace })
    const cliRecords = (await this.#cliRecords()).filter((r) => !records.includes(r))
    const read = (/** @type {string} */ file) => readFileSync(file, 'utf8')
    const exported = parseCommandFile(read(files.GITHUB_ENV))
    const paths = read(files.GITHUB_PATH).split(/\r?\n/).filter(Boolean)
    Object.assign(this.exported, exported)
    this.paths.unshift(...[...paths].reverse())
    return {
      ...result,
      outputs: parseCommandFile(read(files.GITHUB_OUTPUT)),
      exported,
      paths,
      state: parseCommandFile(read(files.GITHUB_STATE)),
      summary: read(files.GITHUB_STEP_SUMMARY),
      errors: result.stdout.split(/\r?\n/).filter((line) => line.startsWith('::error::')),
      cliRecords
    }
  }

  /**
   * The invocations a stand-in codex recorded so far (each `<record>.argv` and `<record>.env`).
   * @returns {Promise<string[]>}
   */
  async #cliRecords() {
    const dir = path.join(this.root, CLI_RECORDS)
    const names = await fs.readdir(dir).catch(() => /** @type {string[]} */ ([]))
    return names.filter((n) => n.endsWith('.env')).map((n) => path.join(dir, n.slice(0, -'.env'.length)))
  }

  /**
   * Every file below RUNNER_TEMP, relative to it.
   * @returns {Promise<string[]>}
   */
  async tempFiles() {
    return listFiles(this.temp)
  }

  /** @type {Set<string>} files directly in RUNNER_TEMP that a step of the job's own wrote (userStep) */
  #userTemp = new Set()

  /** @type {Record<string, string>[]} the command files of each step, in order */
  #stepFiles = []

  /**
   * Searches everything the job left (each step's output and command files, RUNNER_TEMP,
   * the workspace, the tool cache) for the secrets it was given, and checks for half
   * states. Allowed: the ::add-mask:: lines (first in the output), GITHUB_ENV of a main
   * step with export-env, and CODEX_HOME while no post step has run after the login.
   * Then compares the user's directories with what they held before (after a post step,
   * nothing of the action's may remain in them either), parses every step's output for
   * commands the action did not issue, and searches what the CLI was started with. First
   * of all, it looks for processes of dist/ the job left running (and ends them).
   * @returns {Promise<import('./audit.js').AuditResult>}
   */
  async audit() {
    const processes = await auditProcesses(this.root)
    /** @type {import('./audit.js').Place[]} */
    const places = []
    const halfStates = []
    this.#steps.forEach(({ kind, result, exportEnv }, i) => {
      const label = `step ${i + 1} (${kind})`
      const { text, lateMask } = withoutMaskLines(result.stdout, this.#given)
      if (lateMask) halfStates.push(`${label} printed ::add-mask:: after other output`)
      places.push({ place: `${label} stdout`, text }, { place: `${label} stderr`, text: result.stderr })
      const files = this.#stepFiles[i]
      for (const [name, file] of Object.entries(files)) {
        if (name === 'GITHUB_ENV' && exportEnv) continue
        places.push({ place: `${label} ${name}`, text: readFileSync(file, 'utf8') })
      }
    })
    const last = this.#steps.at(-1)
    // What a job holds while it runs (auth.json in CODEX_HOME, the OIDC token file) until a post step.
    const loggedIn =
      last?.kind === 'main'
        ? this.#steps.flatMap((s) => [s.codexHome, s.tokenDir]).filter((p) => typeof p === 'string')
        : []
    // Everything under the runner's directories (RUNNER_TEMP, the workspace, a codex-home
    // the test named, the tool cache) but the step files, read above.
    places.push(
      ...(await filePlaces(this.root, 'runner', [
        path.join(this.root, 'steps'),
        path.join(this.root, CLI_RECORDS),
        ...loggedIn,
        ...this.keptCredentials
      ]))
    )
    if (!this.toolCache.startsWith(this.root)) places.push(...(await filePlaces(this.toolCache, 'tool cache')))
    if (last?.kind === 'post') {
      for (const file of await this.tempFiles())
        if (!this.#userTemp.has(file)) halfStates.push(`RUNNER_TEMP/${file} left after the post step`)
    }
    halfStates.push(...(await toolCacheHalfStates(this.toolCache)))
    const { leaks, forms } = findLeaks(places, this.canaries)

    /** @type {string[]} */
    const userState = []
    let userPaths = 0
    for (const [dir, { label, tree }] of this.#before) {
      userPaths += tree.size
      // A named home's auth.json may stay, changed or new: the one documented exception.
      const kept = new Set([...this.keptCredentials].map((file) => path.relative(dir, file)))
      userState.push(
        ...compareTrees(label, tree, await snapshotTree(dir), {
          leftBehind: last?.kind === 'post',
          keptRoot: label === 'codex-home',
          kept
        })
      )
    }
    /** @type {string[]} */
    const commands = []
    let commandCount = 0
    this.#steps.forEach(({ kind, result }, i) => {
      for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
        const found = auditCommands(result[stream], `step ${i + 1} (${kind}) ${stream}`)
        commandCount += found.commands
        commands.push(...found.findings)
      }
    })
    const cliRecords = this.#steps.flatMap((s) => s.result.cliRecords)
    const cliEnv = await auditCliRecords(cliRecords, this.canaries)
    return {
      leaks,
      halfStates,
      places: places.length,
      forms,
      userState,
      userPaths,
      commands,
      commandCount,
      cliEnv,
      cliCalls: cliRecords.length,
      processes,
      helpers: this.#steps.reduce((n, s) => n + (s.kind === 'main' ? helpersStarted(s.result.stdout) : 0), 0)
    }
  }

  /**
   * Audits the job, adds its figures to the run's, then deletes the runner's directories.
   * Fails when the audit finds anything, and when it cannot run or be counted. A runner
   * that ran no step only has its processes looked for.
   */
  async dispose() {
    try {
      if (!this.#steps.length) {
        const processes = await auditProcesses(this.root)
        if (processes.length) throw new Error(`security audit failed:\n${processes.join('\n')}`)
        return
      }
      // The runner always runs the post step (post-if: always()): a test that stopped after
      // a main step gets it here, so the audit sees the job as it ends.
      if (this.#steps.at(-1)?.kind === 'main') await this.post()
      const audit = await this.audit()
      const { leaks, halfStates, userState, commands, cliEnv, processes } = audit
      recordFigures({
        scenarios: 1,
        steps: this.#steps.length,
        failedMainSteps: this.#steps.filter((s) => s.kind === 'main' && s.result.exitCode !== 0).length,
        canaries: this.canaries.size,
        forms: audit.forms,
        places: audit.places,
        searches: audit.forms * audit.places,
        leaks: leaks.length,
        halfStates: halfStates.length,
        userPaths: audit.userPaths,
        userState: userState.length,
        commands: audit.commandCount,
        commandFindings: commands.length,
        cliCalls: audit.cliCalls,
        cliEnv: cliEnv.length,
        helpers: audit.helpers,
        processesLeft: processes.length
      })
      const problems = [...leaks, ...halfStates, ...userState, ...commands, ...cliEnv, ...processes]
      if (problems.length) throw new Error(`security audit failed:\n${problems.join('\n')}`)
    } finally {
      await fs.rm(this.root, { recursive: true, force: true })
    }
  }
}

/**
 * Every file and directory below `dir`, relative to it, sorted; none when it does not exist.
 * @param {string} dir
 * @returns {Promise<string[]>}
 */
export async function listFiles(dir) {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  // Node 20.12 named it parentPath; earlier 20.x only path.
  return entries.map((e) => path.relative(dir, path.join(e.parentPath ?? /** @type {any} */ (e).path, e.name))).sort()
}
