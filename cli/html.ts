import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeRunReport } from '../harness/report/run-summary.js';

/** `deadpeer html <run dir>`: re-render a run's report (e.g. after a report change, or for an old run). */
export function runHtml(argv: string[]): number {
  if (argv.length !== 1) {
    process.stderr.write('usage: deadpeer html <run folder, e.g. deadpeer-results/2026-01-01T10-00-00-000Z>\n');
    return 2;
  }
  const dir = resolve(argv[0]!);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    process.stderr.write(`deadpeer html: no such folder: ${dir}\n`);
    return 2;
  }
  const { path, cases } = writeRunReport(dir);
  if (cases === 0) {
    process.stderr.write(`deadpeer html: no case folders with an observation.json in ${dir}\n`);
    return 1;
  }
  process.stdout.write(`${path}\n`);
  return 0;
}
