/** Benchmarks (`npm run bench:*`), never in CI: they print numbers and ratios, they assert no timings. */
module.exports = {
  ...require('./jest.preset.js'),
  displayName: 'bench',
  testMatch: ['<rootDir>/test/bench/**/*.bench.ts'],
  maxWorkers: 1,
  globalSetup: '<rootDir>/libs/testing/src/jest-global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/jest-global-teardown.ts',
  testTimeout: 1_800_000,
};
