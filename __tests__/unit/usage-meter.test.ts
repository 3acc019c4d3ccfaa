/** The key proxy's meter: the SSE scanner on any chunking, the counts, the caps and their messages, the cap inputs. */
import fc from 'fast-check'
import {
  grouped,
  JsonScanner,
  leadingModel,
  Meter,
  reportedUsage,
  refusalEvent,
  SocketMeter,
  SseScanner,
  type Ticket
} from '../../src/helpers/key-proxy/usage.js'
import { UserError } from '../../src/job/errors.js'
import { parseSpendCaps } from '../../src/inputs/spend.js'

const usage = (n: number) => ({
  input_tokens: 1000 + n,
  input_tokens_details: { cached_tokens: 100 + n },
  output_tokens: 50 + n,
  output_tokens_details: { reasoning_tokens: n },
  total_tokens: 1050 + 2 * n
})

/** A Responses API stream as OpenAI sends it: named events, deltas, then the final event. */
function stream(n: number, options: { names?: boolean; crlf?: boolean; deltas?: number } = {}): string {
  const events = [
    { type: 'response.created', response: { id: `resp_${n}` } },
    ...Array.from({ length: options.deltas ?? 3 }, (_, i) => ({
      type: 'response.output_text.delta',
      delta: `${'x'.repeat(i * 300)} "type":"response.completed" `
    })),
    {
      type: 'response.output_item.done',
      item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hi\n\ndata: {}' }] }
    },
    { type: 'response.completed', response: { id: `resp_${n}`, model: 'gpt-x', output: [], usage: usage(n) } }
  ]
  const eol = options.crlf ? '\r\n' : '\n'
  return events
    .map((e) => `${options.names === false ? '' : `event: ${e.type}${eol}`}data: ${JSON.stringify(e)}${eol}${eol}`)
    .join('')
}

/** What a scanner reports from `text` cut at `cuts`. */
function scan(text: string, cuts: number[], Scanner: typeof SseScanner | typeof JsonScanner = SseScanner): unknown[] {
  const seen: unknown[] = []
  const scanner = new Scanner((event) => seen.push(event))
  const bytes = Buffer.from(text)
  let start = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    scanner.feed(bytes.subarray(start, Math.max(start, cut)))
    start = Math.max(start, cut)
  }
  scanner.feed(bytes.subarray(start))
  scanner.end()
  return seen.map(reportedUsage).filter(Boolean)
}

const counts = (n: number) => ({
  input_tokens: 1000 + n,
  cached_input_tokens: 100 + n,
  output_tokens: 50 + n,
  reasoning_tokens: n,
  total_tokens: 1050 + 2 * n
})

test('the SSE scanner finds the final usage however the stream is cut, with or without event names, LF or CRLF', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000 }),
      fc.boolean(),
      fc.boolean(),
      fc.array(fc.nat({ max: 3000 }), { maxLength: 40 }),
      (n, names, crlf, cuts) => {
        expect(scan(stream(n, { names, crlf }), cuts)).toEqual([counts(n)])
      }
    )
  )
})

test('two responses on one stream, a stream cut before its end, and a stream without a final event', () => {
  expect(scan(stream(1) + stream(2), [7, 500])).toEqual([counts(1), counts(2)])
  const whole = stream(3)
  expect(scan(whole.slice(0, whole.length - 40), [])).toEqual([])
  expect(scan(whole.split('event: response.completed')[0], [])).toEqual([])
  // The last event without its blank line still counts.
  expect(scan(whole.trimEnd(), [])).toEqual([counts(3)])
})

test('the SSE scanner keeps nothing of a long delta line, nor reads it line by line', () => {
  const seen: unknown[] = []
  const scanner = new SseScanner((event) => seen.push(event))
  scanner.feed(Buffer.from(`event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"`))
  const chunk = Buffer.alloc(1024 * 1024, 'a')
  for (let i = 0; i < 64; i++) scanner.feed(chunk)
  const held = scanner as unknown as { tail?: Buffer; reading: boolean }
  expect([held.tail, held.reading]).toEqual([undefined, false])
  scanner.feed(Buffer.from('"}\n\n'))
  scanner.feed(Buffer.from(stream(4, { deltas: 0 })))
  scanner.end()
  expect(seen.map(reportedUsage).filter(Boolean)).toEqual([counts(4)])
})

test('a JSON answer (compact) is read at its end; missing and null details count as 0; junk counts as nothing', () => {
  const body = JSON.stringify({ output: [], usage: usage(5) })
  expect(scan(body, [3, 10], JsonScanner)).toEqual([counts(5)])
  expect(scan('not json', [], JsonScanner)).toEqual([])
  expect(
    reportedUsage({
      type: 'response.completed',
      response: { usage: { input_tokens: 3, input_tokens_details: null, output_tokens: 2, total_tokens: 5 } }
    })
  ).toEqual({ input_tokens: 3, cached_input_tokens: 0, output_tokens: 2, reasoning_tokens: 0, total_tokens: 5 })
  expect(
    reportedUsage({ type: 'response.incomplete', response: { usage: { total_tokens: -4, input_tokens: 'x' } } })
  ).toEqual({ input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, total_tokens: 0 })
  expect(reportedUsage({ type: 'response.output_text.delta', response: { usage: usage(1) } })).toBeUndefined()
  expect(reportedUsage({ type: 'response.completed', response: { usage: null } })).toBeUndefined()
  expect(reportedUsage(null)).toBeUndefined()
})

const ticket = (admitted: Ticket | string): Ticket => {
  if (typeof admitted === 'string') throw new Error(`refused: ${admitted}`)
  return admitted
}
const completed = (n: number) => ({ type: 'response.completed', response: { usage: usage(n) } })

test('the meter sums by model and by session; one usage per request; requests without one are unreported', () => {
  const meter = new Meter()
  const a = ticket(meter.admit({ model: 'gpt-a', session: 's1' }))
  const b = ticket(meter.admit({ model: 'gpt-b', session: 's1' }))
  const c = ticket(meter.admit({ session: 's2' }))
  a.observe(completed(1))
  a.observe(completed(1))
  a.end()
  b.observe({ type: 'response.created' })
  b.end()
  c.observe(completed(2))
  c.end()
  c.end()
  const report = meter.report()
  expect(report).toMatchObject({
    requests: 3,
    input_tokens: 2003,
    cached_input_tokens: 203,
    output_tokens: 103,
    reasoning_tokens: 3,
    total_tokens: 2106,
    refused_requests: 0,
    unreported_requests: 1,
    limits: {}
  })
  expect(report.by_model).toEqual({
    'gpt-a': { requests: 1, ...counts(1) },
    'gpt-b': {
      requests: 1,
      input_tokens: 0,
      cached_input_tokens: 0,
      output_tokens: 0,
      reasoning_tokens: 0,
      total_tokens: 0
    },
    unknown: { requests: 1, ...counts(2) }
  })
  expect(report.by_session.s1).toEqual({ requests: 2, ...counts(1) })
  expect(report.by_session.s2).toEqual({ requests: 1, ...counts(2) })
})

test('max-tokens: requests in flight finish and count; once reached, every request is refused with the figures', () => {
  const meter = new Meter({ maxTokens: 2000 })
  const first = ticket(meter.admit({ model: 'm' }))
  const inFlight = ticket(meter.admit({ model: 'm' }))
  first.observe(completed(0))
  first.end()
  // 1050 of 2000: still admitted.
  const third = ticket(meter.admit({ model: 'm' }))
  inFlight.observe(completed(0))
  third.observe(completed(0))
  expect(meter.admit({ model: 'm' })).toBe(
    "max-tokens 2000 reached: 3,150 tokens used in this job; codex-auth-action's key proxy refuses every further model request in this job."
  )
  expect(meter.report()).toMatchObject({
    requests: 3,
    total_tokens: 3150,
    refused_requests: 1,
    limits: { max_tokens: 2000 }
  })
})

test('max-requests counts requests as they are sent, so it is never exceeded', () => {
  const meter = new Meter({ maxRequests: 2 })
  ticket(meter.admit({}))
  ticket(meter.admit({}))
  expect(meter.admit({})).toBe(
    "max-requests 2 reached: 2 model requests sent in this job; codex-auth-action's key proxy refuses every further model request in this job."
  )
  expect(meter.report()).toMatchObject({ requests: 2, refused_requests: 1 })
})

test('allowed-models: another model, none, or an unreadable body is refused, naming the list', () => {
  const meter = new Meter({ allowedModels: ['gpt-a', 'o4-mini'] })
  expect(meter.checksModels).toBe(true)
  expect(typeof meter.admit({ model: 'gpt-a' })).toBe('object')
  expect(meter.admit({ model: 'gpt-b' })).toBe(
    'Model "gpt-b", and allowed-models is gpt-a, o4-mini: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
  )
  expect(meter.admit({})).toMatch(/^The request names no model, and allowed-models is gpt-a, o4-mini:/)
  expect(meter.admit({ unreadable: 'The request body is not JSON' })).toMatch(/^The request body is not JSON, and/)
  expect(meter.report()).toMatchObject({ requests: 1, refused_requests: 3 })
  expect(new Meter().checksModels).toBe(false)
})

test('leadingModel reads the model Codex writes first, and nothing else', () => {
  expect(leadingModel('{"model":"gpt-6.2-sol","stream":true,"input":[')).toBe('gpt-6.2-sol')
  expect(leadingModel(' { "model" : "a\\"b" }')).toBe('a"b')
  expect(leadingModel('{"stream":true,"model":"x"}')).toBeUndefined()
  expect(leadingModel('{"model":"gpt-6.2')).toBeUndefined()
  expect(leadingModel('')).toBeUndefined()
})

test('grouped writes thousands apart', () => {
  expect([0, 999, 1000, 2013455, 1234567890].map(grouped)).toEqual(['0', '999', '1,000', '2,013,455', '1,234,567,890'])
})

test('over the websocket: each response.create is admitted or refused, each terminal event counted in order', () => {
  const meter = new Meter({ maxRequests: 2, allowedModels: ['gpt-a'] })
  const socket = new SocketMeter(meter, 'session-1')
  const message = (value: unknown) => Buffer.from(JSON.stringify(value))
  // Not a request: forwarded as parsed, not counted.
  expect(socket.fromCodex(message({ type: 'response.processed', response_id: 'r' }), false)).toEqual({
    forward: '{"type":"response.processed","response_id":"r"}'
  })
  // Not a JSON text message (Codex sends none): refused, so no request the meter cannot read goes upstream.
  const notJson = {
    refuse: refusalEvent(
      "codex-auth-action's key proxy relays only JSON text messages over the websocket, as Codex sends them; this one was not sent."
    )
  }
  expect(socket.fromCodex(Buffer.from('{not json'), false)).toEqual(notJson)
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-b' }), true)).toEqual(notJson)
  // A type given twice: the one JSON.parse keeps is the one checked, and the only one sent.
  expect(socket.fromCodex(Buffer.from('{"type":"x","type":"response.create","model":"gpt-a"}'), false)).toEqual({
    forward: '{"type":"response.create","model":"gpt-a"}'
  })
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-b' }), false)).toEqual({
    refuse: refusalEvent(
      'Model "gpt-b", and allowed-models is gpt-a: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
    )
  })
  socket.fromUpstream(message({ type: 'response.created', response: { id: 'r1' } }), false)
  socket.fromUpstream(message(completed(1)), false)
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), false)).toHaveProperty('forward')
  // An error event ends the request without a usage; a late terminal event finds no request.
  socket.fromUpstream(message({ type: 'error', status: 429, error: { message: 'slow down' } }), false)
  socket.fromUpstream(message(completed(9)), false)
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), false)).toEqual({
    refuse: refusalEvent(
      "max-requests 2 reached: 2 model requests sent in this job; codex-auth-action's key proxy refuses every further model request in this job."
    )
  })
  socket.close()
  expect(meter.report()).toMatchObject({
    ...counts(1),
    requests: 2,
    refused_requests: 2,
    unreported_requests: 1,
    by_session: { 'session-1': { requests: 2, ...counts(1) } }
  })
  expect(JSON.parse(refusalEvent('why'))).toMatchObject({
    type: 'response.failed',
    response: { error: { code: 'invalid_prompt', message: 'why' } }
  })
})

describe('the cap inputs', () => {
  const read = (values: Record<string, string>) => (name: string) => values[name] ?? ''
  const refusal = (values: Record<string, string>, proxied = true) => {
    try {
      parseSpendCaps(read(values), proxied)
      return undefined
    } catch (error) {
      if (!(error instanceof UserError)) throw error
      return error.message
    }
  }

  test('valid values', () => {
    expect(parseSpendCaps(read({}), false)).toEqual({ maxTokens: undefined, maxRequests: undefined })
    expect(
      parseSpendCaps(
        read({
          'max-tokens': '2_000_000',
          'max-requests': '40',
          'allowed-models': 'gpt-5, o4-mini\ngpt-5\n\nvendor/m:1'
        }),
        true
      )
    ).toEqual({ maxTokens: 2_000_000, maxRequests: 40, allowedModels: ['gpt-5', 'o4-mini', 'vendor/m:1'] })
  })

  test.each(['0', '-5', '2,000,000', '1.5', 'lots', '1e6', '99999999999999999999', '_1'])(
    'max-tokens %p is refused, naming the input',
    (value) => {
      expect(refusal({ 'max-tokens': value })).toBe(
        `max-tokens must be a whole number of at least 1 (digits only, _ allowed: 2_000_000), not "${value}". Leave it empty for no cap.`
      )
      expect(refusal({ 'max-requests': value })).toMatch(/^max-requests must be a whole number/)
    }
  )

  test('a model name with a space or a quote is refused', () => {
    expect(refusal({ 'allowed-models': 'gpt-5, gpt 4' })).toBe(
      'allowed-models holds "gpt 4", which is not a model name. List model names (gpt-5, o4-mini), comma or newline separated.'
    )
    expect(refusal({ 'allowed-models': '"gpt-5"' })).toMatch(/^allowed-models holds "\\"gpt-5\\""/)
  })

  test('caps without the key proxy are refused: nothing else could enforce them', () => {
    expect(refusal({ 'max-tokens': '10', 'allowed-models': 'gpt-5' }, false)).toBe(
      'max-tokens and allowed-models are enforced by the key proxy, which this job does not use: set key-isolation: proxy (with an api-key), or remove max-tokens and allowed-models.'
    )
    expect(refusal({ 'max-requests': '10' }, false)).toMatch(/^max-requests is enforced by the key proxy/)
  })
})
