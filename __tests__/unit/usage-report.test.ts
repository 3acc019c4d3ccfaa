import { jest } from '@jest/globals'
import type { Tally, UsageReport } from '../../src/helpers/key-proxy/usage.js'
import { reportUsage } from '../../src/sources/usage-report.js'

const tally = (n: number): Tally => ({
  requests: n,
  input_tokens: n,
  cached_input_tokens: 0,
  output_tokens: n,
  reasoning_tokens: 0,
  total_tokens: 2 * n
})

/** What the post step writes to its log for `report`. */
async function printed(report: UsageReport): Promise<string[]> {
  const written: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk))
    return true
  })
  try {
    await reportUsage(report)
  } finally {
    spy.mockRestore()
  }
  return written
}

/** A model name from a request any process of the job can send, and caps read back from the usage file. */
test('the post step prints model names and caps from the usage file inert: no line is a workflow command', async () => {
  const hostile = '::warning title=pwned::injected\n::add-mask::Token\r##[error]legacy'
  const report = {
    ...tally(1),
    by_model: { [hostile]: tally(1), 'gpt-5': tally(2) },
    by_session: {},
    refused_requests: 1,
    unreported_requests: 0,
    limits: { allowed_models: ['gpt-5', '::error::x\n::error::y'] },
    updated_at: '2026-12-01T00:00:00Z'
  } as unknown as UsageReport
  const written = await printed(report)
  const lines = written.join('').split(/\r\n|\r|\n/)
  const commands = lines.filter((l) => /^\s*::/.test(l) || l.includes('##['))
  // The cap's own warning annotation is the action's: one line, its text escaped.
  expect(commands).toEqual([
    expect.stringMatching(/^::warning::Caps: allowed-models gpt-5, ::error::x%0A::error::y; 1 requests refused/)
  ])
  expect(lines).toContain(
    `  ${JSON.stringify(hostile).replace('##[', '##%5B')}: 1 requests, 1 input tokens (0 cached), 1 output (0 reasoning), 2 total`
  )
})

test('requests whose usage is unknown are named, and with max-tokens the summary says the cap counted as reached', async () => {
  const report = {
    ...tally(2),
    by_model: { 'gpt-5': tally(2) },
    by_session: {},
    refused_requests: 3,
    unreported_requests: 2,
    unmetered_requests: 1,
    limits: { max_tokens: 1000 },
    updated_at: '2026-12-01T00:00:00Z'
  } as UsageReport
  const written = await printed(report)
  expect(written.join('')).toContain(
    '::warning::Of those, 1 may have been billed (the answer was cut off before its last event, or still running when the key proxy stopped reading it): max-tokens counted as reached from the first of them, so every later model request was refused.'
  )
})
