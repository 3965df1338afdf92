import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's (or installed package's) root, whether this runs from the TypeScript sources or from the compiled dist/. */
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = here.endsWith('/dist/harness/core') ? join(here, '..', '..', '..') : join(here, '..', '..');

/** How to install what is missing: a checkout has setup.sh, an installed package `deadpeer setup`. */
export const SETUP_HINT = existsSync(join(ROOT, 'setup.sh')) ? 'bash setup.sh' : 'npx deadpeer setup';

/**
 * Where this run's artifacts go: $DEADPEER_RESULTS, else deadpeer-results/ in the working directory
 * (a project using the package finds them beside its own code, never inside node_modules), one
 * folder per run id (DEADPEER_RUN_ID, fixed by the first caller and inherited by every worker).
 */
export function resultsDir(): string {
  const base = process.env.DEADPEER_RESULTS ?? join(process.cwd(), 'deadpeer-results');
  const runId = (process.env.DEADPEER_RUN_ID ??= new Date().toISOString().replace(/[:.]/g, '-'));
  return join(base, runId);
}
