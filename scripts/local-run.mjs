#!/usr/bin/env node
/**
 * `npm start`: runs the bundled action the way a GitHub runner would, in throw-away runner
 * directories, then a later step that uses Codex, then the post step, and reports what
 * each did. Masks what the action asked the runner to mask, as the runner would.
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
 */
import { existsSync, readFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { listFiles, Runner } from '../__tests__/harness/runner.js'
import { REPLY, ResponsesUpstream } from './loopback-responses.mjs'

const PLACEHOLDER = 'sk-local-placeholder-NOT-A-REAL-KEY-0000000000'
const apiKey = process.env.OPENAI_API_KEY || PLACEHOLDER
const toolCache = process.env.LOCAL_TOOL_CACHE || path.join(os.tmpdir(), 'codex-auth-action-local-tool-cache')

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
 * @param {string} title
 * @param {import('../__tests__/harness/runner.js').ProcessResult} result
 * @param {string[]} secrets
 */
function show(title, result, secrets) {
  console.log(`\n=== ${title} (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}) ===`)
  const text = masked(`${result.stdout}${result.stderr}`, secrets).trimEnd()
  if (text) console.log(text.replace(/^/gm, '  '))
}

const runner = await Runner.create({ toolCache })
const upstream = await new ResponsesUpstream().start()
let failed = false
try {
  /** @type {Record<string, string>} */
  const inputs = { 'api-key': apiKey, 'api-base-url': process.env.API_BASE_URL || `${upstream.origin}/v1` }
  if (process.env.CODEX_VERSION) inputs['codex-version'] = process.env.CODEX_VERSION
  if (process.env.REGISTRY_URL) inputs['registry-url'] = process.env.REGISTRY_URL
  console.log(`Runner directories: ${runner.root}`)
  console.log(`Tool cache: ${toolCache}`)
  console.log(
    apiKey === PLACEHOLDER
      ? 'API key: a fake placeholder (set OPENAI_API_KEY to use yours)'
      : 'API key: from OPENAI_API_KEY'
  )

  const main = await runner.main(inputs)
  const secrets = main.stdout
    .split('\n')
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) => l.slice('::add-mask::'.length))
  show('main step', main, secrets)
  console.log('\nOutputs:', main.outputs)
  console.log('Exported to later steps:', Object.keys(main.exported))
  console.log('Added to PATH:', main.paths)
  failed = main.exitCode !== 0

  if (!failed) {
    const version = await runner.run('codex', ['--version'])
    show('later step: codex --version', version, secrets)
    const exec = await runner.run('codex', ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi'], {
      timeoutMs: 60_000
    })
    show('later step: codex exec --skip-git-repo-check --ephemeral "say hi"', exec, secrets)
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

  const post = await runner.post()
  show('post step', post, secrets)
  const left = await runner.tempFiles()
  console.log(`\nLeft under RUNNER_TEMP after the post step: ${left.length ? left.join(', ') : 'nothing'}`)
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
}
process.exitCode = failed ? 1 : 0
