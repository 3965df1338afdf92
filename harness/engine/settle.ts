import { readFileSync } from 'node:fs';

/**
 * Waiting for a CPU that is not saturated before an experiment's timeline starts.
 *
 * The kernel's timers keep their promises only while softirqs run on time; on a saturated CPU the
 * kernel hands them to ksoftirqd, an ordinary thread, and a timer fires late beyond what its wheel
 * level explains. The suite itself makes such moments: the cases run concurrently, and when a
 * batch of them sets up at once (two helpers and two `nft` processes per topology) the CPU is
 * saturated for a fraction of a second. Seen in the soak once in 20 suites: a 204 ms RTO 29 ms
 * late, its timeline started inside such a burst. So every scenario sets up first, then waits here
 * until the CPU's pressure stall information (/proc/pressure/cpu, "some": time in which a runnable
 * task waited for a CPU) shows calm, so that its timeline does not begin inside a burst.
 */
const WINDOW_MS = 50;
/** stall time per window below which the CPU counts as calm: 10 % of it */
const CALM_STALL_US = (WINDOW_MS * 1000) / 10;
/** consecutive calm windows */
const CALM_WINDOWS = 2;

/** Cumulative µs in which some runnable task waited for a CPU; undefined without PSI. */
export function cpuStallUs(): number | undefined {
  try {
    const m = /^some .*total=(\d+)$/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves once the CPU has been calm for CALM_WINDOWS windows in a row, or after maxMs regardless
 * (a guard: a machine busy with other work still gets its runs, with whatever timing it gives), or
 * at once without PSI. Returns how long it waited and whether it found calm.
 */
export async function cpuSettled(maxMs = 2000): Promise<{ waitedMs: number; calm: boolean }> {
  const t0 = Date.now();
  const first = cpuStallUs();
  if (first === undefined) return { waitedMs: 0, calm: false };
  let last: number = first;
  let calm = 0;
  while (Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const stall: number = cpuStallUs() ?? last;
    calm = stall - last < CALM_STALL_US ? calm + 1 : 0;
    last = stall;
    if (calm >= CALM_WINDOWS) return { waitedMs: Date.now() - t0, calm: true };
  }
  return { waitedMs: Date.now() - t0, calm: false };
}
