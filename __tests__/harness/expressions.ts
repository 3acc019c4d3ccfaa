/**
 * GitHub Actions expressions (`${{ … }}` and `if:`), the part workflows use: contexts and
 * their properties, string/number/boolean/null literals, `== != < <= > >= && || !`,
 * parentheses, and the functions success(), failure(), always(), cancelled(), contains(),
 * startsWith(), endsWith(), format(). Anything else throws, naming it: an expression the
 * stand-in runner cannot evaluate is never guessed.
 */
export type Contexts = Record<string, unknown>

export interface Status {
  failed: boolean
}

const TOKEN =
  /\s*(?:(\|\||&&|==|!=|<=|>=|<|>|!|\(|\)|,|\[|\]|\.)|('(?:[^']|'')*')|(\d+(?:\.\d+)?)|([A-Za-z_][\w-]*\*?))/y

function tokens(expr: string): string[] {
  const found: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex
    const match = TOKEN.exec(expr)
    if (!match) {
      if (!expr.slice(at).trim()) break
      throw new Error(`expression "${expr}": cannot read "${expr.slice(at)}"`)
    }
    found.push(match[1] ?? match[2] ?? match[3] ?? match[4])
  }
  return found
}

function truthy(value: unknown): boolean {
  return !(
    value === false ||
    value === 0 ||
    value === '' ||
    value === null ||
    value === undefined ||
    Number.isNaN(value)
  )
}

function toNumber(value: unknown): number {
  if (value === null || value === undefined || value === '') return 0
  if (typeof value === 'boolean') return value ? 1 : 0
  if (typeof value === 'number') return value
  if (typeof value === 'string') return Number(value)
  return NaN
}

/** GitHub's loose comparison: strings case-insensitively, other mixes as numbers. */
function compare(a: unknown, b: unknown): number {
  if (typeof a === 'string' && typeof b === 'string') {
    const x = a.toLowerCase()
    const y = b.toLowerCase()
    return x === y ? 0 : x < y ? -1 : 1
  }
  const x = toNumber(a)
  const y = toNumber(b)
  return x === y ? 0 : x < y ? -1 : x > y ? 1 : NaN
}

function text(value: unknown): string {
  if (value === null || value === undefined) return ''
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

class Parser {
  private i = 0
  constructor(
    private readonly expr: string,
    private readonly list: string[],
    private readonly ctx: Contexts,
    private readonly status: Status
  ) {}

  parse(): unknown {
    const value = this.or()
    if (this.i < this.list.length) throw new Error(`expression "${this.expr}": unexpected "${this.list[this.i]}"`)
    return value
  }

  private peek(): string | undefined {
    return this.list[this.i]
  }

  private take(expected?: string): string {
    const token = this.list[this.i++]
    if (token === undefined || (expected && token !== expected))
      throw new Error(`expression "${this.expr}": expected ${expected ?? 'more'}, found ${token ?? 'the end'}`)
    return token
  }

  private or(): unknown {
    let value = this.and()
    while (this.peek() === '||') {
      this.take()
      const right = this.and()
      value = truthy(value) ? value : right
    }
    return value
  }

  private and(): unknown {
    let value = this.unary()
    while (this.peek() === '&&') {
      this.take()
      const right = this.unary()
      value = truthy(value) ? right : value
    }
    return value
  }

  private unary(): unknown {
    if (this.peek() === '!') {
      this.take()
      return !truthy(this.unary())
    }
    return this.comparison()
  }

  private comparison(): unknown {
    const left = this.primary()
    const op = this.peek()
    if (!op || !['==', '!=', '<', '<=', '>', '>='].includes(op)) return left
    this.take()
    const c = compare(left, this.primary())
    return { '==': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[op]
  }

  private primary(): unknown {
    const token = this.take()
    if (token === '(') {
      const value = this.or()
      this.take(')')
      return value
    }
    if (token.startsWith("'")) return token.slice(1, -1).replace(/''/g, "'")
    if (/^\d/.test(token)) return Number(token)
    if (token === 'true' || token === 'false') return token === 'true'
    if (token === 'null') return null
    if (this.peek() === '(') return this.call(token)
    if (!(token in this.ctx)) throw new Error(`expression "${this.expr}": no context "${token}" in the stand-in runner`)
    let value: unknown = this.ctx[token]
    while (this.peek() === '.' || this.peek() === '[') {
      const key = this.take() === '.' ? this.take() : text(this.bracket())
      value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined
    }
    return value
  }

  private bracket(): unknown {
    const key = this.or()
    this.take(']')
    return key
  }

  private call(name: string): unknown {
    this.take('(')
    const args: unknown[] = []
    while (this.peek() !== ')') {
      args.push(this.or())
      if (this.peek() === ',') this.take()
    }
    this.take(')')
    const s = args.map(text)
    switch (name.toLowerCase()) {
      case 'success':
        return !this.status.failed
      case 'failure':
        return this.status.failed
      case 'always':
        return true
      case 'cancelled':
        return false
      case 'contains':
        return Array.isArray(args[0])
          ? args[0].some((item) => compare(item, args[1]) === 0)
          : s[0].toLowerCase().includes(s[1].toLowerCase())
      case 'startswith':
        return s[0].toLowerCase().startsWith(s[1].toLowerCase())
      case 'endswith':
        return s[0].toLowerCase().endsWith(s[1].toLowerCase())
      case 'format':
        return s[0].replace(/\{(\d+)\}/g, (_m, n: string) => s[Number(n) + 1] ?? '')
      default:
        throw new Error(`expression "${this.expr}": the stand-in runner has no function ${name}()`)
    }
  }
}

export function evaluate(expr: string, ctx: Contexts, status: Status = { failed: false }): unknown {
  return new Parser(expr, tokens(expr), ctx, status).parse()
}

/** Every `${{ … }}` in `value` replaced by its value, as the runner does before a step runs. */
export function interpolate(value: string, ctx: Contexts): string {
  return value.replace(/\$\{\{(.*?)\}\}/gs, (_m, expr: string) => text(evaluate(expr, ctx)))
}

/** An `if:` condition: `${{ }}` optional; without a status function it means `success() && (…)`. */
export function condition(value: string | boolean | undefined, ctx: Contexts, status: Status): boolean {
  if (value === undefined) return !status.failed
  if (typeof value === 'boolean') return value && !status.failed
  const expr = value.trim().replace(/^\$\{\{(.*)\}\}$/s, '$1')
  const result = truthy(evaluate(expr, ctx, status))
  return /\b(success|failure|always|cancelled)\s*\(/.test(expr) ? result : result && !status.failed
}
