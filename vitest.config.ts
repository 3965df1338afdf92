import { defineConfig } from 'vitest/config';

/**
 * Kernel cases spend their time waiting for kernel timers, not computing, so many run at once
 * even on 2 cores; each file gets its own namespaces. Forks (not threads): a helper process per
 * endpoint and signal handlers that release topologies need a real process per worker.
 */
export default defineConfig({
  test: {
    include: ['cases/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 12,
    fileParallelism: true,
    globalSetup: ['test/setup/global.ts'],
    setupFiles: ['test/setup/matchers.ts'],
    testTimeout: 10_000,
    maxConcurrency: 32,
    hookTimeout: 30_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
