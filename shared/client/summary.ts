/**
 * The job summary, written on every run: the OIDC token's non-secret claims next to the
 * result or the reason for the refusal, so a failed run shows at a glance why the policy
 * did not match. Everything passes through `scrub`; no secret field is ever a row. Every
 * line is made inert too (untrusted-text.ts): the summary never holds a workflow command.
 */
import { appendFileSync } from 'node:fs'
import { summaryClaimRows, type TokenClaims } from './claims'
import type { Env } from './inputs'
import { safeLines, untrusted } from './untrusted-text'

export type SummaryWriter = (markdown: string) => Promise<void>

/** What a token carries (or would carry, in a dry run): not secret, and what least privilege is checked by. */
export interface Grant {
  /** A dry run: what the exchange would grant. */
  wouldBe?: boolean
  scope?: string
  audience?: string
  /** Lifetime in seconds. */
  expiresIn?: number
  expiresAt?: string
}

/** 300 -> '300 s (5 min)'; whole hours and days likewise. */
export function lifetimeText(seconds: number): string {
  const unit = seconds % 86_400 === 0 ? [86_400, 'd'] : seconds % 3600 === 0 ? [3600, 'h'] : seconds % 60 === 0 ? [60, 'min'] : undefined
  return unit && seconds >= 60 ? `${seconds} s (${seconds / (unit[0] as number)} ${unit[1] as string})` : `${seconds} s`
}

/** The rows of a grant, only those the server told. */
export function grantRows(grant: Grant): Array<[string, string]> {
  const rows: Array<[string, string]> = []
  if (grant.scope) rows.push(['scope', grant.scope])
  if (grant.audience) rows.push(['audience', grant.audience])
  if (grant.expiresIn !== undefined) rows.push(['lifetime', lifetimeText(grant.expiresIn)])
  if (grant.expiresAt) rows.push(['expires-at', grant.expiresAt])
  return rows
}

export interface SummaryReport {
  /** The action's name, e.g. 'issue-token'. */
  action: string
  ok: boolean
  /** One line: what happened. */
  headline: string
  /** Present once a token was minted. */
  claims?: TokenClaims
  audience?: string
  /** Non-secret result fields (never tokens). */
  result?: Array<[string, string]>
  /** What the token grants (or would grant). */
  granted?: Grant
  failure?: { message: string; fix?: string }
}

function cell(text: string): string {
  return text ? safeLines(text).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>').replace(/`/g, "'") : '—'
}

function table(header: [string, string], rows: Array<[string, string]>): string {
  return [`| ${header[0]} | ${header[1]} |`, '| --- | --- |', ...rows.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`)].join('\n')
}

export function renderSummary(report: SummaryReport, scrub: (text: string) => string): string {
  const parts = [`### ${report.ok ? '✅' : '❌'} ${report.action}: ${untrusted(scrub(report.headline))}`]
  if (report.result?.length)
    parts.push(
      table(
        ['result', 'value'],
        report.result.map(([k, v]) => [k, scrub(v)])
      )
    )
  const granted = report.granted ? grantRows(report.granted) : []
  if (granted.length)
    parts.push(
      table(
        [report.granted?.wouldBe ? 'would be granted' : 'granted', 'value'],
        granted.map(([k, v]) => [k, scrub(v)])
      )
    )
  if (report.failure) {
    parts.push(`**What happened:** ${cell(scrub(report.failure.message))}`)
    if (report.failure.fix) parts.push(`**What to do:** ${cell(scrub(report.failure.fix))}`)
  }
  if (report.claims) {
    parts.push(
      table(
        ['OIDC token claim', 'value'],
        summaryClaimRows(report.claims, report.audience ?? '').map(([k, v]) => [k, scrub(v)])
      )
    )
  } else if (!report.ok) {
    parts.push('_No OIDC token was minted, so there are no claims to show._')
  }
  return parts.join('\n\n') + '\n\n'
}

/**
 * Appends to $GITHUB_STEP_SUMMARY; does nothing outside a runner. Synchronous like
 * @actions/core's file commands: one small write as the last thing a run does, where a trip
 * through libuv's thread pool only delays the exit.
 */
export function fileSummaryWriter(env: Env): SummaryWriter {
  // In a promise's executor, a failed write rejects the promise rather than throwing.
  return (markdown) =>
    new Promise((resolve) => {
      const path = env.GITHUB_STEP_SUMMARY
      if (path) appendFileSync(path, markdown, 'utf8')
      resolve()
    })
}
