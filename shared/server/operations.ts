/**
 * The operator-facing parts of the server, registered before the API routes so their
 * hooks see every route: OpenAPI, request logs, metrics, the per-address limit of failures
 * before verification, housekeeping, signing-key administration.
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { requestLogging } from './logging'
import { maintenance } from './maintenance'
import { metricsPlugin } from './metrics'
import { apiDocs } from './openapi'
import { preAuthLimit } from './preauth-limit'

const plugin: FastifyPluginAsync = async (app) => {
  await app.register(apiDocs)
  await app.register(requestLogging)
  await app.register(metricsPlugin)
  await app.register(preAuthLimit)
  await app.register(maintenance)
}

export const operations = fp(plugin, { name: 'federate-operations', fastify: '5.x' })
