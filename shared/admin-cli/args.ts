/** A small argv parser: positionals, `--flag value`, `--flag=value` and boolean switches. */
import { usageError } from './errors'

export interface ParsedArgs {
  positionals: string[]
  options: Map<string, string | true>
}

export function parseArgs(argv: string[], booleans: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = []
  const options = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    if (eq !== -1) options.set(name, arg.slice(eq + 1))
    else if (booleans.has(name)) options.set(name, true)
    else {
      const value = argv[i + 1]
      if (value === undefined || value.startsWith('--')) throw usageError(`--${name} needs a value`)
      options.set(name, value)
      i++
    }
  }
  return { positionals, options }
}

/** Reads the options a command knows; any other option is a usage error. */
export class Options {
  private readonly used = new Set<string>()

  constructor(private readonly parsed: ParsedArgs) {}

  string(name: string): string | undefined {
    this.used.add(name)
    const value = this.parsed.options.get(name)
    if (value === true) throw usageError(`--${name} needs a value`)
    return value
  }

  flag(name: string): boolean {
    this.used.add(name)
    return this.parsed.options.get(name) === true
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name)
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!Number.isFinite(value) || value < min || value > max) {
      throw usageError(`--${name} must be a number between ${min} and ${max}, got "${raw}"`)
    }
    return value
  }

  /** Throws for options the command did not ask for (typos must not be ignored). */
  rejectUnknown(): void {
    for (const name of this.parsed.options.keys()) {
      if (!this.used.has(name)) throw usageError(`unknown option --${name}`)
    }
  }
}
