/**
 * ts-jest in ESM mode, as two projects: `unit` (pure functions of src/, no build, no CLI)
 * and `e2e` (the bundled dist/ spawned as the runner would, the real CLI installed once
 * by the global setup). `npm run test:unit` runs the first alone, in seconds.
 */
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] }
}

export default {
  testTimeout: 120000,
  maxWorkers: 2,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/__tests__/harness/global-setup.js',
      globalTeardown: '<rootDir>/__tests__/harness/global-teardown.js'
    }
  ]
}
