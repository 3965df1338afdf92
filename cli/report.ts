import { execa } from 'execa';
import { ROOT } from '../harness/paths.js';
import { loadObservations, renderTable, summarize } from '../harness/report/summary.js';
import { preflightProblem } from '../harness/preflight.js';
import { resultsDir } from '../harness/scenario.js';

/**
 * The main job: run every kernel case (vitest, so the report and the test suite are the same
 * experiments), then summarise the Observations they left in the run folder.
 */
export async function runReport(argv: string[]): Promise<number> {
  if (argv.length) {
    process.stderr.write(`deadpeer report: unexpected argument "${argv[0]}" (it takes none; DEADPEER_PROFILE=faithful for the reference's conditions)\n`);
    return 2;
  }
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer report: ${problem}\n`);
    return 2;
  }
  const dir = resultsDir();
  process.stderr.write(`deadpeer: running every case on kernel ${(await import('node:os')).release()}; results in ${dir}\n`);
  const r = await execa('npx', ['vitest', 'run', 'cases'], { cwd: ROOT, stdio: 'inherit', reject: false, env: { DEADPEER_RUN_ID: process.env.DEADPEER_RUN_ID } });
  const rows = loadObservations(dir).map(summarize);
  process.stdout.write('\n' + renderTable(rows) + '\n\n');
  process.stdout.write(`${rows.filter((x) => x.verdict === 'agrees').length} of ${rows.length} runs agree with the model; artifacts: ${dir}\n`);
  return r.exitCode === 0 ? 0 : 1;
}
