/**
 * oidc.ts asks the runner's token endpoint itself (not core.getIDToken, which stand-ins for
 * the runner such as GitHub's local-action lack): the request core.getIDToken makes, through
 * the action's transport, with the retry rules of any GET. A fake transport records the
 * requests and answers; no network.
 */
import { describe, expect, it } from '@jest/globals'
import type { ActionCore } from '../../shared/client/core'
import { ActionError } from '../../shared/client/errors'
import type { HttpRequest, HttpResponse } from '../../shared/client/http'
import { IdTokenSource } from '../../shared/client/oidc'
import { SecretRegistry } from '../../shared/client/secrets'

const REQUEST_URL = 'http://runner.invalid/_apis/idtoken?api-version=2.0'
const JWT = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ repository: 'acme/widgets', aud: 'https://idp.example.com' })).toString('base64url')}.c2ln`

const silent = (): void => undefined
function source(
  answers: Array<HttpResponse | Error>,
  env: Record<string, string> = { ACTIONS_ID_TOKEN_REQUEST_URL: REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-bearer' }
) {
  const requests: HttpRequest[] = []
  const masked: string[] = []
  const core: ActionCore = {
    setSecret: (secret) => void masked.push(secret),
    setOutput: silent,
    setFailed: silent,
    saveState: silent,
    getState: () => '',
    debug: silent,
    info: silent,
    warning: silent,
    isDebug: () => false
  }
  let now = 0
  const http = async (request: HttpRequest): Promise<HttpResponse> => {
    requests.push(request)
    const answer = answers.shift()
    if (!answer) throw new Error('no more answers')
    if (answer instanceof Error) throw answer
    return answer
  }
  const clock = { sleep: async (ms: number) => void (now += ms), now: () => now, random: () => 0 }
  const tokens = new IdTokenSource({ core, http, env, clock, secrets: new SecretRegistry((secret) => core.setSecret(secret)) }, 'https://idp.example.com', () => ({
    maxAttempts: 3,
    budgetMs: 60_000
  }))
  return { tokens, requests, masked }
}

const json = (status: number, body: unknown): HttpResponse => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

async function failure(promise: Promise<unknown>): Promise<ActionError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof ActionError) return error
    throw error
  }
  throw new Error('expected a failure')
}

describe("the runner's OIDC token endpoint, asked directly", () => {
  it("sends core.getIDToken's request (GET the runner URL + &audience=, the runner's bearer) and masks the token it gets", async () => {
    const { tokens, requests, masked } = source([json(200, { value: JWT })])
    const token = await tokens.get()
    expect(token.value).toBe(JWT)
    expect(token.claims.repository).toBe('acme/widgets')
    expect(masked).toEqual([JWT])
    expect(requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        url: `${REQUEST_URL}&audience=${encodeURIComponent('https://idp.example.com')}`,
        headers: expect.objectContaining({ authorization: 'Bearer runner-bearer' })
      })
    ])
    expect(requests[0]!.timeoutMs).toBeGreaterThan(0)
  })

  it('retries a 429, a 5xx and a network failure; the fourth try is not made (max-attempts 3)', async () => {
    const { tokens, requests } = source([json(429, {}), json(503, { message: 'busy' }), new Error('socket hang up'), json(200, { value: JWT })])
    const error = await failure(tokens.get())
    expect(requests).toHaveLength(3)
    expect(error.message).toMatch(/gave up after 3 attempts/)
  })

  it('a 5xx then a token: succeeds on the retry', async () => {
    const { tokens, requests } = source([json(500, { message: 'injected' }), json(200, { value: JWT })])
    expect((await tokens.get()).value).toBe(JWT)
    expect(requests).toHaveLength(2)
  })

  it.each([
    [
      'a 403, with the endpoint saying why',
      json(403, { message: 'Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable' }),
      /failed with 403 \(Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable\)/
    ],
    ['a 200 without a token', json(200, { nope: true }), /answered 200 without a token/],
    ['a 200 that is not JSON', { status: 200, headers: {}, body: '<html>' }, /answered 200 without a token/]
  ])('%s is final: one request, the reason in the message', async (_name, answer, message) => {
    const { tokens, requests } = source([answer, json(200, { value: JWT })])
    const error = await failure(tokens.get())
    expect(requests).toHaveLength(1)
    expect(error.code).toBe('id_token_unavailable')
    expect(error.message).toMatch(message)
  })

  it('without the runner variables (no id-token: write), asks nothing and says which permission is missing', async () => {
    const { tokens, requests } = source([], {})
    const error = await failure(tokens.get())
    expect(error.code).toBe('missing_id_token_permission')
    expect(requests).toEqual([])
  })
})
