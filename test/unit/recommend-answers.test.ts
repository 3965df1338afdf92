import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recommendArgsFrom, recommendByModel } from '../../harness/apps/recommend/recommend.js';
import { ROOT } from '../../harness/core/paths.js';
import { defaultSysctls, featuresForRelease } from '../../harness/model/index.js';
import type { KernelFeatures, TcpSysctls } from '../../harness/model/types.js';

/**
 * The search was made fast (memoised per timeline, the advice of a tie counted once) on the promise
 * that no answer moves. These are the reports the search gave before that, recorded from main at
 * d6ad449 with the same kernels and queries: every field, `considered` and the reasons for no
 * answer included. Re-running the old search here would cost ~25 s, so its output is the fixture.
 * A change that means to alter an answer updates the fixture and says why in its commit.
 */
const k618 = featuresForRelease('6.18.0', 250);
const k510 = featuresForRelease('5.10.12', 1000);
const k61 = featuresForRelease('6.1.0', 100);
const KERNELS: Record<string, [KernelFeatures, TcpSysctls]> = {
  '6.18/250': [k618, defaultSysctls(k618)],
  '5.10.12/1000': [k510, defaultSysctls(k510)],
  '6.1/100': [k61, defaultSysctls(k61)],
  '6.18/250 retries2=8 rto_min_us=50000 syn_retries=3': [k618, { ...defaultSysctls(k618), tcp_retries2: 8, tcp_rto_min_us: 50_000, tcp_syn_retries: 3 }],
};

interface Recorded {
  kernel: string;
  query: Record<string, string>;
  report: unknown;
}
const recorded = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/recommend-answers.json'), 'utf8')) as { answers: Recorded[] }).answers;

describe('deadpeer recommend: the answers the search gave before it was made fast', () => {
  it('covers answers and refusals, on kernels with and without TCP_RTO_MAX_MS', () => {
    const reports = recorded.map((r) => r.report as { ok: boolean });
    expect(reports.filter((r) => r.ok).length).toBeGreaterThanOrEqual(10);
    expect(reports.filter((r) => !r.ok).length).toBeGreaterThanOrEqual(5);
    expect(new Set(recorded.map((r) => r.kernel)).size).toBe(Object.keys(KERNELS).length);
  });

  it.each(recorded.map((r) => [`${r.kernel}: ${JSON.stringify(r.query)}`, r] as const))('%s', (_, r) => {
    const [features, sysctls] = KERNELS[r.kernel]!;
    const report = recommendByModel(recommendArgsFrom(r.query, (f) => `--${f}`), features, sysctls);
    // as `--json` prints it: the margins that are ±Infinity in memory are null there
    expect(JSON.parse(JSON.stringify(report))).toEqual(r.report);
  });
});
