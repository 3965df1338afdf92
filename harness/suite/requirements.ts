import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HELPER_DIR } from '../helper/build.js';

/** One thing deadpeer needs: a command on the PATH (or a file) and the package that provides it. */
export interface Requirement {
  what: string;
  pkg: string;
}

/** harness/helper/requirements.txt: `what package` per line, # comments (pure). */
export function parseRequirements(text: string): Requirement[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((l) => {
      const [what, pkg, ...rest] = l.split(/\s+/);
      if (!what || !pkg || rest.length) throw new Error(`requirements: malformed line "${l}" (expected: COMMAND-OR-FILE PACKAGE)`);
      return { what, pkg };
    });
}

export const REQUIREMENTS_FILE = join(HELPER_DIR, 'requirements.txt');

const present = (r: Requirement) => (r.what.startsWith('/') ? existsSync(r.what) : spawnSync('sh', ['-c', `command -v ${r.what}`]).status === 0);

/** The packages to install for what is missing here (deduplicated, in the file's order). */
export function missingPackages(reqs: Requirement[] = parseRequirements(readFileSync(REQUIREMENTS_FILE, 'utf8')), has: (r: Requirement) => boolean = present): string[] {
  return [...new Set(reqs.filter((r) => !has(r)).map((r) => r.pkg))];
}
