/**
 * The `codex` that later steps find on PATH when Codex runs as its own user (codex-user):
 * it starts the real CLI as that user, with no_new_privs and no supplementary groups, in
 * an environment without the runner's inputs, tokens and file commands, and gives back to
 * the job's user what Codex made once it is done. Its argument is its directory (the
 * config file and one file per running wrapper), then Codex's arguments.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import * as path from 'node:path'
import { giveBack, handOver, launchCodex, type CodexUserConfig } from './protocol.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function run(): void {
  const [dir, ...args] = process.argv.slice(2)
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as CodexUserConfig
  const running = path.join(dir, 'running')
  mkdirSync(running, { recursive: true })
  const mine = path.join(running, String(process.pid))
  writeFileSync(mine, '')
  handOver(config)
  const [file, rest, env] = launchCodex(config, process.env, args)
  const child = spawn(file, rest, { stdio: 'inherit', env })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal))
  child.on('error', (error) => {
    process.stderr.write(`codex-auth-action: could not start Codex as ${config.user}: ${error.message}\n`)
    finish(1)
  })
  child.on('exit', (code, signal) => finish(code ?? 128 + (signal ? constants.signals[signal] : 0)))

  function finish(code: number): never {
    rmSync(mine, { force: true })
    // The last Codex of the job to end takes its user's leftovers with it.
    const others = existsSync(running) ? readdirSync(running).filter((pid) => alive(Number(pid))) : []
    if (others.length === 0) giveBack(config)
    process.exit(code)
  }
}
