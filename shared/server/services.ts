/**
 * The server's services on the Fastify instance: `app.store`, `app.keys`, `app.tokens`, ...
 * Route plugins declare `dependencies: [SERVICES]` and use them from there; context.ts builds
 * them once per process (the composition root).
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { AppContext, AppOptions } from './context'

/** The plugin name route plugins depend on. */
export const SERVICES = 'federate-services'

/** The services on the instance: the context's, but for its start-up hook (setPublicUrl). */
type Services = Omit<AppContext, 'setPublicUrl'>

declare module 'fastify' {
  // Merged into Fastify's own interface: its type is the services' (context.ts documents each).
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface FastifyInstance extends Services {}
}

const SERVICE_NAMES = ['config', 'store', 'keys', 'tokens', 'verifier', 'limiter', 'registrationLimiter', 'denials', 'workspaces', 'now', 'publicUrl'] as const
/** Fails to compile when a service of the context is missing from the list above. */
const everyService: Exclude<keyof Services, (typeof SERVICE_NAMES)[number]> extends never ? true : false = true

const plugin: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  void everyService
  for (const name of SERVICE_NAMES) app.decorate(name, context[name] as never)
  // Usage counted since the last flush is written, and workspace sessions end, with the app.
  app.addHook('onClose', () => context.workspaces.close())
}

export const services = fp(plugin, { name: SERVICES, fastify: '5.x' })
