/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testTimeout: 30_000,
  // Three workers on two cores: the suite is partly waiting (processes starting, Redis, Chromium),
  // so a third worker fills the gaps. 105 suites, idle machine: 463 s with two, 415 s with three
  // (one worker took 420-490 s for 93 suites). Every suite passes with either.
  maxWorkers: 3,
};
