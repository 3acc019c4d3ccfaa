/**
 * What the upstream will read of a JSON request, found without parsing it: every value of
 * the top-level keys the meter cares about (`model`, `type`), and how deep the text nests.
 * A key given twice is read differently by different parsers (JSON.parse keeps the last,
 * others the first, some refuse; some match keys in any case), so the meter can only trust a
 * key given once, in whatever case; and a text nested deeper than any request Codex sends is
 * refused before JSON.parse or anything that recurses over the result sees it. One pass over the bytes as they arrive, any chunking;
 * memory holds at most a short key or value.
 */

/** The deepest nesting the key proxy accepts: Codex's requests nest about 10 levels. */
export const MAX_DEPTH = 64
/** A key or value longer than this is not one the meter reads (model names are short). */
const MAX_CAPTURE = 512
/** Outside a string: what changes the structure. (Inside one only its closing quote matters: found by indexOf.) */
const STRUCTURE = /["{}[\],:]/g
const BACKSLASH = 0x5c

/** A top-level value that is not a string (a number, an object, …): never a model name. */
const NOT_A_STRING = Symbol('not a string')

export class TopLevelKeys {
  /** Every value each watched key was given at the top level, in order. */
  private readonly values = new Map<string, (string | typeof NOT_A_STRING)[]>()
  /** Deeper than MAX_DEPTH somewhere: nothing else about the text is looked at. */
  tooDeep = false
  private depth = 0
  private inString = false
  /** In a string: whether the chunk so far ended in an odd run of backslashes (its next byte is escaped). */
  private escapeCarried = false
  /** At the top level: what comes next. */
  private expect: 'key' | 'colon' | 'value' | 'comma' = 'key'
  /** The bytes of the key, or of a watched key's string value, being read; undefined when none is. */
  private capture: string[] | undefined
  private captured = 0
  private capturing: 'key' | 'value' | undefined
  /** The watched key whose value comes next. */
  private key: string | undefined

  constructor(watched: readonly string[]) {
    for (const name of watched) this.values.set(name, [])
  }

  feed(chunk: Buffer): void {
    if (this.tooDeep) return
    // latin1: a character a byte, so offsets are byte offsets; captured bytes are decoded at their end.
    const text = chunk.toString('latin1')
    let at = 0
    while (at < text.length) {
      if (this.inString) {
        // The next quote not escaped: one after an even run of backslashes (native search, no loop over the text).
        let quote = text.indexOf('"', at)
        while (quote >= 0 && this.escapedAt(chunk, at, quote)) quote = text.indexOf('"', quote + 1)
        const end = quote < 0 ? text.length : quote
        this.keep(text, at, end)
        if (quote < 0) {
          this.escapeCarried = this.escapedAt(chunk, at, text.length)
          return
        }
        this.inString = false
        this.escapeCarried = false
        at = end + 1
        this.stringEnded()
        continue
      }
      STRUCTURE.lastIndex = at
      const found = STRUCTURE.exec(text)
      if (!found) return
      at = found.index + 1
      this.structure(found[0])
      if (this.tooDeep) return
    }
  }

  /** Whether the byte at `index` follows an odd run of backslashes (counting one carried from the chunk before, when the run starts at `from`). */
  private escapedAt(chunk: Buffer, from: number, index: number): boolean {
    let run = 0
    while (index - run - 1 >= from && chunk[index - run - 1] === BACKSLASH) run++
    const carried = index - run === from && from === 0 && this.escapeCarried
    return (run % 2 === 1) !== carried
  }

  /** How many times `key` was given at the top level. */
  count(key: string): number {
    return this.values.get(key)?.length ?? 0
  }

  /** The one string value of `key`, when it was given exactly once and is a string. */
  single(key: string): string | undefined {
    const values = this.values.get(key) ?? []
    return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined
  }

  private structure(char: string): void {
    const top = this.depth === 1
    if (char === '"') {
      this.inString = true
      if (top && this.expect === 'key') this.startCapture('key')
      else if (top && this.expect === 'value' && this.key !== undefined) this.startCapture('value')
      return
    }
    if (char === '{' || char === '[') {
      if (top && this.expect === 'value') this.valueSeen(NOT_A_STRING)
      if (++this.depth > MAX_DEPTH) this.tooDeep = true
      if (this.depth === 1) this.expect = 'key'
      return
    }
    if (char === '}' || char === ']') {
      // A literal (number, true, null) was the last value of the object.
      if (top && this.expect === 'value') this.valueSeen(NOT_A_STRING)
      this.depth = Math.max(0, this.depth - 1)
      return
    }
    if (!top) return
    if (char === ':') this.expect = 'value'
    else {
      if (this.expect === 'value') this.valueSeen(NOT_A_STRING)
      this.expect = 'key'
    }
  }

  private startCapture(what: 'key' | 'value'): void {
    this.capturing = what
    this.capture = []
    this.captured = 0
  }

  private keep(text: string, from: number, to: number): void {
    if (!this.capture || to <= from) return
    this.captured += to - from
    if (this.captured > MAX_CAPTURE) this.capture = undefined
    else this.capture.push(text.slice(from, Math.min(to, text.length)))
  }

  private stringEnded(): void {
    const what = this.capturing
    const raw = this.capture
    this.capturing = undefined
    this.capture = undefined
    if (this.depth !== 1) return
    if (what === 'key') {
      const key = raw && decode(raw)
      // An over-long key (raw undefined) is no watched one: their longest escaped form is short.
      // In any case: Go's encoding/json and ASP.NET Core's defaults read `Model` as `model` (the last wins).
      const folded = key?.toLowerCase()
      this.key = folded !== undefined && this.values.has(folded) ? folded : undefined
      this.expect = 'colon'
    } else if (this.expect === 'value') {
      if (what === 'value') this.valueSeen((raw && decode(raw)) ?? NOT_A_STRING)
      this.expect = 'comma'
    }
  }

  private valueSeen(value: string | typeof NOT_A_STRING): void {
    if (this.key !== undefined) this.values.get(this.key)?.push(value)
    this.key = undefined
    this.expect = 'comma'
  }
}

/** A captured string's text (latin1 pieces of UTF-8 bytes), its escapes decoded; undefined when malformed. */
function decode(pieces: string[]): string | undefined {
  try {
    return JSON.parse(`"${Buffer.from(pieces.join(''), 'latin1').toString('utf8')}"`) as string
  } catch {
    return undefined
  }
}

/** Scans a whole text. */
export function topLevelKeys(text: Buffer, watched: readonly string[]): TopLevelKeys {
  const scan = new TopLevelKeys(watched)
  scan.feed(text)
  return scan
}
