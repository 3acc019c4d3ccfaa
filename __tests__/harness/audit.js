/**
 * The security audit every black-box scenario gets when its Runner is disposed: the
 * secrets it gave the action, and their derived forms, searched for everywhere the job
 * left text; and the half states (files under RUNNER_TEMP after the post step, partial
 * tool-cache entries) that must never exist. Figures go to a file that the jest global
 * teardown sums up.
 */
import { appendFileSync, promises as fs } from 'node:fs'
import * as path from 'node:path'

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
 * @typedef {{ leaks: string[], halfStates: string[], places: number, forms: number }} AuditResult
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
    lines.slice(firstOther).some((l) => l.startsWith('::add-mask::') && early.some((s) => l.slice('::add-mask::'.length).includes(s)))
  return { text: lines.filter((l) => !l.startsWith('::add-mask::')).join('\n'), lateMask }
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
 * @param {Record<string, number>} figures
 */
export function recordFigures(figures) {
  const shared = process.env.CODEX_AUTH_TEST_SHARED
  if (shared) appendFileSync(path.join(shared, 'security-figures.jsonl'), `${JSON.stringify(figures)}\n`)
}
