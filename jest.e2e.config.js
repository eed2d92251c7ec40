/** End-to-end tier: the built system as processes, driven through its public interfaces. */
module.exports = {
  ...require('./jest.preset.js'),
  displayName: 'e2e',
  testMatch: ['<rootDir>/test/e2e/**/*.e2e.spec.ts'],
  maxWorkers: 1,
  globalSetup: '<rootDir>/libs/testing/src/jest-global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/jest-global-teardown.ts',
  testTimeout: 120_000,
};
