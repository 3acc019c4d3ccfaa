#!/usr/bin/env node
/**
 * `npm run local-action`: the action's TypeScript sources (main, then post) under
 * @github/local-action, which stubs the runner in-process: for stepping through with a
 * debugger. Runner directories are made fresh; the tool cache is shared with `npm start`.
 *
 *   OPENAI_API_KEY   the key (default: a clearly fake placeholder, which logs in offline)
 *   CODEX_VERSION    codex-version (default latest)
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync(path.join(os.tmpdir(), 'codex-local-action-'))
const temp = path.join(dir, 'temp')
const workspace = path.join(dir, 'workspace')
for (const d of [temp, workspace]) mkdirSync(d)
const env = {
  'INPUT_API-KEY': process.env.OPENAI_API_KEY || 'sk-local-placeholder-NOT-A-REAL-KEY-0000000000',
  'INPUT_CODEX-VERSION': process.env.CODEX_VERSION || 'latest',
  RUNNER_TEMP: temp,
  RUNNER_TOOL_CACHE: process.env.LOCAL_TOOL_CACHE || path.join(os.tmpdir(), 'codex-auth-action-local-tool-cache'),
  GITHUB_WORKSPACE: workspace
}
// local-action reads inputs from a dotenv file; it holds the key, so it is private and removed below.
const dotenv = path.join(dir, '.env')
writeFileSync(
  dotenv,
  Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n') + '\n',
  { mode: 0o600 }
)
try {
  const bin = path.join(
    root,
    'node_modules',
    '.bin',
    process.platform === 'win32' ? 'local-action.cmd' : 'local-action'
  )
  const result = spawnSync(bin, ['run', root, 'src/steps/main.ts', dotenv, '--post', 'src/steps/post.ts'], {
    stdio: 'inherit'
  })
  const left = readdirSync(temp)
  console.log(`\nLeft under RUNNER_TEMP after the post step: ${left.length ? left.join(', ') : 'nothing'}`)
  process.exitCode = result.status === 0 && left.length === 0 ? 0 : 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
