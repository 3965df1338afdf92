import type { TestProject } from 'vitest/node';
import { reapStale } from '../../netns/reaper.js';
import { fingerprintDiff, hostFingerprint } from '../suite/host-guard.js';
import { preflightProblem } from '../suite/preflight.js';
import { type TimingLock, acquireTimingLock } from '../suite/timing-lock.js';
import { announceRun } from '../report/run-summary.js';
import { shareKernelClock } from '../engine/kernel-clock.js';
import { runningKernel } from '../engine/kernel.js';

import './context.js';
import { resultsDir } from '../core/paths.js';

/**
 * Once per vitest run: say in one line what is missing for kernel cases (they then skip with that
 * reason; unit tests still run), wait for any other timing run on this machine to finish (and
 * hold the machine until the end), reap what a killed run left behind, and fingerprint the host
 * namespace so teardown can prove the suite left it untouched; at the end, say where the run's
 * artifacts and report are. vitest calls this once per project (unit, kernel, tools) in one
 * process: the work is done by the first call and the last teardown.
 */
// each project may load this module afresh: the shared state lives on the process
const state = ((globalThis as { __deadpeerSetup?: { users: number; shared?: Promise<{ problem: string; before?: Record<string, string>; lock?: TimingLock }> } }).__deadpeerSetup ??= {
  users: 0,
});

async function prepare() {
  process.env.DEADPEER_RUN_ID ??= new Date().toISOString().replace(/[:.]/g, '-');
  const problem = (await preflightProblem()) ?? '';
  if (problem) {
    process.stderr.write(`deadpeer: kernel cases will be skipped: ${problem}\n`);
    return { problem };
  }
  // another suite (or `deadpeer report`) measuring on this machine: wait for it (harness/suite/timing-lock.ts)
  const lock = await acquireTimingLock(`the test suite ${process.env.DEADPEER_RUN_ID}`, (line) => process.stderr.write(`${line}\n`));
  // the jiffies clock for placing predictions on the timer wheel, read before the workers load the CPU
  shareKernelClock(runningKernel().hz);
  const reaped = await reapStale();
  if (reaped.length) process.stderr.write(`deadpeer: reaped ${reaped.length} namespace(s) left by a dead run: ${reaped.join(' ')}\n`);
  return { problem, before: await hostFingerprint(), lock };
}

export default async function setup(project: TestProject) {
  state.users += 1;
  const { problem, before, lock } = await (state.shared ??= prepare());
  project.provide('kernelCasesBlocked', problem);
  return async () => {
    state.users -= 1;
    if (state.users > 0 || !before) return;
    announceRun(resultsDir());
    const changed = fingerprintDiff(before, await hostFingerprint());
    await lock?.release();
    if (changed.length) throw new Error(`deadpeer host guard: the host namespace changed during the run: ${changed.join(', ')}`);
  };
}
