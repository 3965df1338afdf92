import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../harness/core/paths.js';
import { loadObservations, renderTable, summarize } from '../harness/report/summary.js';
import { preflightProblem } from '../harness/suite/preflight.js';
import { writeRunReport } from '../harness/report/run-summary.js';
import { runWithStatusLine } from './progress-board.js';
import { resultsDir, runId } from '../harness/core/paths.js';
import { oneLine } from '../harness/core/one-line.js';

/**
 * The main job: run every kernel case (vitest, so the report and the test suite are the same
 * experiments), then summarise the Observations they left in the run folder: the table in the
 * terminal, and the HTML report with every case's timeline picture next to the artifacts.
 */
export async function runReport(argv: string[]): Promise<number> {
  if (argv.length) {
    process.stderr.write(`${oneLine(`deadpeer report: unexpected argument "${argv[0]}" (it takes none; DEADPEER_PROFILE=faithful for the reference's conditions)`)}\n`);
    return 2;
  }
  if (!existsSync(join(ROOT, 'cases'))) {
    process.stderr.write("deadpeer report: runs deadpeer's own experiments, which only a clone of its repository has — in your project use deadpeer check or deadpeer exec\n");
    return 2;
  }
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer report: ${problem}\n`);
    return 2;
  }
  const dir = resultsDir();
  process.stderr.write(`deadpeer: running every case on kernel ${(await import('node:os')).release()}; results in ${dir}\n`);
  const exitCode = await runCases(dir);
  const rows = loadObservations(dir).map(summarize);
  process.stdout.write('\n' + renderTable(rows) + '\n\n');
  const unjudged = rows.filter((x) => x.verdict === 'cannot judge').length;
  process.stdout.write(`${rows.filter((x) => x.verdict === 'agrees').length} of ${rows.length} runs agree with the model${unjudged ? ` (${unjudged} could not be judged: an action came late)` : ''}; artifacts: ${dir}\n`);
  if (rows.length) process.stdout.write(`report: ${writeRunReport(dir).path}\n`);
  return exitCode === 0 ? 0 : 1;
}

/**
 * vitest over cases/. Long waits show progress (DEADPEER_PROGRESS=0 turns it off): on a terminal
 * as one status line this process redraws in place, otherwise (CI logs) as plain lines the
 * workers print.
 */
async function runCases(dir: string): Promise<number> {
  const args = ['vitest', 'run', 'cases'];
  // the cases' workers write into this run's folder: they get its id (this process keeps it to itself)
  const base = { DEADPEER_RUN_ID: runId() };
  const quiet = process.env.DEADPEER_PROGRESS === '0';
  if (process.stderr.isTTY && !quiet) {
    // vitest's output is piped through us now: keep its colours
    return runWithStatusLine('npx', args, { cwd: ROOT, env: { ...base, FORCE_COLOR: '1', DEADPEER_PROGRESS_FILE: join(dir, 'progress.jsonl') } }, join(dir, 'progress.jsonl'));
  }
  const r = await execa('npx', args, { cwd: ROOT, stdio: 'inherit', reject: false, env: { ...base, DEADPEER_PROGRESS: quiet ? '0' : '1' } });
  return r.exitCode ?? 1;
}
