/**
 * Requests that fail before any token was verified (malformed bodies, garbage or foreign
 * OIDC tokens, wrong bearer or admin tokens) cost the server work and prove nothing about
 * the caller, so they are limited per client address: each such failure takes a token from
 * the address's bucket, and an address whose bucket is empty gets 429 + Retry-After before
 * its request is even parsed or verified. Requests whose token verified are never counted.
 *
 * The address is the socket's peer, or with TRUST_PROXY the one the trusted proxies report
 * (Fastify's request.ip). Buckets are per instance, in memory: flood protection needs no
 * coordination, and nothing is written to the database for a refused address.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { SERVICES } from './services'
import { ApiError } from './errors'
import { requestFacts } from './request-facts'

/** What a caller without a verified token can fail with. */
const FAILURE_STATUSES = new Set([400, 401, 413, 414, 415])

/** Cheap public reads that are never refused (health checks, key discovery, scraping). */
const NEVER_LIMITED = new Set(['/healthz', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/metrics', '/openapi.json'])

const MAX_BUCKETS = 100_000

export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now
  ) {}

  /** Seconds until `key` may try again; 0 while it has failures left. */
  retryAfterSeconds(key: string): number {
    const bucket = this.refilled(key)
    if (!bucket || bucket.tokens >= 1) return 0
    return Math.max(1, Math.ceil((1 - bucket.tokens) / (this.perMinute / 60_000) / 1000))
  }

  /** One failure of `key`. */
  fail(key: string): void {
    const bucket = this.refilled(key) ?? { tokens: this.burst, at: this.now() }
    bucket.tokens = Math.max(0, bucket.tokens - 1)
    this.buckets.delete(key) // re-inserted last: the map's order is least recently failed first
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!)
    this.buckets.set(key, bucket)
  }

  private refilled(key: string): { tokens: number; at: number } | undefined {
    const bucket = this.buckets.get(key)
    if (!bucket) return undefined
    const now = this.now()
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * (this.perMinute / 60_000))
    bucket.at = now
    return bucket
  }
}

const plugin: FastifyPluginAsync = async (app) => {
  const { burst, perMinute } = app.config.preAuthLimit
  const limiter = new FailureLimiter(burst, perMinute, () => app.now().getTime())
  const limited = (request: FastifyRequest): boolean => !NEVER_LIMITED.has(request.routeOptions.url ?? '')

  app.addHook('onRequest', async (request) => {
    if (!limited(request)) return
    const wait = limiter.retryAfterSeconds(request.ip)
    if (wait === 0) return
    requestFacts(request).blocked = true
    throw new ApiError(429, 'rate_limited', `too many failed requests from this address; retry in ${wait} s`, { 'retry-after': String(wait) })
  })
  app.addHook('onResponse', async (request, reply) => {
    const facts = requestFacts(request)
    if (facts.blocked || facts.identity !== undefined || !FAILURE_STATUSES.has(reply.statusCode) || !limited(request)) return
    limiter.fail(request.ip)
  })
}

export const preAuthLimit = fp(plugin, { name: 'federate-preauth-limit', fastify: '5.x', dependencies: [SERVICES] })
