/**
 * The CLI's failures, each with the exit code scripts can rely on (docs/server.md, "Admin
 * CLI"). Messages say what to do; none ever contains the admin token.
 */
export const EXIT = {
  ok: 0,
  /** The server understood and said no: unknown id, invalid policy, ... */
  refused: 1,
  /** Bad command line, missing FEDERATE_URL / FEDERATE_ADMIN_TOKEN, or plain http to another machine. */
  usage: 2,
  /** No answer, or not the federate API (network error, timeout, 5xx, not JSON). */
  unreachable: 3,
  /** The server refused the admin token (401). */
  unauthorized: 4
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options)
    this.name = this.constructor.name
  }
}

export const usageError = (message: string): CliError => new CliError(EXIT.usage, message)
