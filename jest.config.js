/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testTimeout: 30_000,
  // Both cores: one worker (Jest's default here, cores - 1) took 420-490 s for the suite, two
  // take 293 s, every suite passing; the longest test case stays under 2 s of its 30 s.
  maxWorkers: 2,
};
