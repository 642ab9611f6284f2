/**
 * What the CLI writes reaches an operator's terminal, and much of it is server data: agent
 * names and descriptions, repositories, audit detail, error bodies. A hostile agent, or a
 * hostile or spoofed server, could put terminal controls in them: ESC sequences (CSI, OSC 52
 * writes to the clipboard, DCS), bare CR and backspace that overwrite what was shown, C1
 * controls (the 8-bit CSI U+009B among them), bidi overrides that reorder text. Every write
 * of the CLI goes through `terminalSafe` (cli.ts, `run`), which shows each such character as
 * its visible `\uXXXX` escape. Inside --json output that is the JSON escape of the same
 * character, so scripts parse exactly the server's data.
 */

/**
 * C0 controls but the newline (tab included: the CLI writes none), DEL, C1, and the
 * characters that reorder or break lines: ALM, LRM, RLM, LS, PS, LRE..RLO, LRI..PDI.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is what this is for
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
// eslint-disable-next-line no-control-regex -- matching control characters is what this is for
const UNSAFE_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const escape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * `text` with every terminal control escaped. Newlines stay (the CLI's own, between lines;
 * table cells have none) unless `oneLine`, for a message that must stay one line.
 */
export function terminalSafe(text: string, options: { oneLine?: boolean } = {}): string {
  return text.replace(options.oneLine ? UNSAFE_OR_NEWLINE : UNSAFE, escape)
}
