/**
 * The key proxy's meter: what a job has spent, counted from the usage the upstream reports
 * at the end of every response, and the caps (max-tokens, max-requests, allowed-models)
 * checked before a request is sent. It reads copies of the bytes as they pass and never
 * holds the stream back; only a response's final event is kept until its end, to parse it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { SpendCaps } from '../../inputs/spend.js'
import { keep } from './held.js'
import { MAX_DEPTH, TopLevelKeys, topLevelKeys } from './json-keys.js'

/** One row of counts, under the names the usage file gives them. */
export interface Tally {
  /** Model requests sent upstream. */
  requests: number
  input_tokens: number
  /** input_tokens_details.cached_tokens: part of input_tokens. */
  cached_input_tokens: number
  output_tokens: number
  /** output_tokens_details.reasoning_tokens: part of output_tokens. */
  reasoning_tokens: number
  total_tokens: number
}

/** The usage file's content (usage.json in the proxy's directory). */
export interface UsageReport extends Tally {
  /** Requests refused because of a cap: none of them reached the upstream. */
  refused_requests: number
  /** Requests that ended without a usage report (failed, cut off): their tokens are unknown. */
  unreported_requests: number
  /**
   * Of those, the ones the upstream may have billed: answered (or still running) when the
   * proxy stopped reading, with no final event. With max-tokens set, one is enough to count
   * the cap as reached (fail closed): nothing shows that it was not.
   */
  unmetered_requests: number
  by_model: Record<string, Tally>
  by_session: Record<string, Tally>
  limits: { max_tokens?: number; max_requests?: number; allowed_models?: string[] }
  updated_at: string
}

/** What a request is, as far as the caps and the breakdowns go. */
export interface RequestInfo {
  /** The model the request asks for (the upstream reads it); undefined when it could not be read. */
  model?: string
  /** The model is learnt once the body has passed: the ticket's book() says it. */
  modelLater?: boolean
  /** Codex's session-id header. */
  session?: string
  /** Why the model could not be read, when allowed-models needs it. */
  unreadable?: string
}

/**
 * How an admitted request ended, when it reported no usage: `unserved`, the upstream said
 * no (an error answer, no connection, a response never created), so it billed nothing;
 * `served`, it may have billed (an answer cut off, or still running when the proxy stopped
 * reading it).
 */
export type Outcome = 'served' | 'unserved'

/** An admitted request: its usage, once the upstream reports it, then its end. */
export interface Ticket {
  /** One parsed event (SSE data or websocket message) from the upstream. */
  observe(event: unknown): void
  /** The model the body named, once it has passed (RequestInfo.modelLater); undefined: unknown. */
  book(model: string | undefined): void
  /** The answer is over: a request that reported no usage is counted as unreported (and unmetered when `served`). */
  end(outcome: Outcome): void
}

/** The events that end a response and carry its usage. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed'])
/** Keys of the breakdowns when the request did not say (an old Codex, another client). */
const UNKNOWN = 'unknown'
/** Breakdowns are for reading, not a store for whatever a client sends: longer keys are cut. */
const MAX_KEY = 200
/** Rows kept apart in a breakdown; beyond, one row counts the rest (a flood of names fills neither memory, the file nor the summary). */
const MAX_ROWS = 500
const OTHERS = '(others)'

const empty = (): Tally => ({
  requests: 0,
  input_tokens: 0,
  cached_input_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
  total_tokens: 0
})

/** 2013455 → "2,013,455", without relying on the runtime's locale data. */
export function grouped(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** A count the upstream reported, or 0 for anything that is not one. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0
}

/** The usage of a terminal event, or undefined for any other event. */
export function reportedUsage(event: unknown): Omit<Tally, 'requests'> | undefined {
  const { type, response } = (event ?? {}) as { type?: unknown; response?: { usage?: unknown } }
  if (typeof type !== 'string' || !TERMINAL.has(type)) return undefined
  const usage = response?.usage as Record<string, unknown> | null | undefined
  if (!usage || typeof usage !== 'object') return undefined
  const details = (name: string, field: string) => (usage[name] as Record<string, unknown> | null)?.[field]
  return {
    input_tokens: count(usage.input_tokens),
    cached_input_tokens: count(details('input_tokens_details', 'cached_tokens')),
    output_tokens: count(usage.output_tokens),
    reasoning_tokens: count(details('output_tokens_details', 'reasoning_tokens')),
    total_tokens: count(usage.total_tokens)
  }
}

/** One job's counts and caps. Single-threaded: every change happens in one turn of the event loop. */
export class Meter {
  private readonly total = empty()
  private readonly byModel = new Map<string, Tally>()
  private readonly bySession = new Map<string, Tally>()
  private refused = 0
  private unreported = 0
  private unmetered = 0
  /** Set by every change, cleared by whoever writes the report. */
  dirty = true

  constructor(readonly caps: SpendCaps = {}) {}

  /** Whether a request's model must be read in full before it is sent (allowed-models). */
  get checksModels(): boolean {
    return this.caps.allowedModels !== undefined
  }

  /**
   * Whether an answer Codex stopped reading is still read to its end (bounded), for its
   * usage: only max-tokens needs it, and reading on makes the upstream finish (and bill) it.
   */
  get drains(): boolean {
    return this.caps.maxTokens !== undefined
  }

  /**
   * Counts the request as sent and returns its ticket, or returns why it is refused: a cap
   * already reached, or a model outside allowed-models. A refused request is not sent.
   */
  admit(request: RequestInfo): Ticket | string {
    const refusal = this.refusal(request)
    this.dirty = true
    if (refusal) {
      this.refused++
      return refusal
    }
    return this.open(request)
  }

  /** A request counted without a cap's say: one the upstream has already taken on (SocketMeter). */
  open(request: RequestInfo): Ticket {
    this.dirty = true
    const rows = [this.total, row(this.bySession, request.session ?? UNKNOWN)]
    for (const r of rows) r.requests++
    let modelRow: Tally | undefined
    const book = (model: string | undefined) => {
      if (modelRow) return
      modelRow = row(this.byModel, model ?? UNKNOWN)
      modelRow.requests++
      rows.push(modelRow)
      this.dirty = true
    }
    if (!request.modelLater) book(request.model)
    let reported = false
    return {
      observe: (event) => {
        const usage = reported ? undefined : reportedUsage(event)
        if (!usage) return
        reported = true
        book(undefined)
        this.dirty = true
        for (const r of rows) for (const [name, value] of Object.entries(usage)) r[name as keyof typeof usage] += value
      },
      book,
      end: (outcome) => {
        book(undefined)
        if (reported) return
        reported = true
        this.unreported++
        if (outcome === 'served') this.unmetered++
        this.dirty = true
      }
    }
  }

  private refusal({ model, unreadable }: RequestInfo): string | undefined {
    const { maxTokens, maxRequests, allowedModels } = this.caps
    const stop = "codex-auth-action's key proxy refuses every further model request in this job."
    if (maxTokens !== undefined && this.total.total_tokens >= maxTokens)
      return `max-tokens ${maxTokens} reached: ${grouped(this.total.total_tokens)} tokens used in this job; ${stop}`
    // Fail closed: a request whose usage is unknown may have used the rest of the budget.
    if (maxTokens !== undefined && this.unmetered)
      return `max-tokens ${maxTokens} counted as reached: ${grouped(this.unmetered)} model requests ended without a usage report (cut off before the upstream's last event), so the tokens they used are unknown; ${stop}`
    if (maxRequests !== undefined && this.total.requests >= maxRequests)
      return `max-requests ${maxRequests} reached: ${grouped(this.total.requests)} model requests sent in this job; ${stop}`
    if (allowedModels && !(model !== undefined && allowedModels.includes(model))) {
      const asked =
        unreadable ?? (model === undefined ? 'The request names no model' : `Model ${JSON.stringify(model)}`)
      return `${asked}, and allowed-models is ${allowedModels.join(', ')}: codex-auth-action's key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.`
    }
    return undefined
  }

  report(): UsageReport {
    const { maxTokens, maxRequests, allowedModels } = this.caps
    return {
      ...this.total,
      refused_requests: this.refused,
      unreported_requests: this.unreported,
      unmetered_requests: this.unmetered,
      by_model: Object.fromEntries(this.byModel),
      by_session: Object.fromEntries(this.bySession),
      limits: {
        ...(maxTokens !== undefined && { max_tokens: maxTokens }),
        ...(maxRequests !== undefined && { max_requests: maxRequests }),
        ...(allowedModels && { allowed_models: allowedModels })
      },
      updated_at: new Date().toISOString()
    }
  }
}

function row(rows: Map<string, Tally>, key: string): Tally {
  const cut = key.slice(0, MAX_KEY)
  const name = rows.has(cut) || rows.size < MAX_ROWS ? cut : OTHERS
  let found = rows.get(name)
  if (!found) rows.set(name, (found = empty()))
  return found
}

/** How much of a line the SSE scanner looks at before it knows whether to keep it. */
const PEEK = 256
/** A final event larger than this is not parsed (it is still forwarded): the request counts as unreported. */
const MAX_EVENT = 64 * 1024 * 1024
const NEWLINE = 0x0a

/** The names of the terminal events: what the fast search looks for, one pass over a chunk read as latin1 (a byte a character). */
const MARKER = new RegExp([...TERMINAL].map((name) => name.replace('.', '\\.')).join('|'), 'g')
const LONGEST = Math.max(...[...TERMINAL].map((name) => name.length))

/**
 * Finds the terminal events of a server-sent event stream in copies of its chunks, as they
 * pass. Most of a stream is token deltas: each chunk is only searched (natively) for the
 * terminal events' names, and the line reader below runs from the line where one appears
 * until that event is over. Memory holds the start of the current line (at most PEEK
 * bytes) and the final event.
 */
export class SseScanner {
  private readonly lines: LineScanner
  /** Whether the line reader is on (from a terminal event's name until its end). */
  private reading = false
  /** The stream since its last line break, while that is at most PEEK bytes; undefined in a longer line. */
  private tail: Buffer | undefined = Buffer.alloc(0)

  constructor(onEvent: (event: unknown) => void) {
    this.lines = new LineScanner(onEvent)
  }

  feed(chunk: Buffer): void {
    if (!this.reading) {
      const from = this.markerLine(chunk)
      if (from === undefined) return this.keepTail(chunk)
      this.reading = true
      if (from < 0 && this.tail) this.lines.feed(this.tail)
      chunk = chunk.subarray(Math.max(from, 0))
    }
    this.lines.feed(chunk)
    this.keepTail(chunk)
    if (this.lines.idle) this.reading = false
  }

  end(): void {
    this.lines.end()
  }

  /**
   * Where the line that holds a terminal event's name starts: an offset in `chunk`, -1 for
   * the tail (the line began in an earlier chunk), or undefined when there is none. A name
   * deep in a long line (past PEEK) is text, not an event: it is not looked at.
   */
  private markerLine(chunk: Buffer): number | undefined {
    // A name cut in two by the chunk boundary: its line began in the tail.
    if (this.tail?.length) {
      const seam = Buffer.concat([this.tail.subarray(-LONGEST), chunk.subarray(0, LONGEST)]).toString('latin1')
      MARKER.lastIndex = 0
      if (MARKER.test(seam)) return -1
    }
    const text = chunk.toString('latin1')
    MARKER.lastIndex = 0
    for (let found = MARKER.exec(text); found; found = MARKER.exec(text)) {
      const lineStart = text.lastIndexOf('\n', found.index)
      if (lineStart >= 0 ? found.index - lineStart - 1 <= PEEK : this.tail && this.tail.length + found.index <= PEEK)
        return lineStart >= 0 ? lineStart + 1 : -1
    }
    return undefined
  }

  private keepTail(chunk: Buffer): void {
    const newline = chunk.lastIndexOf(NEWLINE)
    const rest = newline < 0 ? chunk : chunk.subarray(newline + 1)
    const length = (newline < 0 ? (this.tail?.length ?? PEEK + 1) : 0) + rest.length
    this.tail =
      length > PEEK ? undefined : newline < 0 && this.tail ? Buffer.concat([this.tail, rest]) : Buffer.from(rest)
  }
}

/**
 * Reads server-sent events line by line: a line that is not a terminal event's (every
 * delta) is skipped as soon as its first bytes show it, so memory holds at most that
 * line's start, and the final event only.
 */
class LineScanner {
  /** The current event's name, from its `event:` line. */
  private name = ''
  /** The current line so far, while it may be kept; undefined when it is skipped. */
  private line: Buffer[] | undefined = []
  private lineLength = 0
  /** Whether the current line is known to be kept (a terminal event's data). */
  private keeping = false
  /** The current event's data lines that were kept. */
  private data: string[] = []

  constructor(private readonly onEvent: (event: unknown) => void) {}

  /** Between events, at a line's start: the search can take over again. */
  get idle(): boolean {
    return this.lineLength === 0 && this.line !== undefined && this.data.length === 0 && this.name === ''
  }

  feed(chunk: Buffer): void {
    for (let start = 0; start < chunk.length;) {
      const newline = chunk.indexOf(NEWLINE, start)
      const end = newline < 0 ? chunk.length : newline
      if (this.line && end > start) {
        this.line.push(chunk.subarray(start, end))
        this.lineLength += end - start
        if (!this.keeping && (this.lineLength >= PEEK || newline >= 0)) this.decide()
        if (this.lineLength > MAX_EVENT) this.line = undefined
      } else if (this.line && this.lineLength > 0 && !this.keeping) this.decide()
      if (newline < 0) return
      this.endLine()
      start = newline + 1
    }
  }

  /** The stream is over: an event without its closing blank line still counts. */
  end(): void {
    if (this.line?.length) this.endLine()
    this.dispatch()
  }

  /** Keeps the line if it is an `event:` line or a terminal event's `data:`, else skips the rest of it. */
  private decide(): void {
    const parts = this.line ?? []
    const head = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).subarray(0, PEEK).toString('utf8')
    if (head === '\r') return
    if (head.startsWith('data:')) {
      // The event's name says it; without one, the `type` Responses API events begin with.
      const name = this.name || /"type"\s*:\s*"([^"]*)"/.exec(head)?.[1] || ''
      this.keeping = TERMINAL.has(name)
      if (!this.keeping) this.line = undefined
    } else if (!head.startsWith('event:')) this.line = undefined
    if (this.line) this.keeping = true
  }

  private endLine(): void {
    const parts = this.line
    const text = parts && (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8').replace(/\r$/, '')
    this.line = []
    this.lineLength = 0
    this.keeping = false
    if (text === undefined) return
    if (text === '') this.dispatch()
    else if (text.startsWith('event:')) this.name = text.slice(6).trim()
    else if (text.startsWith('data:')) this.data.push(text.slice(text.startsWith('data: ') ? 6 : 5))
  }

  private dispatch(): void {
    const data = this.data.join('\n')
    this.name = ''
    this.data = []
    if (!data) return
    try {
      this.onEvent(JSON.parse(data))
    } catch {
      // Not JSON: no usage to read.
    }
  }
}

/**
 * A JSON answer (POST /responses without streaming, /responses/compact): a copy kept up to
 * MAX_EVENT and read at its end as the final event, `{ usage }` at its top level.
 */
export class JsonScanner {
  private chunks: Buffer[] | undefined = []
  private length = 0

  constructor(private readonly onEvent: (event: unknown) => void) {}

  feed(chunk: Buffer): void {
    if (!this.chunks) return
    this.length += chunk.length
    if (this.length > MAX_EVENT) this.chunks = undefined
    else this.chunks.push(chunk)
  }

  end(): void {
    if (!this.chunks) return
    try {
      const answer = JSON.parse(Buffer.concat(this.chunks).toString('utf8')) as { usage?: unknown }
      this.onEvent({ type: 'response.completed', response: { usage: answer.usage } })
    } catch {
      // Not JSON: no usage to read.
    }
  }
}

/**
 * With max-tokens, an answer Codex stopped reading is read on for its usage, for at most this
 * long and this many bytes after Codex left; past either, its usage counts as unknown (which
 * counts max-tokens as reached). A command of the model's that hangs up early gains nothing.
 */
export const DRAIN_MS = 120_000
export const DRAIN_BYTES = 64 * 1024 * 1024

/** A model request the meter let through: its ticket, and the body to send upstream. */
export interface Admitted {
  ticket: Ticket
  body: Readable | Buffer
}

/** The largest request the meter reads whole: a POST body under allowed-models, a websocket message. */
export const MAX_MESSAGE = 64 * 1024 * 1024
/** The top-level keys the meter reads: a POST body's, a websocket message's. */
const BODY_KEYS = ['model']
const MESSAGE_KEYS = ['type', 'model']

/**
 * A whole request (a POST body, a websocket message) read as the upstream will read it: its
 * top-level keys, or why it is not sent. A key given twice could be read either way, so it is
 * refused; a text too large or too deep is refused before JSON.parse sees it.
 */
export function readRequest(data: Buffer, keys: readonly string[]): TopLevelKeys | string {
  if (data.length > MAX_MESSAGE) return `The request is larger than ${MAX_MESSAGE / 1024 / 1024} MB`
  const scan = topLevelKeys(data, keys)
  if (scan.tooDeep) return `The request nests deeper than ${MAX_DEPTH} levels`
  for (const key of keys)
    if (scan.count(key) > 1) return `The request names its ${key} more than once, so the upstream might read either`
  try {
    JSON.parse(data.toString('utf8'))
  } catch {
    return 'The request is not JSON'
  }
  return scan
}

/**
 * The meter's say on a POST. Without allowed-models the body streams on as it comes, and a
 * copy of each chunk is scanned as it passes for the model it names, booked at its end
 * (`unknown` when it names more than one: the upstream may read either). With allowed-models
 * it is read whole (up to MAX_MESSAGE) and sent only when it is JSON naming one allowed model:
 * then the bytes received go on, and the upstream reads the very model that was checked.
 * Returns why it is refused instead, when it is. `headers` are those to send upstream.
 */
export async function admitRequest(
  meter: Meter,
  req: IncomingMessage,
  headers: Record<string, string | string[]>
): Promise<Admitted | string> {
  const session = typeof req.headers['session-id'] === 'string' ? req.headers['session-id'] : undefined
  // The answer is scanned for its usage: it must come uncompressed.
  headers['accept-encoding'] = 'identity'
  const encoding = req.headers['content-encoding']
  const compressed = encoding !== undefined && encoding !== 'identity'
  if (!meter.checksModels) {
    const admitted = meter.admit({ session, modelLater: true })
    if (typeof admitted === 'string') return admitted
    if (compressed) admitted.book(undefined)
    else {
      const scan = new TopLevelKeys(BODY_KEYS)
      // Paused until the upstream request pipes it, so that neither misses a chunk.
      req.on('data', (chunk: Buffer) => scan.feed(chunk)).pause()
      req.once('end', () => admitted.book(scan.single('model')))
    }
    return { ticket: admitted, body: req }
  }
  const body = compressed ? undefined : await wholeBody(req)
  const read = compressed
    ? `The request body is compressed (${encoding}), so its model cannot be read`
    : body
      ? readRequest(body, BODY_KEYS)
      : `The request is larger than ${MAX_MESSAGE / 1024 / 1024} MB, too large to check`
  const admitted = meter.admit(
    typeof read === 'string' ? { session, unreadable: read } : { model: read.single('model'), session }
  )
  if (typeof admitted === 'string') return admitted
  headers['content-length'] = String(body?.length)
  return { ticket: admitted, body: body ?? Buffer.alloc(0) }
}

/**
 * Starts reading an upstream answer's usage from copies of its chunks, after whatever
 * forwards them (so counting never delays a byte); returns what to call at its end. An
 * error answer billed nothing; a 2xx one that ends without its final event may have.
 */
export function meterAnswer(
  ticket: Ticket,
  status: number,
  headers: IncomingHttpHeaders | Record<string, unknown>,
  body: Readable
): () => void {
  const type = String(headers['content-type'] ?? '')
  const encoding = headers['content-encoding']
  const scanner =
    status >= 300 || (encoding && encoding !== 'identity')
      ? undefined
      : type.startsWith('text/event-stream')
        ? new SseScanner((event) => ticket.observe(event))
        : type.startsWith('application/json')
          ? new JsonScanner((event) => ticket.observe(event))
          : undefined
  if (scanner) body.on('data', (chunk: Buffer) => scanner.feed(chunk))
  return () => {
    scanner?.end()
    ticket.end(status >= 300 ? 'unserved' : 'served')
  }
}

/**
 * A refused model request. HTTP 400 with the reason as plain text: Codex 0.171.0 takes a 400
 * as an invalid request, which it does not retry, ends the command (exit 1) and prints the
 * body as it is. (A 403, 410 or 5xx is retried; a 429 prints Codex's own text instead.)
 */
export function refuse(res: ServerResponse, reason: string): void {
  res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
  res.end(reason)
}

/**
 * The whole body, or undefined past MAX_MESSAGE (read to its end all the same, so that the refusal can be sent).
 * Throws NoRoom (held.ts), the request left paused for its answer, when the proxy holds too much at once.
 */
async function wholeBody(req: IncomingMessage): Promise<Buffer | undefined> {
  let chunks: Buffer[] | undefined = []
  let size = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length
    if (size > MAX_MESSAGE) chunks = undefined
    if (chunks) keep(req, (chunk as Buffer).length)
    chunks?.push(chunk as Buffer)
  }
  // One chunk (a body Bedrock's signing read already) is not copied.
  return chunks && (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
}

/**
 * A refused `response.create` over the websocket, as the event the upstream sends for a
 * response that fails: `invalid_prompt` is the Responses API's code for a request refused as
 * it stands, which Codex 0.171.0 does not retry and prints as it is. (A wrapped `error`
 * event stops it too, but prints the whole JSON; refusing the upgrade itself makes Codex wait
 * for the network for ever.)
 */
export function refusalEvent(reason: string): string {
  return JSON.stringify({
    type: 'response.failed',
    response: {
      id: 'resp_codex_auth_action_refused',
      object: 'response',
      status: 'failed',
      error: { code: 'invalid_prompt', message: reason }
    }
  })
}

/** Why a websocket message that is not a JSON text message was not sent upstream. */
const NOT_JSON =
  "codex-auth-action's key proxy relays only JSON text messages over the websocket, as Codex sends them; this one was not sent."
/** Why any other message was not: the meter could not tell what it makes the upstream do. */
const ONLY_CREATE =
  "codex-auth-action's key proxy relays only response.create messages over the websocket (all Codex sends); this one was not sent."

/** What to do with one message of Codex's over the websocket: send these very bytes on, or answer with this event. */
export type SocketVerdict = { forward: Buffer } | { refuse: string }

/** The id the upstream gave a response, as its events and errors name it. */
function responseId(event: unknown): string | undefined {
  const { response, response_id: named } = (event ?? {}) as { response?: { id?: unknown }; response_id?: unknown }
  const id = response?.id ?? named
  return typeof id === 'string' ? id : undefined
}

/**
 * The meter's view of one relayed websocket. Only `response.create` goes upstream, each
 * admitted (or refused) like a POST. The upstream answers each with a response whose id its
 * `response.created` gives; usage is matched to responses by that id, never by position, so
 * no message of Codex's can make a response's usage land nowhere. An `error` ends a response
 * only when it names it; one that names none may be the answer to a create still waiting.
 */
export class SocketMeter {
  /** Creates sent upstream that no response.created has answered yet, oldest first. */
  private readonly waiting: Ticket[] = []
  /** Responses the upstream created, by the id it gave them. */
  private readonly open = new Map<string, Ticket>()
  /** `error` events that named no response: each may be the answer to one waiting create. */
  private unnamedErrors = 0

  constructor(
    private readonly meter: Meter,
    private readonly session: string | undefined
  ) {}

  /** A message from Codex: its bytes go on as they came, or it is answered here and never sent. */
  fromCodex(data: Buffer, isBinary: boolean): SocketVerdict {
    // Codex sends JSON text only: anything else could carry a request the meter cannot read, so it never goes on.
    if (isBinary) return { refuse: refusalEvent(NOT_JSON) }
    const read = readRequest(data, MESSAGE_KEYS)
    if (typeof read === 'string')
      return { refuse: refusalEvent(`${read}: codex-auth-action's key proxy did not send it.`) }
    if (read.single('type') !== 'response.create') return { refuse: refusalEvent(ONLY_CREATE) }
    const admitted = this.meter.admit({ model: read.single('model'), session: this.session })
    if (typeof admitted === 'string') return { refuse: refusalEvent(admitted) }
    this.waiting.push(admitted)
    return { forward: data }
  }

  /** A message from the upstream: parsed only when its start shows a response's start, its end, or an error. */
  fromUpstream(data: Buffer, isBinary: boolean): void {
    if (isBinary) return
    const head = data.subarray(0, PEEK).toString('latin1')
    const type = /"type"\s*:\s*"([^"]*)"/.exec(head)?.[1] ?? ''
    if (type !== 'response.created' && type !== 'error' && !TERMINAL.has(type)) return
    let event: unknown
    try {
      event = JSON.parse(data.toString('utf8'))
    } catch {
      return
    }
    const id = responseId(event)
    if (type === 'response.created') {
      // The oldest create is the one answered: the upstream takes them in turn. One more
      // response than creates (none can be) is counted all the same.
      if (id !== undefined && !this.open.has(id))
        this.open.set(id, this.waiting.shift() ?? this.meter.open({ session: this.session }))
      return
    }
    const ticket = id === undefined ? undefined : this.open.get(id)
    if (!ticket) {
      if (type === 'error' && id === undefined) this.unnamedErrors++
      return
    }
    ticket.observe(event)
    this.open.delete(id as string)
    ticket.end('served')
  }

  /** Whether the upstream's side is read on after Codex leaves, until settled (Meter.drains). */
  get drains(): boolean {
    return this.meter.drains
  }

  /** Nothing left to learn: every response created has ended, and every create still waiting is explained by an error. */
  get settled(): boolean {
    return this.open.size === 0 && this.waiting.length <= this.unnamedErrors
  }

  /**
   * The connection is over. Responses still open may have billed; so may creates still
   * waiting, unless an error explains them or the upstream itself ended the connection
   * (`upstreamEnded`: no response can start on it any more).
   */
  close(upstreamEnded: boolean): void {
    for (const ticket of this.open.values()) ticket.end('served')
    this.open.clear()
    this.waiting
      .splice(0)
      .forEach((ticket, i) => ticket.end(upstreamEnded || i < this.unnamedErrors ? 'unserved' : 'served'))
  }
}
