import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

/**
 * Module boundaries are the architecture made executable:
 * - apps never import apps; libs never import apps;
 * - contracts depend on nothing of ours; util libs only on contracts and util;
 * - the agent runs on compute nodes without database access: nothing in scope:agent may
 *   depend on a type:data lib;
 * - the test harness is only for tests.
 */
/** Tests may additionally use the harness (type:testing); production code may not. */
function boundaries(forTests) {
  const testing = forTests ? ['type:testing'] : [];
  return {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:data', ...testing] },
      { sourceTag: 'type:data', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:data', ...testing] },
      { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', ...testing] },
      { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
      { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:data', 'type:testing'] },
      { sourceTag: 'scope:agent', notDependOnLibsWithTags: ['type:data', 'scope:api', 'scope:scheduler', 'scope:registry'] },
      { sourceTag: 'scope:api', notDependOnLibsWithTags: ['scope:agent', 'scope:scheduler', 'scope:registry'] },
      { sourceTag: 'scope:scheduler', notDependOnLibsWithTags: ['scope:agent', 'scope:api', 'scope:registry'] },
      { sourceTag: 'scope:registry', notDependOnLibsWithTags: ['scope:agent', 'scope:api', 'scope:scheduler'] },
      { sourceTag: 'scope:metering', notDependOnLibsWithTags: ['scope:agent', 'scope:api', 'scope:scheduler', 'scope:registry'] },
      { sourceTag: 'scope:billing', notDependOnLibsWithTags: ['scope:agent', 'scope:api', 'scope:scheduler', 'scope:registry', 'scope:metering'] },
    ],
  };
}

export default [
  { ignores: ['deploy/**/*.mjs', 'deploy/**/*.d.mts', '**/dist/**', '**/node_modules/**', '.gureum/**', '.gureum-test/**', '.nx/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': ['error', boundaries(false)],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': ['error', boundaries(true)] },
  },
  {
    // Production code must not reach for the test harness.
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', 'libs/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: '@gureum/testing', message: 'the test harness is for tests only' }] }],
    },
  },
  {
    // The admin console (React in the browser): the rules of hooks, on its sources only.
    ...reactHooks.configs.flat.recommended,
    files: ['apps/console/src/**/*.{ts,tsx}'],
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
];
