/** Integration tier: one service or lib against real PostgreSQL, NATS and Docker. */
module.exports = {
  ...require('./jest.preset.js'),
  displayName: 'integration',
  testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.int.spec.ts'],
  maxWorkers: 2,
  globalSetup: '<rootDir>/libs/testing/src/jest-global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/jest-global-teardown.ts',
  testTimeout: 60_000,
};
