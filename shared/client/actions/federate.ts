/** The federate action: self sign-up of the workflow's repository (Protocol B). */
import { federate } from '../federation'
import { parseFederateInputs, type FederateInputs } from '../inputs'
import { runAction, type ActionSpec } from '../run-action'
import type { RunDeps } from '../session'
import { untrusted } from '../untrusted-text'

export const federateAction: ActionSpec<FederateInputs> = {
  name: 'federate',
  protocol: 'federate',
  parse: parseFederateInputs,
  audience: (inputs) => inputs.audience,
  context: (inputs) => ({ apiUrl: inputs.apiUrl, audience: inputs.audience, scope: inputs.scope }),
  async execute(session, inputs, tokens) {
    const { core } = session
    const workspace = await federate(session, tokens, inputs.apiUrl, inputs.scope)
    // Masked in federate() already; only `token` is secret, the rest passes through job outputs.
    core.setOutput('token', workspace.token)
    core.setOutput('url', workspace.url)
    core.setOutput('namespace', workspace.namespace)
    core.setOutput('database', workspace.database)
    core.setOutput('identity', workspace.identity)
    core.setOutput('created', String(workspace.created))
    core.setOutput('expires-at', workspace.expiresAt)
    // The outputs above are exact; what is printed of them is the server's text, neutralised.
    const shown = {
      namespace: untrusted(workspace.namespace),
      identity: untrusted(workspace.identity),
      url: untrusted(workspace.url),
      expiresAt: untrusted(workspace.expiresAt),
      scope: workspace.scope === undefined ? undefined : untrusted(workspace.scope)
    }
    core.info(
      `${workspace.created ? 'Created' : 'Reusing'} workspace ${shown.namespace} for ${shown.identity}: ${shown.url} (token${shown.scope ? ` with scope ${shown.scope}` : ''} expires at ${shown.expiresAt})`
    )
    // A server before scopes ignores the body and grants read and write without saying so.
    if (inputs.scope && workspace.scope === undefined) {
      core.warning(`asked for scope '${inputs.scope}' but the server did not say which scope it granted: it may predate the 'scope' input, and the token may also write.`)
    }
    return {
      headline: workspace.created ? `workspace created for ${shown.identity}` : `fresh token for the workspace of ${shown.identity}`,
      result: [
        ['identity', shown.identity],
        ['namespace', shown.namespace],
        ['database', untrusted(workspace.database)],
        ['url', shown.url],
        ['created', String(workspace.created)],
        ['expires-at', shown.expiresAt]
      ],
      granted: { scope: shown.scope }
    }
  }
}

/** Entry point of the federate bundle. */
export function run(deps: Partial<RunDeps> = {}): Promise<void> {
  return runAction(federateAction, deps)
}
