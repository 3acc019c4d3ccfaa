/** The audit the harness runs on every scenario finds what it is meant to find. */
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { derivedForms, filePlaces, findLeaks, toolCacheHalfStates, withoutMaskLines } from '../harness/audit.js'

const SECRET = 'sk-proj-canaryValue0123456789abcdef'

test('each derived form of a secret is found, in each place', () => {
  const forms = [...derivedForms(SECRET).keys()]
  expect(forms).toEqual(
    expect.arrayContaining([
      SECRET,
      Buffer.from(SECRET).toString('base64'),
      encodeURIComponent(SECRET),
      'sk-proj-***bcdef'
    ])
  )
  for (const form of forms) {
    const { leaks } = findLeaks([{ place: 'log', text: `before ${form} after` }], [SECRET])
    expect(leaks.length).toBeGreaterThan(0)
  }
  expect(findLeaks([{ place: 'log', text: 'nothing to see' }], [SECRET]).leaks).toEqual([])
})

test('a multi-line secret is searched line by line, and odd characters in their escaped forms', () => {
  const odd = 'sk-line-one-0123456789\n"quoted:%$\\\\value::"'
  const forms = derivedForms(odd)
  expect(forms.get('sk-line-one-0123456789')).toBe('raw')
  expect([...forms.keys()]).toContain(JSON.stringify('"quoted:%$\\\\value::"').slice(1, -1))
  expect([...forms.keys()]).toContain(encodeURIComponent(odd))
})

test('::add-mask:: lines are allowed only before any other output', () => {
  expect(withoutMaskLines(`::add-mask::${SECRET}\nhello`, [SECRET])).toEqual({ text: 'hello', lateMask: false })
  expect(withoutMaskLines(`hello\n::add-mask::${SECRET}`, [SECRET]).lateMask).toBe(true)
  // A value obtained during the step (an OIDC token) is masked when it exists.
  expect(withoutMaskLines(`hello\n::add-mask::obtained-later-token`, [SECRET]).lateMask).toBe(false)
})

test('files are read below a directory, except where told', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audit-test-'))
  try {
    await fs.mkdir(path.join(dir, 'home'))
    await fs.writeFile(path.join(dir, 'home', 'auth.json'), SECRET)
    await fs.writeFile(path.join(dir, 'leak.txt'), Buffer.from(SECRET).toString('base64'))
    const places = await filePlaces(dir, 'temp', [path.join(dir, 'home')])
    expect(places.map((p) => p.place)).toEqual(['temp/leak.txt'])
    expect(findLeaks(places, [SECRET]).leaks).toContain('base64 form of a secret in temp/leak.txt')
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
})

test('partial tool-cache entries are half states', async () => {
  const cache = await fs.mkdtemp(path.join(os.tmpdir(), 'audit-cache-'))
  try {
    expect(await toolCacheHalfStates(cache)).toEqual([])
    await fs.mkdir(path.join(cache, 'codex', '1.0.0', 'x64'), { recursive: true })
    await fs.mkdir(path.join(cache, '.codex-staging-abc'))
    expect(await toolCacheHalfStates(cache)).toEqual([
      'staging directory .codex-staging-abc left in the tool cache',
      'tool cache entry codex/1.0.0/x64 without x64.complete'
    ])
    await fs.writeFile(path.join(cache, 'codex', '1.0.0', 'x64.complete'), '')
    await fs.rm(path.join(cache, '.codex-staging-abc'), { recursive: true })
    expect(await toolCacheHalfStates(cache)).toEqual([])
  } finally {
    await fs.rm(cache, { recursive: true, force: true })
  }
})
