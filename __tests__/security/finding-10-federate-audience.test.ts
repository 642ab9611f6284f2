/**
 * Finding 10 (low): FEDERATE_AUDIENCE equal to the server's own URL would let a token minted
 * for the agent endpoints (audience PUBLIC_URL) federate, and the reverse. Refused at start.
 */
import { spawnSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import { ConfigError, loadConfig } from '../../shared/server/config'
import { itStartsProcess } from '../tiers'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BASE = { ADMIN_TOKEN: 'finding-10-admin-token-0123456789' }

describe('finding 10: FEDERATE_AUDIENCE must differ from PUBLIC_URL', () => {
  it.each([
    ['the same origin', { PUBLIC_URL: 'https://idp.example.com', FEDERATE_AUDIENCE: 'https://idp.example.com' }],
    ['with a trailing slash', { PUBLIC_URL: 'https://idp.example.com', FEDERATE_AUDIENCE: 'https://idp.example.com/' }],
    ['the default http://HOST:PORT', { HOST: '127.0.0.1', PORT: '8080', FEDERATE_AUDIENCE: 'http://127.0.0.1:8080' }]
  ])('refuses %s with a message naming both', (_name, env) => {
    expect(() => loadConfig({ ...BASE, ...env })).toThrow(ConfigError)
    expect(() => loadConfig({ ...BASE, ...env })).toThrow(/FEDERATE_AUDIENCE: must differ from PUBLIC_URL .*must never federate/)
  })

  it('keeps the default persql and any other audience', () => {
    expect(loadConfig({ ...BASE, PUBLIC_URL: 'https://idp.example.com' }).federateAudience).toBe('persql')
    expect(loadConfig({ ...BASE, PUBLIC_URL: 'https://idp.example.com', FEDERATE_AUDIENCE: 'https://db.example.com' }).federateAudience).toBe('https://db.example.com')
  })

  itStartsProcess('npm run server exits with code 2 and says why', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PUBLIC_URL: 'https://idp.example.com', FEDERATE_AUDIENCE: 'https://idp.example.com' },
      encoding: 'utf8',
      timeout: 60_000
    })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('bad configuration: FEDERATE_AUDIENCE: must differ from PUBLIC_URL (https://idp.example.com)')
  })
})
