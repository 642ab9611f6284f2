/**
 * The workspace engine the configuration asks for: PostgreSQL when WORKSPACES_DATABASE_URL
 * (or DATABASE_URL) is set, embedded instances under DATA_DIR/workspaces otherwise. Imported
 * on demand: a server on PostgreSQL never loads the embedded engine, and the reverse.
 */
import type { WorkspaceConfig } from '../config'
import type { WorkspaceEngine } from './engine'

export async function openWorkspaceEngine(config: WorkspaceConfig): Promise<WorkspaceEngine> {
  if (config.databaseUrl) {
    const { PostgresWorkspaceEngine } = await import('./postgres-engine')
    return new PostgresWorkspaceEngine({ adminUrl: config.databaseUrl, maxConnections: config.maxConnections })
  }
  const { EmbeddedWorkspaceEngine } = await import('./pglite-engine')
  return new EmbeddedWorkspaceEngine({ root: config.dir, maxOpen: config.maxOpen })
}
