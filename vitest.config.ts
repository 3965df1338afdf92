import { defineConfig } from 'vitest/config';

/**
 * Three projects in two groups, one group after the other (sequence.groupOrder):
 * 1. unit   — pure code, no root, seconds — together with
 *    kernel — the cases and the harness's own kernel tests. They spend their time waiting for
 *    kernel timers, not computing, so many run at once even on 2 cores (each has its namespaces);
 * 2. tools  — `deadpeer check` / `exec` / the run report / the package installed in a fresh
 *    project, which start whole CLI processes and many scenarios each, and the check of
 *    `deadpeer model`'s windows against the cases' observations (it must run after them). Kept apart so they never compete with the cases for the CPU: a case's
 *    timestamps are the kernel's, but its wake-ups and guards are not.
 * Forks (not threads): helper processes and signal handlers need a real process per worker.
 */
const TOOLS = ['test/check.test.ts', 'test/exec.test.ts', 'test/report-artifacts.test.ts', 'test/package.test.ts', 'test/model-close-windows.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 12,
    fileParallelism: true,
    globalSetup: ['harness/vitest/global-setup.ts'],
    setupFiles: ['test/setup/matchers.ts'],
    testTimeout: 10_000,
    maxConcurrency: 32,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'kernel', include: ['cases/**/*.test.ts', 'test/*.test.ts'], exclude: TOOLS, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'tools', include: TOOLS, sequence: { groupOrder: 1 } } },
    ],
  },
});
