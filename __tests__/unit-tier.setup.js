// Set up by jest.unit.config.js (npm run test:unit): tests written with __tests__/tiers.ts's
// itStartsProcess / describeStartsProcess are skipped in this tier.
process.env.FEDERATE_TEST_TIER = 'unit'
