/**
 * Text the action did not write itself (anything read from a server's answer: codes,
 * descriptions, names, ids, headers; a library's error text) made safe to print in the step's
 * log, an error message or the job summary.
 *
 * The runner reads a step's stdout line by line (a line ends at "\n", "\r\n" or a bare "\r")
 * and runs a workflow command for every line whose trimmed start is `::` (`::add-mask::`,
 * `::stop-commands::`, `::warning::` ...) and for every line that contains `##[` anywhere (the
 * older `##[add-mask]`, `##[group]` form). A hostile or broken server whose text reached our
 * log could mask arbitrary strings, stop command processing, fake errors or fold the log.
 *
 * The escapes are visible, not zero-width characters: whoever reads the log sees that the
 * server sent something odd (and can tell it from what it did not send), and copying a value
 * out of the log does not carry invisible characters along. The result is for display only,
 * never parsed back; outputs (`core.setOutput`, files, not log lines) keep the exact values.
 * - control characters (C0, DEL, C1), U+2028/U+2029 and the bidi controls become `\n`, `\r`,
 *   `\t` or `\uXXXX`, so a value is always one line;
 * - `::` at the start of a line, after any whitespace, becomes `\::`;
 * - `##[` anywhere becomes `##\[` (in a value, every `#[`: a value may follow a `#`);
 * - the userinfo of a URL (`https://user:password@host`) becomes `***`.
 */

/** Control characters, Unicode line/paragraph separators and bidi overrides/isolates. */
// eslint-disable-next-line no-control-regex -- matching control characters is what this is for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/** The same, minus "\n": for text of our own whose line breaks are meant. */
// eslint-disable-next-line no-control-regex -- matching control characters is what this is for
const CONTROL_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }
/** `::` where the runner would see the start of a command (its TrimStart() also skips U+0085, escaped above). */
const LEADING_COMMAND = /^(\s*)::/
const OLD_COMMAND = /##\[/g
const HASH_BRACKET = /#\[/g
/** scheme://userinfo@ (up to the last @ before the path, query or fragment). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi

function escapeControl(char: string): string {
  return NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** One line made inert: no `##[`, no `::` at its start, no URL userinfo. */
function inertLine(line: string): string {
  return line.replace(URL_USERINFO, '$1***@').replace(OLD_COMMAND, '##\\[').replace(LEADING_COMMAND, '$1\\::')
}

/**
 * A value from outside (a server's field, header or message), made safe to put anywhere in
 * a log line, an error message or the summary: always one line, never a workflow command,
 * whatever comes before or after it.
 */
export function untrusted(text: string): string {
  return inertLine(text.replace(CONTROL, escapeControl).replace(HASH_BRACKET, '#\\['))
}

/**
 * Text we composed, which may embed outside values and may have line breaks of its own
 * ("what happened\nwhat to do"): "\n" (and "\r\n") stay line breaks, every other control
 * character is escaped, and each line is made inert. The last line of defence of every log
 * call, error message and summary; `untrusted` at the boundaries is the first.
 */
export function safeLines(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(CONTROL_BUT_LF, escapeControl).split('\n').map(inertLine).join('\n')
}

/**
 * A URL the user typed (an input), for an error message, without anything that may be
 * userinfo. Stricter than the URL parser: it need not be a valid URL, and everything between
 * the scheme's `//` (or the start, when there is none) and the last `@` is hidden, since a
 * password with an unencoded `/`, `?`, `#` or space is still a password.
 */
export function withoutUserinfo(url: string): string {
  const at = url.lastIndexOf('@')
  if (at < 0) return url
  const slashes = url.indexOf('//')
  const start = slashes >= 0 && slashes < at ? slashes + 2 : 0
  return `${url.slice(0, start)}***${url.slice(at)}`
}
