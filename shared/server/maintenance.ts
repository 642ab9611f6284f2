/**
 * Housekeeping on a timer: audit events and expired credentials older than
 * AUDIT_RETENTION_DAYS are deleted (at start, then hourly), and the aggregated refusal
 * counts are written before the server closes. Every instance may run it: the deletes are
 * idempotent.
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { SERVICES } from './services'

const DAY_MS = 24 * 60 * 60 * 1000
const EVERY_MS = 60 * 60 * 1000

const plugin: FastifyPluginAsync = async (app) => {
  const retentionMs = app.config.auditRetentionDays * DAY_MS
  let timer: NodeJS.Timeout | undefined
  const prune = (): void =>
    void app.store
      .pruneRetention(new Date(app.now().getTime() - retentionMs))
      .then((deleted) => {
        if (deleted.auditEvents + deleted.credentials > 0) app.log.info({ deleted }, 'retention: old audit events and credentials deleted')
      })
      .catch((err: unknown) => app.log.warn({ err }, 'retention prune failed'))

  app.addHook('onReady', async () => {
    prune()
    timer = setInterval(prune, EVERY_MS)
    timer.unref()
  })
  app.addHook('onClose', async () => {
    clearInterval(timer)
    await app.denials.close().catch((err: unknown) => app.log.warn({ err }, 'could not write the aggregated refusals'))
  })
}

export const maintenance = fp(plugin, { name: 'federate-maintenance', fastify: '5.x', dependencies: [SERVICES] })
