import { describe, inject } from 'vitest';
import './context.js';
import type { Observation } from '../core/observation.js';
import { runScenario } from '../engine/scenario.js';
import type { ScenarioSpec } from '../engine/run.js';

/**
 * What every case file shares: both address families, a skip that carries the preflight's one-line
 * reason (not root, no nft, helper not built) instead of 40 identical failures, and test timeouts
 * sized from the prediction rather than guessed.
 */
export const FAMILIES = [4, 6] as const;

const blocked = inject('kernelCasesBlocked');

/** describe() for kernel cases: skipped, with the reason in the title, when they cannot run here. */
export function kernelCases(title: string, body: () => void): void {
  if (blocked) describe.skip(`${title} — skipped: ${blocked}`, body);
  else describe.concurrent(title, body);
}

/**
 * A test timeout for a case expected to take `seconds` of kernel time: room for setup and the close
 * guard. A guard against hanging, not a tolerance (the matchers judge the times): two suites at
 * once on 2 cores made 6 s scenarios take over 30 s of wall time in their worker.
 */
export function timeoutFor(seconds: number): number {
  return (seconds * 1.5 + 60) * 1000;
}

/**
 * runScenario for a case: a run that cannot be judged (an action the helpers timed came later than
 * the model's window allows: Observation.cannotJudge) is run once more, and says so; a second such
 * run fails with its reason. A run that can be judged is returned as it is, agreeing or not: this
 * retries an unjudgeable run, never a disagreeing one.
 */
export async function runCase(spec: ScenarioSpec): Promise<Observation> {
  const first = await runScenario(spec);
  if (!first.cannotJudge) return first;
  process.stderr.write(`${spec.name} (IPv${spec.family}): ${first.cannotJudge} — running it once more\n`);
  const again = await runScenario(spec);
  if (again.cannotJudge) throw new Error(`${spec.name} (IPv${spec.family}) could not be judged twice: ${first.cannotJudge}; then ${again.cannotJudge}`);
  return again;
}
