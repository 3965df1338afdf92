import { runningKernel } from '../../engine/kernel.js';
import { assertCanRun } from '../../suite/preflight.js';
import { acquireTimingLock } from '../../suite/timing-lock.js';
import { type CheckOptions, checkArgsFromOptions } from './args.js';
import { type CheckReport, planCheck, runCheckPlan } from './run.js';

/**
 * Run a client socket configuration through every phase on this kernel and judge it against the
 * model: the same report `deadpeer check --json` prints. Bad options throw an InputError and a
 * machine that cannot run it an EnvironmentError, both before anything is created; waits for any
 * other timing run on this machine first (`say` hears about it).
 */
export async function check(options: CheckOptions = {}, say: (line: string) => void = () => {}): Promise<CheckReport> {
  const features = runningKernel();
  const args = checkArgsFromOptions(options, features);
  await assertCanRun();
  const lock = await acquireTimingLock('deadpeer check()', say);
  try {
    return await runCheckPlan(planCheck(args, features));
  } finally {
    await lock.release();
  }
}
