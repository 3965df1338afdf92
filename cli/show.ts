import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { renderTimeline } from '../harness/judge/timeline-text.js';
import { judgeTimeline } from '../harness/judge/verdict.js';
import type { Observation } from '../harness/core/observation.js';
import { oneLine } from '../harness/core/one-line.js';

/** `deadpeer show <observation.json | case folder>`: the side-by-side timeline of a saved run. */
export function runShow(argv: string[]): number {
  if (argv.length !== 1) {
    process.stderr.write('usage: deadpeer show <observation.json or its folder>\n');
    return 2;
  }
  let file = argv[0]!;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'observation.json');
  if (!existsSync(file)) {
    process.stderr.write(`${oneLine(`deadpeer show: no such file: ${file}`)}\n`);
    return 2;
  }
  let obs: Observation;
  try {
    obs = JSON.parse(readFileSync(file, 'utf8')) as Observation;
  } catch (e) {
    process.stderr.write(`${oneLine(`deadpeer show: ${file} is not an Observation (invalid JSON: ${(e as Error).message})`)}\n`);
    return 2;
  }
  if (!obs.prediction || !Array.isArray(obs.packets)) {
    process.stderr.write(`${oneLine(`deadpeer show: ${file} is not an Observation (no prediction/packets)`)}\n`);
    return 2;
  }
  const v = judgeTimeline(obs);
  process.stdout.write(renderTimeline(obs, v) + '\n');
  return v.ok ? 0 : 1;
}
