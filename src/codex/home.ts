import { promises as fs, type Stats } from 'node:fs'
import * as path from 'node:path'
import { type CreatedPaths } from '../job/created-paths.js'
import { UserError } from '../job/errors.js'
import {
  isInside,
  lstatOrUndefined,
  makeDirs,
  makePrivateDir,
  realPathOf,
  runnerTemp,
  unusableHome,
  writePrivateFile
} from '../job/files.js'
import { OPENAI_API_BASE_URL } from '../net/endpoint.js'
import {
  actionConfig,
  checkConfig,
  configText,
  loginEndpoint,
  parseExistingConfig,
  type ConfigRules
} from './config.js'

/**
 * A CODEX_HOME ready for login. The CLI itself runs only in a home the action owns, so a
 * home the user names never receives the CLI's lock files, logs or helper binaries: the
 * action writes the login's auth.json there itself.
 */
export interface CodexHome {
  /** The CODEX_HOME later steps use: the user's `codex-home`, or the action's own. */
  dir: string
  /** Where the action runs the CLI: a private directory under RUNNER_TEMP (`dir` itself when no home is named). */
  cliDir: string
  /** Where Codex sends an api-key login with this home's config (verify checks it there); undefined: nowhere. */
  loginEndpoint?: string
  /** The settings Codex reads in `dir`: the action's config.toml, or a named home's own. */
  config: Record<string, unknown>
}

/**
 * What the action adds to a codex-home the user names, and the post step removes: the
 * login, and the directory where `codex exec` keeps snapshots of the environment (the key
 * included, after a kill). A named home that already holds one is refused, because the
 * action never overwrites or removes what it did not create.
 */
const ADDED_TO_NAMED_HOME = ['auth.json', 'shell_snapshots']
/** What the CLI writes in its home; a planted link at one would send the credential elsewhere. */
const LINK_CHECKED = ['auth.json', 'config.toml', 'log', 'shell_snapshots']

/**
 * Creates the action's own CODEX_HOME under RUNNER_TEMP and, when the user names one,
 * checks that one (before anything is written) and adds to it only what the action
 * creates there itself, each recorded for removal once its creation proved it new.
 */
export async function prepareCodexHome(
  named: string | undefined,
  created: CreatedPaths,
  userConfig: Record<string, unknown>,
  rules: ConfigRules
): Promise<CodexHome> {
  const settings = actionConfig(userConfig, rules)
  const config = configText(settings)
  const ownConfig = named ? await checkNamedHome(named, userConfig, rules) : undefined
  const endpoint = loginEndpoint(ownConfig ?? userConfig, OPENAI_API_BASE_URL)
  const cliDir = await makePrivateDir(runnerTemp(), 'codex-home-')
  created.add(cliDir)
  await writePrivateFile(path.join(cliDir, 'config.toml'), config)
  if (!named) return { dir: cliDir, cliDir, loginEndpoint: endpoint, config: settings }
  const record = (dir: string | undefined) => {
    if (dir) created.add(dir)
  }
  const fail = (entry?: string) => (error: unknown) => Promise.reject(unusableHome(named, error, entry))
  record(await makeDirs(named).catch(fail()))
  if (!ownConfig) await writePrivateFile(path.join(named, 'config.toml'), config, record).catch(fail('config.toml'))
  record(await makeDirs(path.join(named, 'shell_snapshots')).catch(fail('shell_snapshots')))
  return { dir: named, cliDir, loginEndpoint: endpoint, config: ownConfig ?? settings }
}

/**
 * Checks a codex-home the user named without changing it. Only ENOENT means absent; any
 * other error is the user's to fix. Returns its own config.toml, when it holds one.
 */
async function checkNamedHome(
  named: string,
  userConfig: Record<string, unknown>,
  rules: ConfigRules
): Promise<Record<string, unknown> | undefined> {
  const workspace = process.env.GITHUB_WORKSPACE
  const real = await realPathOf(named).catch((error: unknown) => Promise.reject(unusableHome(named, error)))
  if (workspace && (isInside(named, workspace) || isInside(real, await realPathOf(workspace).catch(() => workspace)))) {
    throw new UserError(
      `codex-home ${named} is inside the workspace, where auth.json could be committed, cached or uploaded. Name a directory outside it (for example under RUNNER_TEMP), or leave codex-home empty.`
    )
  }
  const stat = await inspect(named)
  if (stat?.isSymbolicLink()) {
    throw new UserError(
      `codex-home ${named} is a symbolic link; the action does not write credentials through links. Name the real directory.`
    )
  }
  if (stat && !stat.isDirectory()) {
    throw new UserError(
      `codex-home ${named} exists and is not a directory. Name a directory, or leave codex-home empty.`
    )
  }
  if (!stat) return undefined
  await fs.access(named, fs.constants.W_OK).catch(() => {
    throw new UserError(
      `codex-home ${named} is not writable by the runner's user. Fix its permissions, or leave codex-home empty.`
    )
  })
  const entries = new Map<string, Stats | undefined>()
  for (const name of LINK_CHECKED) {
    const entry = await inspect(named, name)
    if (entry?.isSymbolicLink()) {
      throw new UserError(
        `codex-home ${named} holds a symbolic link ${name}; the action does not let credentials be written through links. Remove it.`
      )
    }
    entries.set(name, entry)
  }
  for (const name of ADDED_TO_NAMED_HOME) {
    // A ChatGPT sign-in's auth.json lives in its named home across jobs (sources/chatgpt.ts decides what to do with it).
    if (name === 'auth.json' && rules.mode === 'chatgpt') continue
    if (entries.get(name)) {
      throw new UserError(
        `codex-home ${named} already holds ${name}, which the action does not overwrite or remove. Move it away (it may hold a credential from an earlier login), name another directory, or leave codex-home empty.`
      )
    }
  }
  const configStat = entries.get('config.toml')
  if (!configStat) return undefined
  if (!configStat.isFile()) {
    throw new UserError(
      `codex-home ${named}: its config.toml is not a file. Make it the CLI's config file, or name another directory, or leave codex-home empty.`
    )
  }
  const existing = await fs
    .readFile(path.join(named, 'config.toml'), 'utf8')
    .catch((error: unknown) => Promise.reject(unusableHome(named, error, 'config.toml')))
  // The user's own config.toml is kept as it is; it must not undo the login.
  const own = parseExistingConfig(existing, "codex-home's config.toml")
  checkConfig(own, rules, "codex-home's config.toml")
  if (Object.keys(userConfig).length > 0) {
    throw new UserError(
      "config cannot be merged into codex-home's own config.toml, which the action does not change. Put the settings in that file, or leave codex-home empty."
    )
  }
  return own
}

/** lstat of the named home or an entry of it, with any error but ENOENT made the user's. */
async function inspect(home: string, entry?: string): Promise<Stats | undefined> {
  return lstatOrUndefined(entry ? path.join(home, entry) : home).catch((error: unknown) =>
    Promise.reject(unusableHome(home, error, entry))
  )
}

/**
 * Refuses a named codex-home that keeps its own config.toml when the run must choose the
 * endpoint Codex talks to: the action never changes that file, so Codex would not use it.
 */
export async function requireActionConfig(codexHome: string | undefined, why: string): Promise<void> {
  if (!codexHome) return
  const file = path.join(codexHome, 'config.toml')
  const exists = await fs.lstat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      // ENOTDIR: codex-home is no directory, which prepareCodexHome reports in its own words.
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false
      throw unusableHome(codexHome, error)
    }
  )
  if (exists) {
    throw new UserError(
      `${why} needs the config.toml the action writes, but codex-home ${codexHome} has its own config.toml, which the action does not change. Leave codex-home empty, or name a directory without a config.toml.`
    )
  }
}
