/**
 * The two tiers (see __tests__/README.md): `npm test` runs everything; `npm run test:unit`
 * (jest.unit.config.js) runs the files that stay in process, with FEDERATE_TEST_TIER=unit.
 * In a file that is mostly in-process, a test that starts a child process (a server, an
 * action, `npm run server`) is written with these, so the fast tier skips it and `npm test`
 * runs it. Not a test file.
 */
import { describe, it } from '@jest/globals'

export const UNIT_TIER = process.env.FEDERATE_TEST_TIER === 'unit'

/** `it` for a test that starts a child process: skipped by `npm run test:unit`, run by `npm test`. */
export const itStartsProcess = UNIT_TIER ? it.skip : it

/** `describe` for tests that start a child process: skipped by `npm run test:unit`, run by `npm test`. */
export const describeStartsProcess = UNIT_TIER ? describe.skip : describe
