/**
 * The committed bundles as the runner starts them: the action bundles hold no third-party
 * code (it is in dist/vendor/, loaded only after the inputs are valid, and without undici or @actions/exec),
 * fail cleanly on bad inputs, and say what is wrong when the vendor bundle is missing.
 */
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')

function runNode(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((ok) => {
    execFile(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout) =>
      ok({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout })
    )
  })
}

describe('bundles', () => {
  it.each(['federate/index.js', 'register-agent/index.js', 'issue-token/index.js', 'issue-token/post.js'])('dist/%s carries no copy of @actions/* or undici', async (file) => {
    const code = await readFile(join(root, 'dist', file), 'utf8')
    expect(code.length).toBeLessThan(60 * 1024)
    expect(code).not.toMatch(/undici|tunnel|class HttpClient|OidcClient/)
    expect(code).toContain('vendor')
  })

  it('dist/vendor/index.js exports core and HttpClient', async () => {
    const vendor = (await import(join(root, 'dist/vendor/index.js'))) as { core: { setFailed: unknown }; HttpClient: unknown }
    expect(typeof vendor.core.setFailed).toBe('function')
    expect(typeof vendor.HttpClient).toBe('function')
  })

  it('dist/vendor/index.js carries neither undici nor @actions/exec: their stubs fail loudly', async () => {
    const code = await readFile(join(root, 'dist/vendor/index.js'), 'utf8')
    expect(code.length).toBeLessThan(100 * 1024)
    // undici's own error codes and classes, and what @actions/exec and @actions/io load; the
    // stubs' messages name the packages, so not the names themselves.
    expect(code).not.toMatch(/UND_ERR_|class \w*Dispatcher|llhttp|child_process|ToolRunner/)
    const vendor = (await import(join(root, 'dist/vendor/index.js'))) as {
      HttpClient: new (ua: string) => { getAgentDispatcher(url: string): unknown }
      core: { platform: { getDetails(): Promise<unknown> } }
    }
    await expect(vendor.core.platform.getDetails()).rejects.toThrow(/@actions\/exec is not part of this action's bundle/)
    const { HttpClient } = vendor
    const saved = process.env.https_proxy
    process.env.https_proxy = 'http://127.0.0.1:9'
    try {
      expect(() => new HttpClient('test').getAgentDispatcher('https://idp.example.test')).toThrow(/ProxyAgent is not part of this action's bundle.*HttpClient\.request\(\)/)
    } finally {
      if (saved === undefined) delete process.env.https_proxy
      else process.env.https_proxy = saved
    }
  })

  it('fails on invalid inputs with one ::error:: line and exit code 1', async () => {
    const { code, stdout } = await runNode(join(root, 'dist/issue-token/index.js'), { 'INPUT_API-URL': 'http://idp.example.com', 'INPUT_AGENT-ID': 'x' })
    expect(code).toBe(1)
    expect(stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^::error::issue-token: Invalid inputs:%0A- Input 'api-url' must use https.*%0A- Input 'agent-id' must be an agent id/)
    ])
  })

  it('says the release is broken when dist/vendor is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'federate-novendor-'))
    try {
      await mkdir(join(dir, 'dist/federate'), { recursive: true })
      for (const file of ['index.js', 'package.json']) await copyFile(join(root, 'dist/federate', file), join(dir, 'dist/federate', file))
      const { code, stdout } = await runNode(join(dir, 'dist/federate/index.js'), { 'INPUT_API-URL': 'https://db.example.com' })
      expect(code).toBe(1)
      expect(stdout).toMatch(
        /^::error::federate: loading the action runtime \(dist\/vendor\/index.js\): Cannot find module .*%0AThis is unexpected: .*Pin the action to a release tag/m
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
