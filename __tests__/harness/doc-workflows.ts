/**
 * Every workflow the documentation shows: each file in examples/, and each ```yaml block of
 * README.md and docs/*.md (a page or an example added later is picked up by itself).
 *
 * A block is a whole workflow (it has `jobs:`), or is marked by the HTML comment on the
 * line before it:
 *   <!-- example: steps after checkout[ and the action][; event NAME][; permissions P=write …] -->
 *       steps to run in a job the test makes: a stand-in checkout first (and, with "and the
 *       action", the action with an API key, id `codex`), on the event NAME (default push),
 *       its token with contents: read and the permissions named;
 *   <!-- fragment: why -->
 *       not runnable as it is (a line to paste): only its use of the action's inputs is checked.
 * An unmarked block that is no whole workflow fails the test, so nothing is skipped unseen.
 *
 * Placeholders (a proxy, a mirror, an organisation's CA, an Azure resource) are values on a
 * line whose comment says `placeholder`: the test replaces them by key (PLACEHOLDER_KEYS in
 * the job runner), and a value that names example.com or a `vars.` variable on an unmarked
 * line fails the test.
 */
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'
import { ROOT } from './runner.js'

export interface Step {
  name?: string
  id?: string
  if?: string | boolean
  uses?: string
  with?: Record<string, unknown>
  run?: string
  env?: Record<string, unknown>
  shell?: string
  'working-directory'?: string
  'timeout-minutes'?: number
}

export interface Job {
  'runs-on'?: unknown
  if?: string | boolean
  env?: Record<string, unknown>
  permissions?: Record<string, string> | string
  strategy?: { matrix?: Record<string, unknown[]>; 'fail-fast'?: boolean }
  steps: Step[]
}

export interface Workflow {
  name?: string
  on: unknown
  permissions?: Record<string, string> | string
  env?: Record<string, unknown>
  jobs: Record<string, Job>
}

export interface DocWorkflow {
  /** Where it is: `examples/x.yml`, or `README.md:17` (the line of its fence). */
  source: string
  /** `workflow`: run as it is; `steps`: run in a job the test makes; `fragment`: checked only. */
  kind: 'workflow' | 'steps' | 'fragment'
  /** The YAML, each placeholder value replaced by a token (readPlaceholder). */
  text: string
  /** For `steps`: the action is prepended too. */
  withAction?: boolean
  /** For `steps`: the event its job runs on. */
  event?: string
  /** For `steps`: permissions its job's token has besides contents: read. */
  permissions?: Record<string, string>
  /** For `fragment`: why it is not run. */
  why?: string
  /** Problems found while reading it (unmarked placeholders, an unmarked fragment). */
  problems: string[]
}

const PLACEHOLDER_LINE = /^(\s*-?\s*)([A-Za-z_][\w-]*):\s*(.*?)\s+#.*\bplaceholder\b.*$/

/** What stands for a marked value in the YAML the test parses: its key and its text. */
function placeholderToken(key: string, value: string): string {
  return `__PLACEHOLDER__${key}__${Buffer.from(value).toString('base64url')}`
}

/** The key and the original text of a placeholder token, or undefined for any other value. */
export function readPlaceholder(value: string): { key: string; value: string } | undefined {
  const match = /^__PLACEHOLDER__([\w-]+?)__([\w-]*)$/.exec(value)
  return match ? { key: match[1], value: Buffer.from(match[2], 'base64url').toString() } : undefined
}

/** Replaces each marked placeholder value by a token naming its key; lists unmarked ones. */
function placeholders(text: string, source: string): { text: string; problems: string[] } {
  const problems: string[] = []
  const lines = text.split('\n').map((line, i) => {
    const marked = PLACEHOLDER_LINE.exec(line)
    if (marked) return `${marked[1]}${marked[2]}: ${placeholderToken(marked[2], marked[3])}`
    if (line.trim().startsWith('#')) return line
    const code = line.replace(/\s#\s.*$/, '')
    if (/example\.com|\bvars\./.test(code))
      problems.push(`${source} line ${i + 1}: a placeholder without a "# placeholder: …" comment: ${line.trim()}`)
    return line
  })
  return { text: lines.join('\n'), problems }
}

function fromExample(file: string): DocWorkflow {
  const source = `examples/${file}`
  const { text, problems } = placeholders(readFileSync(path.join(ROOT, 'examples', file), 'utf8'), source)
  return { source, kind: 'workflow', text, problems }
}

/** The ```yaml blocks of one Markdown page, with the marker comment before each. */
function fromPage(page: string): DocWorkflow[] {
  const lines = readFileSync(path.join(ROOT, page), 'utf8').split('\n')
  const found: DocWorkflow[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```yaml') continue
    const end = lines.indexOf('```', i + 1)
    const source = `${page}:${i + 1}`
    const { text, problems } = placeholders(lines.slice(i + 1, end).join('\n'), source)
    const marker = /^<!--\s*(example|fragment):\s*(.*?)\s*-->$/.exec(lines[i - 1]?.trim() ?? '')
    if (marker?.[1] === 'fragment') found.push({ source, kind: 'fragment', text, why: marker[2], problems })
    else if (marker) {
      const steps = /^steps after checkout( and the action)?(?:; event (\S+))?(?:; permissions (.+))?$/.exec(marker[2])
      if (!steps) problems.push(`${source}: unknown marker "${marker[2]}"`)
      const permissions = Object.fromEntries(
        (steps?.[3] ?? '')
          .split(/\s+/)
          .filter(Boolean)
          .map((p) => p.split('='))
      )
      found.push({ source, kind: 'steps', text, withAction: !!steps?.[1], event: steps?.[2], permissions, problems })
    } else {
      const whole = /^jobs:/m.test(text)
      if (!whole)
        problems.push(
          `${source}: a yaml block that is no whole workflow (no jobs:) and has no <!-- example: … --> or <!-- fragment: … --> marker`
        )
      found.push({ source, kind: 'workflow', text, problems })
    }
    i = end
  }
  return found
}

/** Everything, in a stable order: examples/, README.md, then docs/ pages by name. */
export function docWorkflows(): DocWorkflow[] {
  const examples = readdirSync(path.join(ROOT, 'examples'))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
  const pages = readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`)
  return [...examples.map(fromExample), ...['README.md', ...pages].flatMap(fromPage)]
}

const CHECKOUT = { 'persist-credentials': false, 'fetch-depth': 0 }
const ACTION: Step = {
  name: 'the action (added by the test)',
  id: 'codex',
  uses: '<owner>/codex-auth-action@v1',
  with: { 'api-key': '${{ secrets.OPENAI_API_KEY }}' }
}

/** The parsed workflow: a whole one as it is, steps wrapped in a job the test makes. */
export function workflowOf(doc: DocWorkflow): Workflow {
  if (doc.kind === 'workflow') return parse(doc.text) as Workflow
  const steps: Step[] = [
    { name: 'checkout (added by the test)', uses: 'actions/checkout@v4', with: CHECKOUT },
    ...(doc.withAction ? [ACTION] : []),
    ...(parse(doc.text) as Step[])
  ]
  return {
    name: doc.source,
    on: doc.event ?? 'push',
    permissions: { contents: 'read', ...doc.permissions },
    jobs: { example: { 'runs-on': 'ubuntu-latest', steps } }
  }
}
