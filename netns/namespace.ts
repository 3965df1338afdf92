import { readFileSync } from 'node:fs';
import pRetry, { AbortError } from 'p-retry';
import { PlumbingError, run } from './run.js';

/**
 * Namespace names carry the owner's identity so a reaper can tell a dead run's leftovers from a
 * live run's: dp-<pid>x<process start time in clock ticks>-<n>-<role>. The start time guards
 * against pid reuse.
 */
export const PREFIX = 'dp-';

export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised comm; starttime is field 22 overall
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const owner = `${process.pid}x${processStartTicks(process.pid) ?? '0'}`;
let counter = 0;

/** A fresh, unique base name for one topology of this process: dp-<owner>-<n>. */
export function uniqueBase(): string {
  counter += 1;
  return `${PREFIX}${owner}-${counter}`;
}

/** Parse the owner out of a namespace name; undefined if it is not ours. */
export function ownerOf(name: string): { pid: number; start: string } | undefined {
  const m = /^dp-(\d+)x(\d+)-\d+-[a-z]+$/.exec(name);
  return m ? { pid: Number(m[1]), start: m[2] } : undefined;
}

export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n): n is string => !!n);
}

export async function deleteNamespace(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to delete namespace ${name}: not ours (no ${PREFIX} prefix)`);
  // A namespace whose last process is still exiting can be busy for a moment: retry that (only that)
  // briefly with p-retry's backoff instead of leaking it; any other failure is final.
  await pRetry(
    async () => {
      try {
        await run('ip', ['netns', 'delete', name]);
      } catch (e) {
        // already gone (another reaper, or its own helper, got there first): that is the goal
        if (e instanceof PlumbingError && /No such file/i.test(e.stderr)) return;
        if (e instanceof PlumbingError && /busy/i.test(e.stderr)) throw e;
        throw new AbortError(e as Error);
      }
    },
    { retries: 4, minTimeout: 20, factor: 2 },
  );
}
