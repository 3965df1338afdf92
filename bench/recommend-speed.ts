import { performance } from 'node:perf_hooks';
import { hostSysctls } from '../harness/apps/check/run.js';
import { recommendArgsFrom } from '../harness/apps/recommend/recommend.js';
import { searchSettings } from '../harness/apps/recommend/search.js';
import { runningKernel } from '../harness/engine/kernel.js';

/**
 * How long `deadpeer recommend`'s search takes (issue 23: ≤ 200 ms for --detect 30s --survive 5s),
 * in this process: the search alone, on this host's kernel and sysctls as the command uses them —
 * not node's start, the flags or the printing. The median of RUNS, so one run that met a busy core
 * or the JIT's first pass does not speak for the rest.
 */
const QUERIES: Array<[label: string, flags: Record<string, string>]> = [
  ['recommend --detect 30s --survive 5s', { detect: '30s', survive: '5s' }],
  // the widest space a person is likely to ask for: every second up to a minute for U and TCP_KEEPIDLE
  ['recommend --detect 60s --survive 20s', { detect: '60s', survive: '20s' }],
  ['recommend --detect 2m --survive 30s --phases idle,busy', { detect: '2m', survive: '30s', phases: 'idle,busy' }],
];
const RUNS = 7;

export function recommendSearchTimes(): { label: string; ms: number }[] {
  const features = runningKernel();
  const env = { features, sysctls: hostSysctls(features) };
  return QUERIES.map(([label, flags]) => {
    const a = recommendArgsFrom(flags, (f) => `--${f}`);
    const o = { detectS: a.detectS, ...(a.surviveS !== undefined ? { surviveS: a.surviveS } : {}), phases: a.phases, client: a.client };
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      searchSettings(o, env);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    return { label, ms: times[(RUNS - 1) / 2]! };
  });
}
