import { defineConfig } from 'vitest/config';

/**
 * Three projects, one after the other (sequence.groupOrder), so the kernel cases run on a calm machine:
 * 1. unit   — pure code, no root: the model, parsers, renderers, the recommend search. All CPU,
 *             so they go first, alone, and are over in seconds;
 * 2. kernel — the cases and the harness's own kernel tests. They spend their time waiting for kernel
 *             timers, not computing, so many run at once even on 2 cores (each has its namespaces);
 *             nothing CPU-heavy shares the machine with them: a case's timestamps are the kernel's,
 *             but its wake-ups, guards and the moment it arms a fault are not all the helper's;
 * 3. tools  — `deadpeer check` / `exec` / `audit` / the run report / the package installed in a fresh project
 *             (tsc, npm), the signal and rootless tests: whole CLI processes, many node starts each;
 *             and the check of `deadpeer model`'s windows against the cases' observations (it must run
 *             after them).
 * Forks (not threads): helper processes and signal handlers need a real process per worker.
 */
const TOOLS = [
  'test/check.test.ts',
  'test/exec.test.ts',
  'test/audit.test.ts',
  'test/audit-rootless.test.ts',
  'test/report-artifacts.test.ts',
  'test/package.test.ts',
  'test/model-close-windows.test.ts',
  'test/signals.test.ts',
  'test/rootless.test.ts',
  'test/libs.test.ts',
];

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
      { extends: true, test: { name: 'kernel', include: ['cases/**/*.test.ts', 'test/*.test.ts'], exclude: TOOLS, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'tools', include: TOOLS, sequence: { groupOrder: 2 } } },
    ],
  },
});
