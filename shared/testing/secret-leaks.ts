/**
 * Finds secrets that escaped masking in what a local-runner step produced. The log is what a
 * user sees (stdout and stderr in order, masked with the masks registered *so far*), so a
 * secret printed before its `::add-mask::` shows up there. A secret may otherwise appear only
 * in the outputs named as secret outputs (masked) and in the step's saved state when it is
 * masked (state is never shown; the post step needs it).
 * Findings name where, never the secret itself, so a failing test does not leak it either.
 */
import { parseFileCommand } from './runner-commands'
import type { StepResult } from './local-runner'

export interface NamedSecret {
  /** What it is, for the failure message ("access token", "OIDC token #2"). */
  label: string
  value: string
}

/** Labels a list of values (e.g. `issuer.issuedByRunner`). */
export function labelled(label: string, values: Iterable<string | undefined>): NamedSecret[] {
  return [...values].filter((value): value is string => typeof value === 'string' && value.length >= 8).map((value, index) => ({ label: `${label} #${index + 1}`, value }))
}

export interface LeakOptions {
  /** Outputs that carry a secret by design (they must be masked). */
  secretOutputs?: string[]
  /** Values the job masked (default: the step's own masks). */
  maskedValues?: Iterable<string>
  /**
   * Accept a masked secret in GITHUB_ENV. Actions must never export one (every later step,
   * third-party ones included, would get it); a workflow's own `run:` step may, on purpose.
   */
  allowMaskedEnv?: boolean
}

/** Where each secret appears unmasked in one step's output; empty when nothing leaked. */
export function findLeaks(step: StepResult, secrets: NamedSecret[], options: LeakOptions = {}): string[] {
  const findings: string[] = []
  const allowedOutputs = new Set(options.secretOutputs ?? [])
  const masked = new Set(options.maskedValues ?? step.masks)
  const check = (where: string, text: string): void => {
    for (const secret of secrets) if (text.includes(secret.value)) findings.push(`${secret.label} appears in ${where}`)
  }
  check(`${step.name} (${step.phase}) log`, step.log)
  check(`${step.name} (${step.phase}) job summary`, step.summary)
  for (const secret of secrets) {
    if (step.files.env.includes(secret.value) && !(options.allowMaskedEnv && masked.has(secret.value))) {
      findings.push(`${secret.label} appears in ${step.name} (${step.phase}) GITHUB_ENV`)
    }
  }
  for (const [name, value] of Object.entries(parseFileCommand(step.files.output, 'GITHUB_OUTPUT'))) {
    if (!allowedOutputs.has(name)) check(`${step.name} (${step.phase}) output "${name}"`, value)
    else if (value !== '' && !masked.has(value)) findings.push(`${step.name} (${step.phase}) secret output "${name}" is not masked`)
  }
  for (const [name, value] of Object.entries(parseFileCommand(step.files.state, 'GITHUB_STATE'))) {
    for (const secret of secrets) {
      if (value.includes(secret.value) && !masked.has(secret.value)) {
        findings.push(`${secret.label} is in state "${name}" of ${step.name} without being masked`)
      }
    }
  }
  return findings
}

/** findLeaks over every step of a job (main and post phases alike). */
export function findLeaksInAll(steps: StepResult[], secrets: NamedSecret[], options: LeakOptions = {}): string[] {
  return steps.flatMap((step) => findLeaks(step, secrets, options))
}
