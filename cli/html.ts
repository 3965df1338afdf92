import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { oneLine } from '../harness/core/one-line.js';
import { loadRunFolder } from '../harness/report/run-folder.js';
import { writeRunReport } from '../harness/report/run-summary.js';

/** `deadpeer html <run dir>`: re-render a run's report (e.g. after a report change, or for an old run). */
export function runHtml(argv: string[]): number {
  if (argv.length !== 1) {
    process.stderr.write('usage: deadpeer html <run folder, e.g. deadpeer-results/2026-01-01T10-00-00-000Z>\n');
    return 2;
  }
  const dir = resolve(argv[0]!);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    process.stderr.write(`${oneLine(`deadpeer html: no such folder: ${dir}`)}\n`);
    return 2;
  }
  // refused before anything is written: a folder that is no run folder gets no report.html
  if (loadRunFolder(dir).cases.length === 0) {
    process.stderr.write(`${oneLine(`deadpeer html: no case folders with an observation.json in ${dir} — give a run folder, e.g. deadpeer-results/<run id>`)}\n`);
    return 2;
  }
  const { path } = writeRunReport(dir);
  process.stdout.write(`${path}\n`);
  return 0;
}
