/** ts-jest in ESM mode; the black-box tests spawn the bundled dist/ as the runner would. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  globalSetup: '<rootDir>/__tests__/harness/global-setup.js',
  globalTeardown: '<rootDir>/__tests__/harness/global-teardown.js',
  testTimeout: 120000,
  maxWorkers: 2
}
