/**
 * Finding 6 (security review), the neutraliser itself (shared/client/untrusted-text.ts) and
 * the logger wrapper that applies it to every log call (guardedLog).
 */
import { describe, expect, it } from '@jest/globals'
import { guardedLog } from '../../shared/client/core'
import { safeLines, untrusted, withoutUserinfo } from '../../shared/client/untrusted-text'
import { recordingCore } from '../client/helpers'

/** The runner's test for a workflow command: a line whose trimmed start is `::`, or that contains `##[`. */
function isRunnerCommand(line: string): boolean {
  return line.trimStart().startsWith('::') || line.includes('##[')
}

/** Lines as the runner reads them: "\r\n", "\n" and a bare "\r" all end one. */
function runnerLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/)
}

const ATTACKS = [
  '::add-mask::x',
  '  ::warning::x',
  '\t::stop-commands::token',
  'ok\n::warning::x',
  'ok\r::add-mask::x',
  'ok\r\n   ::error::x',
  'ok\u0085::debug::x',
  'ok\u2028::notice::x',
  '\u00a0::warning::nbsp',
  'mid ##[add-mask]x',
  'mid ##[group]x ##[endgroup]',
  '###[add-mask]x',
  '#[add-mask]x',
  '##[##[x',
  '::::x',
  '\u001b[31mred\u001b[0m\u0000\u0007\u007f\u009b'
]

describe('finding 6: untrusted() makes a value inert on one line', () => {
  it.each(ATTACKS)('%j: one line, no workflow command, at the start of a line or anywhere in it', (attack) => {
    const shown = untrusted(attack)
    expect(runnerLines(shown)).toHaveLength(1)
    // eslint-disable-next-line no-control-regex -- matching control characters is the point of the check
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
    expect(isRunnerCommand(shown)).toBe(false)
    // Wherever it is put: at the start of a line, after other text, twice in a row.
    for (const line of [shown, `prefix ${shown}`, `${shown}${shown}`, `#${shown}`]) expect(isRunnerCommand(line)).toBe(false)
  })

  it('uses visible escapes a reader can follow', () => {
    expect(untrusted('ok\n::warning::x')).toBe('ok\\n::warning::x')
    expect(untrusted('a\r\nb\tc\u0000\u001b')).toBe('a\\r\\nb\\tc\\u0000\\u001b')
    expect(untrusted('  ::add-mask::x')).toBe('  \\::add-mask::x')
    expect(untrusted('see ##[group]x')).toBe('see ##\\[group]x')
    expect(untrusted('\u2028\u202e')).toBe('\\u2028\\u202e')
  })

  it('leaves ordinary values alone', () => {
    for (const value of ['acme/widgets', 'ns_4242', '2030-01-01T00:00:00Z', 'http://[::1]:8080/v1/db/ns/main', 'trust_policy_violation', 'a::b', '# heading', 'é ü 日本']) {
      expect(untrusted(value)).toBe(value)
    }
  })

  it('hides the userinfo of URLs', () => {
    expect(untrusted('redirect to https://user:secret@login.example/x')).toBe('redirect to https://***@login.example/x')
    expect(untrusted('http://a:b@c@host/')).toBe('http://***@host/')
  })

  it('is idempotent (values neutralised at the boundary pass the logger unchanged)', () => {
    for (const attack of ATTACKS) {
      const once = untrusted(attack)
      expect(untrusted(once)).toBe(once)
      expect(safeLines(once)).toBe(once)
    }
  })
})

describe('finding 6: safeLines() keeps our own line breaks and makes each line inert', () => {
  it('keeps "\\n", turns "\\r\\n" into "\\n", escapes a bare "\\r" and other controls', () => {
    expect(safeLines('what happened\nwhat to do')).toBe('what happened\nwhat to do')
    expect(safeLines('a\r\nb')).toBe('a\nb')
    expect(safeLines('a\r::add-mask::x')).toBe('a\\r::add-mask::x')
    expect(safeLines('x\n  ::warning::y\nz ##[group]w')).toBe('x\n  \\::warning::y\nz ##\\[group]w')
  })

  it.each(ATTACKS)('%j: no runner line of the result is a command', (attack) => {
    for (const line of runnerLines(safeLines(`message: ${attack}\n${attack}`))) expect(isRunnerCommand(line)).toBe(false)
  })
})

describe('finding 6: guardedLog() is the last line of defence of every log call', () => {
  it('info, warning, debug and setFailed are made inert; secrets, outputs and state are exact', () => {
    const rec = recordingCore()
    const core = guardedLog(rec.core)
    const evil = 'x\n::add-mask::y\r##[group]z'
    core.info(evil)
    core.warning(evil)
    core.debug(evil)
    core.setFailed(evil)
    core.setSecret(evil)
    core.setOutput('out', evil)
    core.saveState('state', evil)
    for (const message of [...rec.infos, ...rec.warnings, ...rec.debugs, rec.failed ?? '']) {
      expect(message).toBe('x\n\\::add-mask::y\\r##\\[group]z')
      for (const line of runnerLines(message)) expect(isRunnerCommand(line)).toBe(false)
    }
    expect(rec.masked).toEqual([evil])
    expect(rec.outputs.out).toBe(evil)
    expect(rec.state.state).toBe(evil)
    expect(core.getState('state')).toBe(evil)
  })
})

describe('withoutUserinfo() (finding 7)', () => {
  it.each([
    ['http://user:secret@example.com', 'http://***@example.com'],
    ['https://user@example.com/base', 'https://***@example.com/base'],
    ['https://user:pa/ss@example.com', 'https://***@example.com'],
    ['user:secret@example.com', '***@example.com'],
    ['https://example.com/base', 'https://example.com/base']
  ])('%s → %s', (url, shown) => {
    expect(withoutUserinfo(url)).toBe(shown)
  })
})
