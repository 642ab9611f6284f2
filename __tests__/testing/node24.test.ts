import { afterEach, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { node24Path, nodePath } from '../../shared/testing/node24'

const major = Number(process.versions.node.split('.')[0])
/** Needs a runtime that is not Node 24 at hand (this one). */
const itOnNodeOtherThan24 = major !== 24 ? it : it.skip
const itOnNode20 = major === 20 ? it : it.skip

describe('Node 24 resolver', () => {
  const saved = process.env.NODE24_BIN
  afterEach(() => {
    if (saved === undefined) delete process.env.NODE24_BIN
    else process.env.NODE24_BIN = saved
  })

  itOnNodeOtherThan24('refuses a NODE24_BIN that is another Node version (this one, when it is not 24), naming the variable', async () => {
    process.env.NODE24_BIN = process.execPath
    await expect(node24Path()).rejects.toThrow(/NODE24_BIN points at .* which is Node [0-9.]+, not Node 24/)
  })

  it('refuses a NODE24_BIN that does not run', async () => {
    process.env.NODE24_BIN = '/nonexistent/node'
    await expect(node24Path()).rejects.toThrow(/NODE24_BIN points at "\/nonexistent\/node", which does not run/)
  })

  it('finds a Node 24 binary (a failed lookup earlier is not cached) and returns the same path every time', async () => {
    delete process.env.NODE24_BIN
    const path = await node24Path()
    expect(execFileSync(path, ['-p', 'process.versions.node']).toString().trim()).toMatch(/^24\./)
    expect(await node24Path()).toBe(path)
  })

  itOnNode20('uses this process for node20 (on Node 20 only)', async () => {
    expect(await nodePath('node20')).toBe(process.execPath)
  })
})
