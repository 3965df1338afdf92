/**
 * deadpeer/vitest — the vitest layer (`import 'deadpeer/vitest'` registers the matchers and their
 * types; `import { test } from 'deadpeer/vitest'` adds the vanishing-peer fixture). For a whole
 * suite, also add `globalSetup: ['deadpeer/vitest/setup']` to the vitest config: one timing run
 * per machine, the jiffies clock read once before the workers load the CPU, stale namespaces
 * reaped, and the host namespace fingerprinted before and after (docs/API.md).
 */
import './matchers.js';
import './accept-matchers.js';
import './exec-matchers.js';

export { test, type DeadpeerFixtures } from './fixture.js';
export type { CloseExpectation, ObservationMatchers } from './matchers.js';
export type { AcceptMatchers } from './accept-matchers.js';
export type { ExecMatchers } from './exec-matchers.js';
