#!/usr/bin/env node
/**
 * `npm start`: runs the bundled action the way a GitHub runner would, in throw-away runner
 * directories, then a later step that uses Codex, then the post step, and shows each step
 * as a person reads it: what ran, what it exported, what the post step removed. The
 * runner's plumbing (::add-mask::, ::debug::, ::group:: markers, ::stop-commands:: tokens)
 * is what the runner itself hides, so it is left out here too; warnings, errors and notices
 * are shown as the runner shows them. Secrets the action asked to mask are masked.
 *
 * With the default key-isolation (auto) the key goes to the key proxy, and the later step's
 * `codex exec` reaches a loopback Responses API this script starts through that proxy.
 * With the default codex-isolation (auto) each later `codex` runs in a jail of its own
 * (namespaces that end with the call): nothing is made on this machine outside the
 * runner's throw-away directories, no user, no ACL, no mount; the report says so.
 *
 *   OPENAI_API_KEY     the key (default: a clearly fake placeholder, which the loopback
 *                      upstream accepts)
 *   API_BASE_URL       api-base-url input (default: the loopback upstream)
 *   CODEX_VERSION      codex-version input (default latest)
 *   REGISTRY_URL       registry-url input (default action.yml's)
 *   LOCAL_TOOL_CACHE   tool cache kept between runs (default: one under the OS temp dir)
 *   LOCAL_RUN_DEBUG=1  show the runner's plumbing lines too
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { listFiles, Runner } from '../__tests__/harness/runner.js'
import { REPLY, ResponsesUpstream } from './loopback-responses.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PLACEHOLDER = 'sk-local-placeholder-NOT-A-REAL-KEY-0000000000'
const apiKey = process.env.OPENAI_API_KEY || PLACEHOLDER
const toolCache = process.env.LOCAL_TOOL_CACHE || path.join(os.tmpdir(), 'codex-auth-action-local-tool-cache')
const debug = process.env.LOCAL_RUN_DEBUG === '1'
// The Codex CLI will not create its helper binaries in a CODEX_HOME under the OS temporary
// directory (it warns on every command), so the local runner's directories live in the
// checkout instead, as a runner's _work directory does.
const parent = path.join(ROOT, '.local-run')

/**
 * What the runner's log would show: every value from an ::add-mask:: line replaced by ***.
 * @param {string} text
 * @param {string[]} secrets
 */
function masked(text, secrets) {
  let out = text
  for (const secret of secrets) out = out.split(secret).join('***')
  // The CLI shows a key as its first 8 and last 5 characters, which exact masking misses.
  for (const secret of secrets) if (secret.length > 13) out = out.split(secret.slice(-5)).join('***')
  return out
}

/**
 * A step's output as the runner's log shows it: plumbing hidden, annotations named, a group
 * as its title (its lines follow, indented).
 * @param {string} text
 * @returns {string[]}
 */
function readable(text) {
  /** @type {string[]} */
  const lines = []
  let stopped = ''
  let group = false
  for (const line of text.split(/\r?\n/)) {
    if (stopped) {
      if (line === `::${stopped}::`) stopped = ''
      else lines.push(`${group ? '    ' : ''}${line}`)
      continue
    }
    const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line)
    if (!command) {
      if (line.trim()) lines.push(`${group ? '    ' : ''}${line}`)
      continue
    }
    const [, name, value] = command
    if (name === 'stop-commands') stopped = value
    else if (name === 'group') {
      lines.push(`▸ ${value}`)
      group = true
    } else if (name === 'endgroup') group = false
    else if (['warning', 'error', 'notice'].includes(name))
      lines.push(`${name.toUpperCase()}: ${value.replace(/%0A/g, '\n  ')}`)
    else if (debug) lines.push(`(${name}) ${value}`)
  }
  return lines
}

/** Codex's warning about a CODEX_HOME under the OS temporary directory: explained once, at the start. */
const TEMP_WARNING = /Refusing to create helper binaries under temporary dir/

/**
 * @param {string} title
 * @param {import('../__tests__/harness/runner.js').ProcessResult} result
 * @param {string[]} secrets
 */
function show(title, result, secrets) {
  console.log(`\n=== ${title} (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}) ===`)
  // stderr first: a CLI's progress, then what it printed as its answer.
  const text = masked(`${result.stderr}${result.stdout}`, secrets)
  for (const line of readable(text)) if (debug || !TEMP_WARNING.test(line)) console.log(`  ${line}`)
}

/** @param {Record<string, string>} values */
function table(values) {
  const names = Object.keys(values)
  if (!names.length) return '  (nothing)'
  const width = Math.max(...names.map((n) => n.length))
  return names.map((name) => `  ${name.padEnd(width)}  ${values[name] || '(empty)'}`).join('\n')
}

await fs.mkdir(parent, { recursive: true })
const runner = await Runner.create({ toolCache, parent })
const upstream = await new ResponsesUpstream().start()
let failed = false
try {
  /** @type {Record<string, string>} */
  const inputs = { 'api-key': apiKey, 'api-base-url': process.env.API_BASE_URL || `${upstream.origin}/v1` }
  if (process.env.CODEX_VERSION) inputs['codex-version'] = process.env.CODEX_VERSION
  if (process.env.REGISTRY_URL) inputs['registry-url'] = process.env.REGISTRY_URL
  console.log(`Runner directories: ${path.relative(process.cwd(), runner.root) || '.'} (removed at the end)`)
  console.log(`Tool cache: ${toolCache}`)
  console.log(
    apiKey === PLACEHOLDER
      ? 'API key: a fake placeholder (set OPENAI_API_KEY to use yours)'
      : 'API key: from OPENAI_API_KEY'
  )
  if (runner.root.startsWith(os.tmpdir() + path.sep))
    console.log(
      'Note: this checkout is under the OS temporary directory, so Codex warns on every command that it will not create helper binaries there ("Refusing to create helper binaries under temporary dir"). It is harmless, and left out below.'
    )

  console.log(`\nStep 1: uses: codex-auth-action, with: ${Object.keys(inputs).join(', ')}`)
  const main = await runner.main(inputs)
  const secrets = main.stdout
    .split('\n')
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) => l.slice('::add-mask::'.length))
  show('main step', main, secrets)
  console.log(`\nIts outputs:\n${table(main.outputs)}`)
  console.log(`Exported to later steps (GITHUB_ENV):\n${table(main.exported)}`)
  console.log(`Added to PATH (GITHUB_PATH):\n${main.paths.map((p) => `  ${p}`).join('\n') || '  (nothing)'}`)
  failed = main.exitCode !== 0

  if (!failed) {
    console.log('\nStep 2: run: codex --version, then codex exec "say hi"')
    const version = await runner.run('codex', ['--version'])
    show('codex --version', version, secrets)
    const exec = await runner.run('codex', ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi'], {
      timeoutMs: 60_000
    })
    show('codex exec --skip-git-repo-check --ephemeral "say hi"', exec, secrets)
    const home = main.outputs['codex-home']
    const authJson = (await listFiles(home)).includes('auth.json')
    if (!process.env.API_BASE_URL) {
      const keyed = upstream.upgrades.filter((u) => u.authorization === `Bearer ${apiKey}`).length
      console.log(
        authJson
          ? `\nThe later step's codex used the key from ${home}/auth.json (key-isolation: none, or a notice above says why).`
          : `\nThe later step's codex exec authenticated through the key proxy: the loopback upstream saw ${keyed} websocket upgrade(s) carrying the key, which the proxy added (Codex holds no key, and no auth.json exists), and ${upstream.posts} HTTP request(s).`
      )
      failed ||= (!authJson && keyed === 0) || !exec.stdout.includes(REPLY)
    }
    failed ||= version.exitCode !== 0 || exec.exitCode !== 0
  }

  const before = await fs.readdir(runner.temp)
  console.log('\nStep 3: the post step (post-if: always())')
  const post = await runner.post()
  show('post step', post, secrets)
  const left = await runner.tempFiles()
  const removed = before.filter((name) => !left.includes(name))
  console.log(`\nThe post step removed from RUNNER_TEMP: ${removed.length ? removed.join(', ') : 'nothing'}`)
  console.log(`Left under RUNNER_TEMP after the post step: ${left.length ? left.join(', ') : 'nothing'}`)
  failed ||= post.exitCode !== 0 || left.length > 0
  if (existsSync('/proc/self/mountinfo')) {
    const jailed = /Codex runs in a jail of its own \(made ([^)]*)\)/.exec(main.stdout)?.[1]
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((line) => line.includes(runner.root))
    console.log(
      jailed
        ? `Codex ran in a jail of its own (made ${jailed}); mounts of it left on this machine: ${mounts.length ? mounts.join('; ') : 'none'}.`
        : 'Codex ran without a jail (see the main step above).'
    )
    failed ||= mounts.length > 0
  }
  console.log(failed ? '\nSomething failed: see above.' : '\nAll steps succeeded.')
} finally {
  await runner.dispose()
  await upstream.stop()
  await fs.rmdir(parent).catch(() => undefined)
}
process.exitCode = failed ? 1 : 0
