import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from './html.js';
import { ARTIFACT_NAMES, loadRunFolder } from './run-folder.js';
import { writeTimelineSvg } from './timeline-file.js';

/**
 * Draw each case's timeline picture beside its Observation and render <run dir>/report.html over
 * them; returns the report's path. Pictures are drawn here, from the evidence on disk, so they
 * always show what the current code makes of it (the engine only records).
 */
export function writeRunReport(dir: string, generatedAt = new Date()): { path: string; cases: number } {
  const run = loadRunFolder(dir);
  for (const c of run.cases) {
    writeTimelineSvg(c.obs, join(dir, c.folder, ARTIFACT_NAMES.svg));
    c.files.svg = `${c.folder}/${ARTIFACT_NAMES.svg}`;
  }
  const path = join(dir, 'report.html');
  writeFileSync(path, renderHtml({ runId: run.runId, cases: run.cases, unreadable: run.unreadable, generatedAt }));
  return { path, cases: run.cases.length };
}

/**
 * The end of a test run: where its artifacts are, and the HTML report over them, so a CI job (or
 * a person scrolling back) finds the pictures without knowing the run id. Never fails the run: the
 * report is a view of evidence that is already on disk.
 */
export function announceRun(dir: string, out: NodeJS.WritableStream = process.stderr): void {
  if (!existsSync(dir)) return; // no kernel case ran (unit tests only, or all skipped)
  try {
    const { path, cases } = writeRunReport(dir);
    out.write(cases ? `deadpeer: ${cases} case${cases === 1 ? '' : 's'} in this run; report: ${path}\n` : `deadpeer: artifacts in ${dir}\n`);
  } catch (e) {
    out.write(`deadpeer: artifacts in ${dir} (report not written: ${(e as Error).message.split('\n')[0]})\n`);
  }
}
