/**
 * The result table: each figure beside its reference from the same run, the ratio, the
 * target and whether it holds. Rendered for the terminal and as Markdown for RESULTS.md.
 */

export interface Row {
  section: string
  metric: string
  value: string
  reference?: string
  ratio?: string
  target?: string
  /** undefined: no target for this row (informative). */
  pass?: boolean
}

export class ResultTable {
  readonly rows: Row[] = []

  add(row: Row): void {
    this.rows.push(row)
    // Print as we go: a long bench should show progress, and a crash keeps what was measured.
    console.log(`  ${row.section} | ${row.metric}: ${row.value}${row.reference ? ` (ref ${row.reference}` + (row.ratio ? `, ${row.ratio})` : ')') : ''}${verdict(row)}`)
  }

  markdown(): string {
    const head = '| section | metric | value | reference (same run) | ratio | target | holds |\n| --- | --- | --- | --- | --- | --- | --- |'
    const body = this.rows.map((r) => `| ${[r.section, r.metric, r.value, r.reference ?? '', r.ratio ?? '', r.target ?? '', holds(r)].join(' | ')} |`)
    return [head, ...body].join('\n')
  }

  text(): string {
    const cols: Array<keyof Row | 'holds'> = ['section', 'metric', 'value', 'reference', 'ratio', 'target', 'holds']
    const cells = [cols.map(String), ...this.rows.map((r) => cols.map((c) => (c === 'holds' ? holds(r) : String(r[c] ?? ''))))]
    const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)))
    return cells
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()
      )
      .join('\n')
  }

  misses(): Row[] {
    return this.rows.filter((r) => r.pass === false)
  }
}

function holds(row: Row): string {
  return row.pass === undefined ? '' : row.pass ? 'yes' : 'NO'
}

function verdict(row: Row): string {
  return row.pass === undefined ? '' : row.pass ? `  [target ${row.target}: holds]` : `  [target ${row.target}: MISSED]`
}
