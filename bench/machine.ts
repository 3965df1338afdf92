import { type ChildProcess, spawn } from 'node:child_process';
import { preflightProblem } from '../harness/suite/preflight.js';
import { acquireTimingLock } from '../harness/suite/timing-lock.js';

/**
 * What every figure-producing script needs around its work: a machine that can run it (one line
 * and exit 2 otherwise) and the timing lock held for the whole of it — the figures are the
 * kernel's only on a machine nobody else is measuring on; what `work` starts inherits the lock.
 */
export async function withTimingMachine(tool: string, holder: string, work: () => Promise<number>): Promise<number> {
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`${tool}: ${problem}\n`);
    return 2;
  }
  let lock;
  try {
    lock = await acquireTimingLock(holder, (line) => process.stderr.write(`${line}\n`));
  } catch (e) {
    // a squatter, a wait past DEADPEER_LOCK_WAIT_S, a malformed DEADPEER_LOCK_WAIT_S: one line, nothing made
    process.stderr.write(`${tool}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** K busy loops (`yes > /dev/null`); stop() ends them by their pids, and so does this process's exit or interruption. */
export function startHogs(k: number): { stop: () => void } {
  const hogs: ChildProcess[] = Array.from({ length: k }, () => spawn('yes', [], { stdio: 'ignore' }));
  const stop = () => hogs.forEach((h) => h.exitCode === null && h.signalCode === null && h.kill('SIGKILL'));
  if (k) {
    process.once('exit', stop);
    for (const sig of ['SIGINT', 'SIGTERM'] as const)
      process.once(sig, () => {
        stop();
        process.exit(130);
      });
  }
  return { stop };
}
