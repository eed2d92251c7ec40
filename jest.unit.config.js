/** Unit tier: pure logic with fakes behind interfaces; no network, no database. */
module.exports = {
  ...require('./jest.preset.js'),
  displayName: 'unit',
  testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.spec.ts'],
  testPathIgnorePatterns: ['\\.int\\.spec\\.ts$'],
};
