/**
 * Finding 12: the admin CLI sent the admin token to any http:// FEDERATE_URL, in clear
 * across the network. It now refuses plain http unless the server is this machine (127.0.0.0/8,
 * localhost, [::1]) or --insecure is given, and it refuses before any request. These tests
 * run the CLI in-process with a recording fetch: nothing is ever sent to a network address.
 */
import { describe, expect, it } from '@jest/globals'
import { run } from '../../shared/admin-cli/cli'

const ADMIN_TOKEN = 'finding-12-admin-token-0123456789'

async function cli(url: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string; requests: string[] }> {
  const requests: string[] = []
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    env: { FEDERATE_URL: url, FEDERATE_ADMIN_TOKEN: ADMIN_TOKEN },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    readStdin: async () => '',
    // Records the request and answers it here: no traffic leaves the process.
    fetch: async (input) => {
      requests.push(input)
      return new Response(JSON.stringify({ items: [] }), { status: 200, headers: { 'content-type': 'application/json' } })
    }
  })
  return { code, stdout, stderr, requests }
}

describe('finding 12: the admin token never travels in clear to another machine', () => {
  it('finding 12: refuses an http:// FEDERATE_URL that is not loopback, before any request, and says how to fix it', async () => {
    for (const url of [
      'http://203.0.113.10',
      'http://203.0.113.10:8080/',
      'http://idp.example.com',
      'http://[2001:db8::1]:3000',
      'http://10.0.0.5',
      'http://localhost.example.com'
    ]) {
      const result = await cli(url, ['policy', 'list'])
      expect({ url, code: result.code, requests: result.requests }).toEqual({ url, code: 2, requests: [] })
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(
        /^federate-admin: FEDERATE_URL .* is plain http to another machine: the admin token would cross the network in clear; use https:\/\/.*, or add --insecure if you accept that knowingly\n$/
      )
      expect(result.stderr).not.toContain(ADMIN_TOKEN)
    }
    // Loopback http, and https anywhere, need no flag.
    for (const url of ['http://127.0.0.1:4000', 'http://127.9.8.7', 'http://localhost:4000', 'http://[::1]:4000', 'https://203.0.113.10', 'https://idp.example.com']) {
      const result = await cli(url, ['policy', 'list'])
      expect({ url, code: result.code, stderr: result.stderr, requests: result.requests.length }).toEqual({ url, code: 0, stderr: '', requests: 1 })
    }
  })

  it('finding 12: with --insecure the CLI proceeds over plain http, and warns that the token travels in clear', async () => {
    const result = await cli('http://203.0.113.10:8080', ['policy', 'list', '--insecure'])
    expect(result.code).toBe(0)
    expect(result.requests).toEqual(['http://203.0.113.10:8080/api/v1/oidc/trust-policies'])
    expect(result.stdout).toBe('no trust policies\n')
    expect(result.stderr).toBe('federate-admin: warning: --insecure: the admin token goes to http://203.0.113.10:8080 in clear\n')
    // On loopback, or over https, --insecure changes nothing and says nothing.
    for (const url of ['http://127.0.0.1:4000', 'https://idp.example.com']) {
      const quiet = await cli(url, ['policy', 'list', '--insecure'])
      expect({ code: quiet.code, stderr: quiet.stderr, requests: quiet.requests.length }).toEqual({ code: 0, stderr: '', requests: 1 })
    }
  })
})
