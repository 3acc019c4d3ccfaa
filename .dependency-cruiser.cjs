/**
 * The import rules of src/ (ARCHITECTURE.md explains them): no cycle, type imports
 * included, and each folder imports only the folders below it.
 */
const layer = (folder, allowed) => ({
  name: `${folder}-imports`,
  comment: `src/${folder}/ may import only ${allowed.length ? allowed.map((f) => `src/${f}/`).join(', ') : 'packages'} and itself`,
  severity: 'error',
  from: { path: `^src/${folder}/` },
  to: { path: '^src/', pathNot: [`^src/${folder}/`, ...allowed.map((f) => `^src/${f}/`), '^src/types/'] }
})

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    layer('secrets', []),
    layer('job', ['secrets']),
    layer('net', ['job', 'secrets']),
    layer('inputs', ['net', 'job', 'secrets']),
    layer('codex', ['inputs', 'net', 'job', 'secrets']),
    layer('install', ['codex', 'inputs', 'net', 'job', 'secrets']),
    layer('helpers', ['inputs', 'net', 'job', 'secrets']),
    layer('jail', ['inputs', 'job', 'secrets']),
    layer('sources', ['helpers', 'codex', 'inputs', 'net', 'job', 'secrets']),
    layer('steps', ['sources', 'install', 'jail', 'helpers', 'codex', 'inputs', 'net', 'job', 'secrets']),
    {
      name: 'entries-only-at-top',
      comment: 'a bundle entry imports only its step or helper',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/', pathNot: ['^src/steps/', '^src/helpers/'] }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' }
  }
}
