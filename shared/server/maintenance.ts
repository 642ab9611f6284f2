/**
 * Housekeeping on a timer: audit events and expired credentials older than
 * AUDIT_RETENTION_DAYS are deleted (at start, then hourly), and the aggregated refusal
 * counts are written before the server closes. Every instance may run it: the deletes are
 * idempotent.
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { AppOptions } from './context'

const DAY_MS = 24 * 60 * 60 * 1000
const EVERY_MS = 60 * 60 * 1000

const plugin: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const retentionMs = context.config.auditRetentionDays * DAY_MS
  let timer: NodeJS.Timeout | undefined
  const prune = (): void =>
    void context.store
      .pruneRetention(new Date(context.now().getTime() - retentionMs))
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
    await context.denials.close().catch((err: unknown) => app.log.warn({ err }, 'could not write the aggregated refusals'))
  })
}

export const maintenance = fp(plugin, { name: 'federate-maintenance', fastify: '5.x' })
