import { writeFileSync } from 'node:fs';
import { renderSvg } from './svg.js';
import type { Observation } from '../core/observation.js';

/**
 * Write the run's timeline picture next to its Observation. A drawing bug must never turn a
 * kernel experiment red (the Observation and pcap are the evidence; the picture is a view of
 * them), so a failure is reported on stderr and the file says what went wrong instead.
 */
export function writeTimelineSvg(obs: Observation, path: string): void {
  try {
    writeFileSync(path, renderSvg(obs));
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    process.stderr.write(`deadpeer: could not draw the timeline of ${obs.name} (IPv${obs.family}): ${why}\n`);
    writeFileSync(path, `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="8" y="24">timeline not drawn: ${why.replace(/[&<>]/g, ' ')}</text></svg>`);
  }
}
