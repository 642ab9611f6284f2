/**
 * `npm run test:unit`: the fast tier, everything that runs inside the jest worker. The client
 * library, the OIDC verifier and policy decisions, the store on in-memory PGlite, the server
 * through an in-process Fastify app. No server or action process, no PostgreSQL, no Node 24,
 * no bundle run as a process: the files that need one are listed below and run by `npm test`
 * (jest.config.js, the whole suite).
 *
 * A few files mix the two: their tests that start a process are written `itStartsProcess` /
 * `describeStartsProcess` (__tests__/tiers.ts) and are skipped here, because the setup file
 * sets FEDERATE_TEST_TIER=unit.
 */
import base from './jest.config.js'

export default {
  ...base,
  setupFiles: ['<rootDir>/__tests__/unit-tier.setup.js'],
  testPathIgnorePatterns: [
    '/node_modules/',
    // Whole tiers that start server processes, PostgreSQL or the bundles on Node 24.
    '<rootDir>/__tests__/(e2e|faults|ops|scale|bench)/',
    // The bundles as processes (dist-fresh also rebuilds them).
    '<rootDir>/__tests__/dist-fresh\\.test\\.ts$',
    '<rootDir>/__tests__/client/(bundle|proxy)\\.test\\.ts$',
    // Server processes and PostgreSQL.
    '<rootDir>/__tests__/server/(postgres|restart|server-process)\\.test\\.ts$',
    '<rootDir>/__tests__/security/finding-05-data-dir\\.test\\.ts$',
    '<rootDir>/__tests__/security/finding-12-admin-cli-terminal-escapes\\.test\\.ts$',
    // The test tooling that fetches Node 24 or starts PostgreSQL.
    '<rootDir>/__tests__/testing/(local-runner|node24|postgres)\\.test\\.ts$',
    // Tools run as processes: Redocly's CLI on the OpenAPI document, the release-notes script.
    '<rootDir>/__tests__/tooling/(openapi-lint|release)\\.test\\.ts$'
  ]
}
