import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig, resolvePublicUrl } from '../../shared/server/config'
import { describeStartsProcess } from '../tiers'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('has the documented defaults (docs/server.md)', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      publicUrl: undefined,
      oidcIssuers: ['https://token.actions.githubusercontent.com'],
      federateAudience: 'persql',
      federateEvents: [],
      adminTokenGenerated: true,
      databaseUrl: undefined,
      accessTokenTtlSeconds: 900,
      workspaceTokenTtlSeconds: 3600
    })
    expect(config.dataDir).toMatch(/\.data$/)
    expect(config.adminToken.length).toBeGreaterThanOrEqual(32)
    expect(config.rateLimit.burst).toBeGreaterThanOrEqual(100)
    expect(resolvePublicUrl(config, 8080)).toBe('http://127.0.0.1:8080')
  })

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      PUBLIC_URL: 'https://idp.example.com/',
      OIDC_ISSUERS: 'https://token.actions.githubusercontent.com, http://127.0.0.1:4000',
      FEDERATE_AUDIENCE: 'my-db',
      FEDERATE_EVENTS: 'pull_request_target,workflow_run',
      ADMIN_TOKEN: 'a-very-long-admin-token',
      DATABASE_URL: 'postgres://u:p@db:5432/federate',
      DATA_DIR: '/var/lib/federate',
      RATE_LIMIT_BURST: '10',
      RATE_LIMIT_PER_MINUTE: '20'
    })
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      publicUrl: 'https://idp.example.com',
      oidcIssuers: ['https://token.actions.githubusercontent.com', 'http://127.0.0.1:4000'],
      federateAudience: 'my-db',
      federateEvents: ['pull_request_target', 'workflow_run'],
      adminToken: 'a-very-long-admin-token',
      adminTokenGenerated: false,
      databaseUrl: 'postgres://u:p@db:5432/federate',
      dataDir: '/var/lib/federate',
      rateLimit: { burst: 10, perMinute: 20 }
    })
    expect(resolvePublicUrl(config, 9000)).toBe('https://idp.example.com')
  })

  it.each([
    [{ PORT: 'abc' }, 'PORT', /"abc" is not a whole number/],
    [{ PORT: '70000' }, 'PORT', /between 0 and 65535/],
    [{ PORT: '-1' }, 'PORT', /whole number/],
    [{ PUBLIC_URL: 'idp.example.com' }, 'PUBLIC_URL', /not a URL/],
    [{ PUBLIC_URL: 'https://idp.example.com/base' }, 'PUBLIC_URL', /without a path/],
    [{ OIDC_ISSUERS: 'http://issuer.example.com' }, 'OIDC_ISSUERS', /only accepted on loopback/],
    [{ OIDC_ISSUERS: 'ftp://x' }, 'OIDC_ISSUERS', /http\(s\)/],
    [{ OIDC_ISSUERS: ' , ' }, 'OIDC_ISSUERS', /no issuer/],
    [{ PUBLIC_URL: 'https://idp.example.com', OIDC_ISSUERS: 'https://idp.example.com' }, 'OIDC_ISSUERS', /own PUBLIC_URL/],
    [{ FEDERATE_EVENTS: 'push' }, 'FEDERATE_EVENTS', /"push" is not one of/],
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN', /at least 16/],
    [{ DATABASE_URL: 'mysql://u:secret@db/x' }, 'DATABASE_URL', /postgres:\/\//],
    [{ RATE_LIMIT_BURST: '0' }, 'RATE_LIMIT_BURST', /between 1/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /not one of/]
  ])('refuses %j naming %s', (env, variable, message) => {
    const error = configError(env)
    expect(error.variable).toBe(variable)
    expect(error.message).toMatch(message)
    expect(error.message.startsWith(`${variable}: `)).toBe(true)
  })

  it('WORKERS: 1 by default, 1 to 64 or auto, and more than 1 only with DATABASE_URL', () => {
    const pg = { DATABASE_URL: 'postgres://db/federate' }
    expect(loadConfig({}).workers).toBe(1)
    expect(loadConfig({ ...pg, WORKERS: '4' }).workers).toBe(4)
    expect(loadConfig({ ...pg, WORKERS: 'auto' }).workers).toBeGreaterThanOrEqual(1)
    expect(loadConfig({ WORKERS: '1' }).workers).toBe(1)
    for (const bad of ['0', '65', 'two', '-1']) expect(configError({ ...pg, WORKERS: bad }).message).toMatch(/^WORKERS: .* is not a whole number between 1 and 64/)
    expect(configError({ WORKERS: '2' }).message).toContain('WORKERS > 1 needs DATABASE_URL: the embedded database belongs to one process')
  })

  it('never echoes a DATABASE_URL password or the admin token in a message', () => {
    expect(configError({ DATABASE_URL: 'mysql://u:secret@db/x' }).message).not.toContain('secret')
    expect(configError({ ADMIN_TOKEN: 'short' }).message).not.toContain('short')
  })
})

describeStartsProcess('npm run server with a bad value', () => {
  it('exits with code 2 and a clear message', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: 'abc' },
      encoding: 'utf8',
      timeout: 60_000
    })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('bad configuration: PORT: "abc" is not a whole number between 0 and 65535')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })
})
