/**
 * Every secret goes through here: masked in the runner log at once (`setSecret`) and
 * remembered, so any text we produce (messages, summary, debug) can be scrubbed of it even
 * where the runner's masking does not reach (the job summary, our own error strings).
 */
export const REDACTED = '***'

/** JWT-shaped strings (three base64url segments, JSON header): never print one we did not know of. */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}/g
/** "token": "..."-like pairs in bodies a server echoed back. */
const SECRET_FIELD = /("?(?:[a-z_]*token|secret|password|authorization)"?\s*[:=]\s*"?)([^"\s,}]{6,})/gi
const BEARER = /(Bearer\s+)([A-Za-z0-9._~+/=-]{6,})/gi

export class SecretRegistry {
  private readonly known = new Set<string>()

  constructor(private readonly mask: (secret: string) => void) {}

  /** Masks in the log and remembers; returns the value for chaining. */
  add(secret: string): string {
    if (secret && !this.known.has(secret)) {
      this.known.add(secret)
      this.mask(secret)
    }
    return secret
  }

  /** Replaces known secrets, and JWT- or bearer-shaped strings, with ***. */
  scrub(text: string): string {
    let out = text
    // Longest first, so a secret containing another one is removed whole.
    for (const secret of [...this.known].sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED)
    return out.replace(JWT_SHAPE, REDACTED).replace(BEARER, `$1${REDACTED}`)
  }

  /** For text a server sent back: also blanks the values of token/secret/password fields. */
  scrubEcho(text: string): string {
    return this.scrub(text).replace(SECRET_FIELD, `$1${REDACTED}`)
  }
}
