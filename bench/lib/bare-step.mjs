// The reference for "the whole successful step": a dependency-free node script that does what
// the action's network part does and nothing else: GET the OIDC token from the runner
// endpoint (ACTIONS_ID_TOKEN_REQUEST_URL + &audience=), one POST to the server, write an
// output line to GITHUB_OUTPUT. Plain .mjs with node:http so that both Node 20 and 24 run it
// without a loader. BARE_KIND=federate (bearer, no body) or exchange (JSON body with agentId).
import { request } from 'node:http'
import { appendFileSync } from 'node:fs'

function call(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const env = process.env
const audience = env.BARE_AUDIENCE
const oidc = await call('GET', `${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${encodeURIComponent(audience)}`, {
  authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`
})
const idToken = JSON.parse(oidc.text).value
const api = env['INPUT_API-URL']
const res =
  env.BARE_KIND === 'federate'
    ? await call('POST', `${api}/v1/identity/federate`, { authorization: `Bearer ${idToken}` })
    : await call(
        'POST',
        `${api}/api/v1/oidc/token`,
        { 'content-type': 'application/json' },
        JSON.stringify({ provider: 'github', token: idToken, agentId: env['INPUT_AGENT-ID'] })
      )
if (res.status !== 200 && res.status !== 201) {
  console.error(`bare step: HTTP ${res.status}`)
  process.exit(1)
}
const body = JSON.parse(res.text)
const value = body.access_token ?? body.data?.token
appendFileSync(env.GITHUB_OUTPUT, `token<<EOF_bare\n${value}\nEOF_bare\n`)
