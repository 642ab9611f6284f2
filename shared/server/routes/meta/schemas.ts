/** JWKS, health, this document and the metrics: documentation. */
import type { RouteDocs } from '../docs'

const jwk = {
  type: 'object',
  additionalProperties: true,
  required: ['kty', 'kid', 'alg'],
  properties: Object.fromEntries(['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y'].map((name) => [name, { type: 'string' }]))
}
const status = (value: string) => ({ type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: [value] } } })

export const metaDocs: RouteDocs = {
  'GET /.well-known/jwks.json': {
    operationId: 'getJwks',
    summary: "The public keys that verify the server's access tokens, newest first",
    tags: ['meta'],
    security: 'none',
    response: { 200: { description: 'JWK set', type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: jwk } } } }
  },
  'GET /healthz': {
    operationId: 'getHealth',
    summary: 'Readiness: 200 once the database answers',
    tags: ['meta'],
    security: 'none',
    response: { 200: { description: 'ready', ...status('ok') }, 503: { description: 'database unreachable', ...status('unavailable') } }
  },
  'GET /openapi.json': {
    operationId: 'getOpenApiDocument',
    summary: 'This document',
    tags: ['meta'],
    security: 'none',
    response: { 200: { description: 'OpenAPI 3.1 document', type: 'object', additionalProperties: true } }
  },
  'GET /metrics': {
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (text exposition format 0.0.4)',
    tags: ['meta'],
    security: 'none',
    produces: ['text/plain'],
    response: { 200: { description: 'metrics', type: 'string' } }
  }
}
