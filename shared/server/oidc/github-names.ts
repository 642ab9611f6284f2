/**
 * GitHub's character sets for account (owner) and repository names, shared by the token
 * claims check (claims.ts) and trust-policy input (policy-input.ts). ASCII only, on purpose:
 * names are compared case-insensitively, and only ASCII case folding is safe (Unicode folding
 * makes "\u212A" (KELVIN SIGN) equal to "k", so `acme/\u212Aey` would match a policy for
 * `acme/key`).
 *
 * Owner: letters, digits and "-", not starting with "-", at most 39 characters.
 * Name: letters, digits, ".", "_" and "-", at most 100 characters, not "." or "..".
 */
const OWNER = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/
const NAME = /^[A-Za-z0-9._-]{1,100}$/

export const GITHUB_NAME_RULES =
  '"owner/name" with GitHub\'s characters: ASCII letters, digits and "-" in the owner (at most 39); ASCII letters, digits, ".", "_" and "-" in the name (at most 100)'

export function isGitHubOwner(value: string): boolean {
  return OWNER.test(value)
}

/** Exactly one slash, a GitHub owner before it and a GitHub repository name after it. */
export function isGitHubRepository(value: string): boolean {
  const slash = value.indexOf('/')
  if (slash === -1 || value.indexOf('/', slash + 1) !== -1) return false
  const name = value.slice(slash + 1)
  return OWNER.test(value.slice(0, slash)) && NAME.test(name) && name !== '.' && name !== '..'
}
