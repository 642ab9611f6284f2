/**
 * Text the database cannot hold: a NUL (PostgreSQL text and jsonb refuse it) or an unpaired
 * UTF-16 surrogate (not Unicode; jsonb refuses it, UTF-8 encoding silently replaces it).
 * Request bodies (app.ts) and signed token claims (claims.ts) are checked with the same rule.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** What is wrong with `text` for storage, or undefined when nothing is. */
export function textProblem(text: string): string | undefined {
  const match = UNSAFE_TEXT.exec(text)
  if (!match) return undefined
  return match[0] === '\u0000' ? 'a NUL character (U+0000)' : 'an unpaired UTF-16 surrogate (not valid Unicode)'
}

const SIMPLE_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/

export interface UnsafeText {
  /** Where: `description`, `events[1]`, `a.b`, `["odd key"]` (other keys JSON-escaped, so the path never carries the bad text); '' for `value` itself. */
  path: string
  problem: string
  /** True when the bad text is an object key, not a value. */
  inName: boolean
}

/** The first string or object key in `value`, at any depth, that the database cannot hold. Iterative: a 64 KiB body can nest thousands of levels deep. */
export function findUnsafeText(value: unknown): UnsafeText | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }]
  while (stack.length > 0) {
    const { value, path } = stack.pop()!
    if (typeof value === 'string') {
      const problem = textProblem(value)
      if (problem) return { path, problem, inName: false }
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]` })
    } else if (typeof value === 'object' && value !== null) {
      const keys = Object.keys(value)
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!
        const name = SIMPLE_KEY.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`
        const problem = textProblem(key)
        if (problem) return { path: name, problem, inName: true }
        stack.push({ value: (value as Record<string, unknown>)[key], path: name })
      }
    }
  }
  return undefined
}
