/**
 * What GitHub's runner does with a step's output: workflow commands on stdout/stderr
 * (`::add-mask::`, `::error::`, `::group::` ...), the key=value / heredoc files behind
 * GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STATE, and masking secrets in the log.
 */

/** One parsed `::command key=value,...::data` line. */
export interface WorkflowCommand {
  command: string
  properties: Record<string, string>
  data: string
}

function unescapeData(value: string): string {
  return value.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%')
}

function unescapeProperty(value: string): string {
  return unescapeData(value).replace(/%3A/gi, ':').replace(/%2C/gi, ',')
}

/** Parses a line as a workflow command; undefined when it is plain output. */
export function parseWorkflowCommand(line: string): WorkflowCommand | undefined {
  const trimmed = line.trimStart()
  if (!trimmed.startsWith('::')) return undefined
  const end = trimmed.indexOf('::', 2)
  if (end < 0) return undefined
  const head = trimmed.slice(2, end)
  const space = head.indexOf(' ')
  const command = (space < 0 ? head : head.slice(0, space)).trim()
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(command)) return undefined
  const properties: Record<string, string> = {}
  if (space >= 0) {
    for (const pair of head.slice(space + 1).split(',')) {
      const eq = pair.indexOf('=')
      if (eq > 0) properties[pair.slice(0, eq).trim()] = unescapeProperty(pair.slice(eq + 1))
    }
  }
  return { command, properties, data: unescapeData(trimmed.slice(end + 2)) }
}

/**
 * Parses a file-command file (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE): `name=value` lines and
 * `name<<DELIMITER` ... `DELIMITER` blocks, as @actions/core writes them.
 */
export function parseFileCommand(content: string, file: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = content.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line === '') continue
    const heredoc = line.indexOf('<<')
    const eq = line.indexOf('=')
    if (heredoc > 0 && (eq < 0 || heredoc < eq)) {
      const name = line.slice(0, heredoc)
      const delimiter = line.slice(heredoc + 2)
      const body: string[] = []
      for (i++; i < lines.length && lines[i] !== delimiter; i++) body.push(lines[i] as string)
      if (i >= lines.length) throw new Error(`${file}: no closing delimiter ${delimiter} for ${name}`)
      values[name] = body.join('\n')
    } else if (eq > 0) {
      values[line.slice(0, eq)] = line.slice(eq + 1)
    } else {
      throw new Error(`${file}: invalid line "${line.slice(0, 40)}"`)
    }
  }
  return values
}

/**
 * The runner's secret masker: every registered value (and each line of a multi-line value)
 * is replaced by *** in everything shown afterwards.
 */
export class SecretMasker {
  private readonly values = new Set<string>()

  add(value: string): void {
    for (const part of [value, ...value.split(/\r?\n/)]) {
      const trimmed = part.trim()
      if (trimmed !== '') this.values.add(trimmed)
    }
  }

  get secrets(): string[] {
    return [...this.values]
  }

  has(value: string): boolean {
    return this.values.has(value)
  }

  /** True when the text contains any registered secret. */
  containsSecret(text: string): boolean {
    return [...this.values].some((secret) => text.includes(secret))
  }

  mask(text: string): string {
    // Longest first, so a secret that contains another is replaced whole.
    const ordered = [...this.values].sort((a, b) => b.length - a.length)
    let masked = text
    for (const secret of ordered) masked = masked.split(secret).join('***')
    return masked
  }
}
