/** README's tables of inputs and outputs say what action.yml declares. */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { actionYml, ROOT } from './harness/runner.js'

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
  for (const [name, spec] of Object.entries(actionYml.inputs)) expect([name, rows.get(name)]).toEqual([name, spec.default ?? ''])
})

test('every output is in README, and nothing else is', () => {
  expect([...table('Outputs').keys()].sort()).toEqual(Object.keys(actionYml.outputs).sort())
})

test('every input and output has a description in action.yml', () => {
  for (const spec of [...Object.values(actionYml.inputs), ...Object.values(actionYml.outputs)]) expect(spec.description.length).toBeGreaterThan(10)
})
