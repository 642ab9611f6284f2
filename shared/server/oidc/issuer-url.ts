/** Rules for the issuer URLs an operator may configure (OIDC_ISSUERS). */

/** True for hosts that can only be this machine: 127.0.0.0/8, localhost, [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host === '[::1]') return true
  const octets = host.split('.')
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255)
}

/**
 * Checks one configured issuer. Plain http is allowed only on loopback (tests); no
 * credentials, query or fragment (the issuer is compared to `iss` as an exact string).
 * @returns a reason when the issuer is not acceptable, undefined when it is
 */
export function issuerProblem(issuer: string): string | undefined {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return `issuer ${JSON.stringify(issuer)} is not an absolute URL`
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `issuer ${JSON.stringify(issuer)} must use https`
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return `issuer ${JSON.stringify(issuer)} uses plain http; only https issuers are trusted (http only on 127.0.0.1, localhost or [::1], for tests)`
  }
  if (url.username || url.password) return `issuer ${JSON.stringify(issuer)} must not contain credentials`
  if (url.search || url.hash || issuer.includes('?') || issuer.includes('#')) {
    return `issuer ${JSON.stringify(issuer)} must not have a query or fragment`
  }
  return undefined
}

/** `<issuer>/.well-known/openid-configuration`, per OIDC Discovery 1.0 section 4 (one trailing slash dropped). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
}

/** The JWKS must be served by the issuer itself, so a discovery document cannot point at someone else's keys. */
export function isSameOrigin(candidate: string, issuer: string): boolean {
  try {
    return new URL(candidate).origin === new URL(issuer).origin
  } catch {
    return false
  }
}
