/** The key proxy's meter: the SSE scanner on any chunking, the counts, the caps and their messages, the cap inputs. */
import fc from 'fast-check'
import {
  grouped,
  JsonScanner,
  Meter,
  readRequest,
  reportedUsage,
  refusalEvent,
  SocketMeter,
  SseScanner,
  type Ticket
} from '../../src/helpers/key-proxy/usage.js'
import { MAX_DEPTH, TopLevelKeys } from '../../src/helpers/key-proxy/json-keys.js'
import { UserError } from '../../src/job/errors.js'
import { CODEX_HOLDS_IT, parseSpendCaps } from '../../src/inputs/spend.js'

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

/** Feeds `text` to `feed` in the pieces `cuts` make. */
function feedCut(text: string, cuts: number[], feed: (chunk: Buffer) => void): void {
  const bytes = Buffer.from(text)
  let start = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    feed(bytes.subarray(start, Math.max(start, cut)))
    start = Math.max(start, cut)
  }
  feed(bytes.subarray(start))
}

/** What a scanner reports from `text` cut at `cuts`. */
function scan(text: string, cuts: number[], Scanner: typeof SseScanner | typeof JsonScanner = SseScanner): unknown[] {
  const seen: unknown[] = []
  const scanner = new Scanner((event) => seen.push(event))
  feedCut(text, cuts, (chunk) => scanner.feed(chunk))
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
  a.end('served')
  b.observe({ type: 'response.created' })
  b.end('unserved')
  c.observe(completed(2))
  c.end('served')
  c.end('served')
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
    unmetered_requests: 0,
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
  first.end('served')
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

test('grouped writes thousands apart', () => {
  expect([0, 999, 1000, 2013455, 1234567890].map(grouped)).toEqual(['0', '999', '1,000', '2,013,455', '1,234,567,890'])
})

const stop = "codex-auth-action's key proxy refuses every further model request in this job."

test('max-tokens fails closed: a request the upstream may have served without a usage report counts the cap as reached', () => {
  const meter = new Meter({ maxTokens: 1_000_000 })
  expect(meter.drains).toBe(true)
  // An error answer, or no connection: nothing was billed, nothing changes.
  ticket(meter.admit({ model: 'm' })).end('unserved')
  expect(typeof meter.admit({ model: 'm' })).toBe('object')
  // A request whose answer was cut off before its final event: its usage is unknown.
  ticket(meter.admit({ model: 'm' })).end('served')
  expect(meter.admit({ model: 'm' })).toBe(
    `max-tokens 1000000 counted as reached: 1 model requests ended without a usage report (cut off before the upstream's last event), so the tokens they used are unknown; ${stop}`
  )
  expect(meter.report()).toMatchObject({
    requests: 3,
    unreported_requests: 2,
    unmetered_requests: 1,
    refused_requests: 1
  })
  // Without max-tokens nothing needs the usage: it is only reported.
  const open = new Meter({ maxRequests: 10 })
  expect(open.drains).toBe(false)
  ticket(open.admit({})).end('served')
  expect(typeof open.admit({})).toBe('object')
})

test('a model learnt once the body has passed is booked then; one never learnt is booked as unknown', () => {
  const meter = new Meter()
  const named = ticket(meter.admit({ session: 's', modelLater: true }))
  named.book('gpt-b')
  named.book('gpt-c')
  named.observe(completed(1))
  named.end('served')
  const never = ticket(meter.admit({ session: 's', modelLater: true }))
  never.observe(completed(2))
  never.end('served')
  expect(meter.report().by_model).toEqual({
    'gpt-b': { requests: 1, ...counts(1) },
    unknown: { requests: 1, ...counts(2) }
  })
})

describe('the top-level keys of a JSON text, as the upstream reads them', () => {
  /** What a scan of `text` cut at `cuts` finds for model and type. */
  const keys = (text: string, cuts: number[] = []) => {
    const scan = new TopLevelKeys(['model', 'type'])
    feedCut(text, cuts, (chunk) => scan.feed(chunk))
    return { models: scan.count('model'), model: scan.single('model'), type: scan.single('type'), deep: scan.tooDeep }
  }

  test('only top-level keys count, however the text is cut; escapes are read as JSON.parse reads them', () => {
    const text = JSON.stringify({
      type: 'response.create',
      input: [{ model: 'nested', text: '"model":"in a string" \\ \u00e9\u4e2d' }],
      // Runs of backslashes before quotes, which any cut may split.
      tail: ['\\', '\\"', '\\\\"model"', 'x\\\\\\'],
      tools: { model: { model: 'x' } },
      model: 'gpt-\u00e9"q'
    })
    fc.assert(
      fc.property(fc.array(fc.nat({ max: text.length + 10 }), { maxLength: 30 }), (cuts) => {
        expect(keys(text, cuts)).toEqual({ models: 1, model: 'gpt-\u00e9"q', type: 'response.create', deep: false })
      })
    )
    expect(keys('{"mod\\u0065l":"a", "model" : "b"}')).toMatchObject({ models: 2, model: undefined })
    expect(keys('{"model":"gpt-a","model":"gpt-b"}')).toMatchObject({ models: 2, model: undefined })
    expect(keys('{"model":5,"type":null}')).toMatchObject({ models: 1, model: undefined, type: undefined })
    expect(keys('{"model":{"model":"x"},"type":["response.create"]}')).toMatchObject({ models: 1, model: undefined })
    expect(keys('{"input":"model","x":"\\\\"}')).toMatchObject({ models: 0 })
  })

  test('on any JSON object, cut anywhere, the top-level keys found are those JSON.parse sees', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })),
        fc.string({ unit: 'grapheme' }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 10 }),
        (rest, model, cuts) => {
          const text = JSON.stringify({ ...rest, model, type: 'response.create' })
          expect(keys(text, cuts)).toEqual({ models: 1, model, type: 'response.create', deep: false })
        }
      )
    )
  })

  test('a text deeper than MAX_DEPTH is found before anything parses it', () => {
    expect(keys(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`).deep).toBe(false)
    expect(keys(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`).deep).toBe(true)
  })

  test('readRequest refuses a request too deep, not JSON, or naming its model or type twice', () => {
    const deep = Buffer.from(`{"type":"response.create","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)
    expect(readRequest(deep, ['type', 'model'])).toBe(`The request nests deeper than ${MAX_DEPTH} levels`)
    expect(readRequest(Buffer.from('{"model":"a"'), ['model'])).toBe('The request is not JSON')
    expect(readRequest(Buffer.from('{"model":"a","model":"a"}'), ['model'])).toBe(
      'The request names its model more than once, so the upstream might read either'
    )
    expect(readRequest(Buffer.from('{"model":"a"}'), ['model'])).toBeInstanceOf(TopLevelKeys)
  })
})

test('over the websocket: only response.create goes on, as sent; usage is matched to responses by their id', () => {
  const meter = new Meter({ maxRequests: 3, allowedModels: ['gpt-a'] })
  const socket = new SocketMeter(meter, 'session-1')
  const message = (value: unknown) => Buffer.from(JSON.stringify(value))
  const refused = (reason: string) => ({ refuse: refusalEvent(reason) })
  const onlyCreate =
    "codex-auth-action's key proxy relays only response.create messages over the websocket (all Codex sends); this one was not sent."
  // Anything but a response.create is answered here: no message the meter cannot pair goes upstream.
  expect(socket.fromCodex(message({ type: 'response.noop' }), false)).toEqual(refused(onlyCreate))
  expect(socket.fromCodex(Buffer.from('{not json'), false)).toEqual(
    refused("The request is not JSON: codex-auth-action's key proxy did not send it.")
  )
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), true)).toEqual(
    refused(
      "codex-auth-action's key proxy relays only JSON text messages over the websocket, as Codex sends them; this one was not sent."
    )
  )
  // A type or model given twice could be read either way: refused.
  expect(socket.fromCodex(Buffer.from('{"type":"response.create","model":"gpt-a","type":"x"}'), false)).toEqual(
    refused(
      "The request names its type more than once, so the upstream might read either: codex-auth-action's key proxy did not send it."
    )
  )
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-b' }), false)).toEqual(
    refused(
      'Model "gpt-b", and allowed-models is gpt-a: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
    )
  )
  // The bytes that came go on, spacing and all.
  const first = Buffer.from('{ "type" : "response.create", "model": "gpt-a" }')
  expect(socket.fromCodex(first, false)).toEqual({ forward: first })
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), false)).toHaveProperty('forward')
  expect(socket.settled).toBe(false)
  // An error that names no response ends none; responses end by their id, in any order.
  socket.fromUpstream(message({ type: 'error', status: 400, error: { message: 'no' } }), false)
  socket.fromUpstream(message({ type: 'response.created', response: { id: 'r1' } }), false)
  socket.fromUpstream(message({ type: 'response.completed', response: { id: 'elsewhere', usage: usage(7) } }), false)
  expect(socket.settled).toBe(false)
  socket.fromUpstream(message({ type: 'response.completed', response: { id: 'r1', usage: usage(1) } }), false)
  // One create is still waiting, and one error named no response: that may be its answer.
  expect(socket.settled).toBe(true)
  socket.fromUpstream(message({ type: 'response.created', response: { id: 'r2' } }), false)
  socket.fromUpstream(message({ type: 'error', response_id: 'r2', error: { message: 'failed' } }), false)
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), false)).toHaveProperty('forward')
  expect(socket.fromCodex(message({ type: 'response.create', model: 'gpt-a' }), false)).toEqual(
    refused(`max-requests 3 reached: 3 model requests sent in this job; ${stop}`)
  )
  socket.close(false)
  expect(meter.report()).toMatchObject({
    ...counts(1),
    requests: 3,
    refused_requests: 2,
    unreported_requests: 2,
    unmetered_requests: 1,
    by_session: { 'session-1': { requests: 3, ...counts(1) } }
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
      `max-tokens and allowed-models are enforced by the key proxy, which does not hold this job's credential (${CODEX_HOLDS_IT}): set key-isolation: proxy (an error then names anything that stands in its way), or remove max-tokens and allowed-models.`
    )
    expect(refusal({ 'max-requests': '10' }, false)).toMatch(/^max-requests is enforced by the key proxy/)
  })
})
