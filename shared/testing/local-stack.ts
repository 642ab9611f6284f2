/**
 * `npm run local-stack`: what GitHub's local-action needs to run the actions on this machine
 * (README, "Debugging locally"). A local OIDC issuer whose runner endpoint stands in for the
 * runner's (ACTIONS_ID_TOKEN_REQUEST_URL, a fixed bearer) and mints tokens for `acme/widgets`
 * on `main`, and the reference server trusting it, on fixed ports, with the trust policy that
 * lets `register-agent` run. Prints the admin variables, then `ready`; runs until Ctrl-C or
 * SIGTERM, then stops the server and removes its data.
 *
 * Ports and the bearer come from LOCAL_STACK_SERVER_PORT (8787), LOCAL_STACK_ISSUER_PORT (8788)
 * and LOCAL_STACK_RUNNER_TOKEN (local-action), the repository from LOCAL_STACK_REPOSITORY.
 */
import { githubClaims, LocalOidcIssuer } from './oidc-issuer'
import { startServerProcess } from './server-process'

export const LOCAL_STACK_DEFAULTS = { serverPort: 8787, issuerPort: 8788, runnerToken: 'local-action', adminToken: 'local-admin-token', repository: 'acme/widgets' }

const env = process.env
const serverPort = Number(env.LOCAL_STACK_SERVER_PORT ?? LOCAL_STACK_DEFAULTS.serverPort)
const issuerPort = Number(env.LOCAL_STACK_ISSUER_PORT ?? LOCAL_STACK_DEFAULTS.issuerPort)
const runnerToken = env.LOCAL_STACK_RUNNER_TOKEN ?? LOCAL_STACK_DEFAULTS.runnerToken
const repository = env.LOCAL_STACK_REPOSITORY ?? LOCAL_STACK_DEFAULTS.repository

const issuer = await LocalOidcIssuer.start({ port: issuerPort, requestToken: runnerToken })
issuer.runnerClaims = githubClaims({ repository, repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/main' })
const server = await startServerProcess({
  issuerUrl: issuer.url,
  env: { PORT: String(serverPort), PUBLIC_URL: `http://127.0.0.1:${serverPort}`, ADMIN_TOKEN: env.LOCAL_STACK_ADMIN_TOKEN ?? LOCAL_STACK_DEFAULTS.adminToken }
})

async function stop(): Promise<void> {
  await server.stop()
  await issuer.close()
}

try {
  // The policy that names no agent: register-agent may run for the repository's main branch.
  const res = await fetch(`${server.url}/api/v1/oidc/trust-policies`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'github', repository, branch: 'main' })
  })
  if (res.status !== 201) throw new Error(`creating the trust policy answered ${res.status}: ${await res.text()}`)
} catch (error) {
  await stop()
  throw error
}

process.stdout.write(
  [
    `reference server  ${server.url}`,
    `runner endpoint   ${issuer.requestUrl} (bearer ${runnerToken}), tokens for ${repository} on main`,
    `admin CLI         export FEDERATE_URL=${server.url} FEDERATE_ADMIN_TOKEN=${server.adminToken}`,
    'ready',
    ''
  ].join('\n')
)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stop().then(() => process.exit(0))
  })
}
// The issuer's socket is unref()'d; stay up until a signal.
setInterval(() => undefined, 1 << 30)
