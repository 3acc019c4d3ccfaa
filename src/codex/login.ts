import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import type { AuthMode, Credential } from '../inputs/inputs.js'
import { type CreatedPaths } from '../job/created-paths.js'
import { makePrivateDir, runnerTemp, unusableHome, writePrivateFile } from '../job/files.js'
import { inline, printUntrusted } from '../secrets/inert-output.js'
import { fingerprint, redact } from '../secrets/mask.js'
import { PROXY_VARIABLES } from '../net/proxy-rules.js'
import { cliEnv, runCli, type LoginFailure } from './cli.js'
import type { CodexHome } from './home.js'

/** What a login needs besides the credential. */
export interface LoginContext {
  binary: string
  version: string
  home: CodexHome
  caPath?: string
  /** Variables the CLI needs besides CODEX_HOME and the CA (a proxy's AuthAPI). */
  env?: Record<string, string>
  created: CreatedPaths
  /** Every secret of the run, redacted from whatever the CLI prints. */
  secrets: string[]
}

/** The login log's path (the CLI appends to it on every direct login, in the home it runs in). */
export function loginLogPath(home: CodexHome): string {
  return path.join(home.cliDir, 'log', 'codex-login.log')
}

/**
 * Logs in with the secret on stdin, then confirms with `codex login status`'s exit code
 * (its wording changes between versions). Returns what went wrong, or undefined.
 */
export async function tryLogin(ctx: LoginContext, credential: Credential): Promise<LoginFailure | undefined> {
  const flag = credential.mode === 'api-key' ? '--with-api-key' : '--with-access-token'
  const env = { ...cliEnv(ctx.home.cliDir, ctx.caPath), ...ctx.env }
  core.info(
    `Logging in with ${credential.mode} ${fingerprint(credential.secret)}: codex login ${flag} (the secret is passed on stdin)`
  )
  const failure =
    (await runCli(ctx.binary, ['login', flag], env, ctx.secrets, Buffer.from(`${credential.secret}\n`))) ??
    (await runCli(ctx.binary, ['login', 'status'], env, ctx.secrets))
  if (!failure && ctx.home.cliDir !== ctx.home.dir) {
    // Into the named home goes the login alone, created exclusively; the CLI's copy goes.
    const login = path.join(ctx.home.cliDir, 'auth.json')
    await writePrivateFile(path.join(ctx.home.dir, 'auth.json'), await fs.readFile(login), (file) =>
      ctx.created.add(file)
    ).catch((error: unknown) => Promise.reject(unusableHome(ctx.home.dir, error, 'auth.json')))
    await fs.rm(login)
  }
  return failure
}

/**
 * Shows everything that helps with a failed login in one collapsible group (the CLI's
 * words, the login log's tail, the CLI version, the auth mode, the CA, the proxy
 * variables by name), and keeps a copy of the login log until the post step, named by the
 * `login-log` output, for an upload step.
 */
export async function reportLoginFailure(ctx: LoginContext, mode: AuthMode, failures: LoginFailure[]): Promise<void> {
  const log = await fs.readFile(loginLogPath(ctx.home), 'utf8').catch(() => '')
  const logText = redact(log, ctx.secrets)
  core.startGroup('Codex login diagnostics')
  for (const failure of failures) {
    core.info(failure.exitCode === undefined ? `${failure.command}:` : `${failure.command} exited ${failure.exitCode}:`)
    printUntrusted(failure.output || '(no output)')
  }
  core.info('codex-login.log, last lines:')
  printUntrusted(logText.trimEnd().split(/\r?\n/).slice(-20).join('\n') || '(empty)')
  core.info(`Codex CLI: ${ctx.version} (${inline(ctx.binary)})`)
  core.info(`Auth mode: ${mode}`)
  core.info(`CA bundle: ${ctx.caPath ? inline(ctx.caPath) : 'none (system roots)'}`)
  const proxies = PROXY_VARIABLES.filter((name) => process.env[name])
  core.info(`Proxy variables set: ${proxies.length ? proxies.join(', ') : 'none'}`)
  core.endGroup()
  if (!logText) return
  const dir = await makePrivateDir(runnerTemp(), 'codex-diagnostics-')
  ctx.created.keepUntilPost(dir)
  const copy = path.join(dir, 'codex-login.log')
  await writePrivateFile(copy, logText)
  core.setOutput('login-log', copy)
}
