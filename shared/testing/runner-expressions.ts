/**
 * The subset of GitHub's `${{ }}` expression language our action.yml files use:
 * context paths (`inputs.x`, `steps.id.outputs.x`, `github.action_path`, `env.X`, `runner.temp`),
 * string/number/boolean literals, `!`, `==`, `!=`, `&&`, `||`, parentheses and the status
 * functions `always()`, `success()`, `failure()`, `cancelled()`. Anything else throws, so a new
 * construct in an action.yml is noticed instead of silently evaluating to ''.
 */

export type ExpressionValue = string | number | boolean | null | ExpressionObject
export interface ExpressionObject {
  [key: string]: ExpressionValue | undefined
}

export interface ExpressionContext {
  contexts: Record<string, ExpressionObject>
  /** Whether every earlier step succeeded (for success()/failure()). */
  jobSucceeded: boolean
}

type Token = { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'word'; value: string } | { kind: 'op'; value: string }

const OPERATORS = ['==', '!=', '&&', '||', '!', '(', ')', '.', '[', ']', ',']

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const ch = source[i] as string
    if (/\s/.test(ch)) {
      i++
    } else if (ch === "'") {
      // GitHub string literals use single quotes; '' is an escaped quote.
      let value = ''
      i++
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in expression: ${source}`)
        if (source[i] === "'" && source[i + 1] === "'") {
          value += "'"
          i += 2
        } else if (source[i] === "'") {
          i++
          break
        } else {
          value += source[i++]
        }
      }
      tokens.push({ kind: 'string', value })
    } else if (/[0-9]/.test(ch) || (ch === '-' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const match = /^-?[0-9]+(\.[0-9]+)?/.exec(source.slice(i)) as RegExpExecArray
      tokens.push({ kind: 'number', value: Number(match[0]) })
      i += match[0].length
    } else if (/[A-Za-z_]/.test(ch)) {
      // Context property names may contain dashes (inputs.api-url).
      const match = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(source.slice(i)) as RegExpExecArray
      tokens.push({ kind: 'word', value: match[0] })
      i += match[0].length
    } else {
      const op = OPERATORS.find((candidate) => source.startsWith(candidate, i))
      if (!op) throw new Error(`unsupported character "${ch}" in expression: ${source}`)
      tokens.push({ kind: 'op', value: op })
      i += op.length
    }
  }
  return tokens
}

/** GitHub's truthiness: false, 0, '', null are falsy. */
export function truthy(value: ExpressionValue | undefined): boolean {
  return !(value === false || value === 0 || value === '' || value === null || value === undefined)
}

function equal(a: ExpressionValue | undefined, b: ExpressionValue | undefined): boolean {
  // GitHub compares strings case-insensitively and coerces mixed types to numbers.
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase()
  if (typeof a === typeof b) return a === b
  const num = (v: ExpressionValue | undefined): number =>
    v === null || v === undefined ? 0 : typeof v === 'boolean' ? Number(v) : typeof v === 'string' ? (v.trim() === '' ? 0 : Number(v)) : NaN
  return num(a) === num(b)
}

class Parser {
  private position = 0
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
    private readonly context: ExpressionContext
  ) {}

  parse(): ExpressionValue | undefined {
    const value = this.or()
    if (this.position < this.tokens.length) throw new Error(`unexpected token in expression: ${this.source}`)
    return value
  }

  private peek(): Token | undefined {
    return this.tokens[this.position]
  }

  private takeOp(op: string): boolean {
    const token = this.peek()
    if (token?.kind === 'op' && token.value === op) {
      this.position++
      return true
    }
    return false
  }

  private or(): ExpressionValue | undefined {
    let left = this.and()
    while (this.takeOp('||')) {
      const right = this.and()
      left = truthy(left) ? left : right
    }
    return left
  }

  private and(): ExpressionValue | undefined {
    let left = this.equality()
    while (this.takeOp('&&')) {
      const right = this.equality()
      left = truthy(left) ? right : left
    }
    return left
  }

  private equality(): ExpressionValue | undefined {
    let left = this.unary()
    for (;;) {
      if (this.takeOp('==')) left = equal(left, this.unary())
      else if (this.takeOp('!=')) left = !equal(left, this.unary())
      else return left
    }
  }

  private unary(): ExpressionValue | undefined {
    if (this.takeOp('!')) return !truthy(this.unary())
    return this.primary()
  }

  private primary(): ExpressionValue | undefined {
    const token = this.tokens[this.position++]
    if (!token) throw new Error(`incomplete expression: ${this.source}`)
    if (token.kind === 'string' || token.kind === 'number') return token.value
    if (token.kind === 'op' && token.value === '(') {
      const value = this.or()
      if (!this.takeOp(')')) throw new Error(`missing ) in expression: ${this.source}`)
      return value
    }
    if (token.kind !== 'word') throw new Error(`unexpected "${token.value}" in expression: ${this.source}`)
    if (token.value === 'true') return true
    if (token.value === 'false') return false
    if (token.value === 'null') return null
    if (this.takeOp('(')) return this.call(token.value)
    return this.path(token.value)
  }

  private call(name: string): ExpressionValue {
    if (!this.takeOp(')')) throw new Error(`function arguments are not supported: ${this.source}`)
    switch (name) {
      case 'always':
        return true
      case 'success':
        return this.context.jobSucceeded
      case 'failure':
        return !this.context.jobSucceeded
      case 'cancelled':
        return false
      default:
        throw new Error(`unsupported function ${name}() in expression: ${this.source}`)
    }
  }

  private path(root: string): ExpressionValue | undefined {
    const context = this.context.contexts[root]
    if (context === undefined) throw new Error(`unknown context "${root}" in expression: ${this.source}`)
    let value: ExpressionValue | undefined = context
    for (;;) {
      let key: string | undefined
      if (this.takeOp('.')) {
        const token = this.tokens[this.position++]
        if (token?.kind !== 'word') throw new Error(`expected a property name in expression: ${this.source}`)
        key = token.value
      } else if (this.takeOp('[')) {
        const token = this.tokens[this.position++]
        if (token?.kind !== 'string' || !this.takeOp(']')) throw new Error(`expected ['name'] in expression: ${this.source}`)
        key = token.value
      } else {
        return value
      }
      value = value !== null && typeof value === 'object' ? findKey(value, key) : undefined
    }
  }
}

/** Property lookup is case-insensitive in GitHub expressions. */
function findKey(object: ExpressionObject, key: string): ExpressionValue | undefined {
  if (key in object) return object[key]
  const lower = key.toLowerCase()
  const match = Object.keys(object).find((candidate) => candidate.toLowerCase() === lower)
  return match === undefined ? undefined : object[match]
}

/** Evaluates one expression (the text inside `${{ }}`, or a bare `if:` condition). */
export function evaluateExpression(source: string, context: ExpressionContext): ExpressionValue | undefined {
  return new Parser(tokenize(source), source, context).parse()
}

/** How GitHub turns a value into text when it interpolates it into a string. */
export function asText(value: ExpressionValue | undefined): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** Replaces every `${{ expr }}` in a string. */
export function interpolate(template: string, context: ExpressionContext): string {
  return template.replace(/\$\{\{(.*?)\}\}/gs, (_, source: string) => asText(evaluateExpression(source, context)))
}

/** Evaluates an `if:` value: bare conditions and `${{ }}`-wrapped ones alike. */
export function evaluateCondition(condition: string | boolean | undefined, context: ExpressionContext): boolean {
  if (condition === undefined) return context.jobSucceeded
  if (typeof condition === 'boolean') return condition
  const trimmed = condition.trim()
  const wrapped = /^\$\{\{(.*)\}\}$/s.exec(trimmed)
  const source = wrapped ? (wrapped[1] as string) : trimmed
  // Like GitHub: a condition without a status function implies success() && (condition).
  const hasStatus = /\b(always|success|failure|cancelled)\s*\(/.test(source)
  const value = truthy(evaluateExpression(source, context))
  return hasStatus ? value : context.jobSucceeded && value
}
