/** End-to-end tier: the built system as processes, driven through its public interfaces. */
module.exports = {
  ...require('./jest.preset.js'),
  displayName: 'e2e',
  testMatch: ['<rootDir>/test/e2e/**/*.e2e.spec.ts'],
  maxWorkers: 1,
  testTimeout: 120_000,
};
