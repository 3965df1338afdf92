import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's (or installed package's) root, whether this runs from the TypeScript sources or from the compiled dist/. */
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = here.endsWith('/dist/harness/core') ? join(here, '..', '..', '..') : join(here, '..', '..');

/** How to install what is missing: a checkout has setup.sh, an installed package `deadpeer setup`. */
export const SETUP_HINT = existsSync(join(ROOT, 'setup.sh')) ? 'bash setup.sh' : 'npx deadpeer setup';

/** This process's run id when DEADPEER_RUN_ID gives none: fixed by the first call, kept here rather than in process.env. */
let ownRunId: string | undefined;

/**
 * The run id: DEADPEER_RUN_ID (a suite's global setup, `deadpeer report` and the benches give it
 * to the processes they start), else one fixed by this process's first call.
 */
export function runId(): string {
  return process.env.DEADPEER_RUN_ID || (ownRunId ??= new Date().toISOString().replace(/[:.]/g, '-'));
}

/**
 * Where this run's artifacts go: $DEADPEER_RESULTS, else deadpeer-results/ in the working directory
 * (a project using the package finds them beside its own code, never inside node_modules), one
 * folder per run id (runId()).
 */
export function resultsDir(): string {
  const base = process.env.DEADPEER_RESULTS ?? join(process.cwd(), 'deadpeer-results');
  return join(base, runId());
}
