/** Plain-text tables for people; --json output is the server's JSON as is. */

export type Cell = string | number | boolean | null | undefined

/** One cell on one line ("-" when empty); terminal controls are escaped later, on output. */
export function cellText(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-'
  return String(cell).replace(/[\r\n\t]+/g, ' ')
}

/** Columns padded to the widest cell; the header in capitals. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map(cellText))]
  const widths = headers.map((_, col) => Math.max(...cells.map((row) => (row[col] ?? '').length)))
  return `${cells.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ')).join('\n')}\n`
}

/** "key: value" lines for one object. */
export function fields(pairs: Array<[string, Cell]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length))
  return `${pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${cellText(value)}`).join('\n')}\n`
}
