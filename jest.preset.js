// Shared Jest settings. Jest 30 on Node 20 cannot load ES modules in CommonJS mode, so swc
// transpiles our TypeScript and the ESM-only packages inside node_modules to CommonJS.
const swcOptions = require('./tools/swc-options.cjs');

const esmPackages = ['@nestjs', '@nats-io', 'file-type', 'uid', 'load-esm', 'token-types', 'strtok3', 'uint8array-extras'];

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj|cj)sx?$': ['@swc/jest', { ...swcOptions, sourceMaps: 'inline', swcrc: false }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleNameMapper: {
    '^@gureum/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  cacheDirectory: '<rootDir>/.gureum-test/jest-cache',
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/', '<rootDir>/.gureum'],
};
