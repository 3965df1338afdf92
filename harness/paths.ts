import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root, whether this runs from the TypeScript sources or from the compiled dist/. */
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = here.endsWith('/dist/harness') ? join(here, '..', '..') : join(here, '..');
