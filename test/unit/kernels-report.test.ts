import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runKernels } from '../../cli/kernels.js';
import { predictSynSent } from '../../harness/model/index.js';
import { cellFor, loadKernelRun, renderKernelsHtml, renderKernelsMarkdown } from '../../harness/report/kernels.js';
import { inputFor } from './model-fixtures.js';
import type { CloseEvent, Observation } from '../../harness/core/observation.js';

/**
 * The cross-kernel table from kernel folders as matrix/suite.sh leaves them. The Observations are
 * synthetic but shaped by the model itself: SYN-SENT with tcp_syn_retries=3 on a pre-6.5 kernel
 * and on a 6.5+ one, each "captured" a little late the way a timer wheel makes them.
 */
const root = mkdtempSync(join(tmpdir(), 'deadpeer-kernels-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T0 = 1000;

/** An Observation whose wire shows `synTimes` and which closed at `closeAt` (seconds after the first SYN). */
function synSentObservation(release: string, family: 4 | 6, synTimes: number[], closeAt: number): Observation {
  const input = inputFor(release, { sysctls: { tcp_syn_retries: 3 } });
  const prediction = predictSynSent(input);
  const settings = { sysctls: input.sysctls, raw: {}, socket: input.socket };
  return {
    name: 'syn-sent/tcp_syn_retries',
    phase: 'syn-sent',
    family,
    subject: 'client',
    profile: 'fast',
    kernel: input.features,
    settings: { client: settings, server: settings },
    marks: { connect: T0 },
    faults: [{ t: T0 - 0.5, name: 'drop SYN' }],
    packets: synTimes.map((t) => ({ t: T0 + t, from: 'client', flags: 'S', seq: 1, ack: 0, win: 64240, len: 0, dropped: true, kind: 'SYN' })),
    timers: [],
    close: { side: 'client', t: T0 + closeAt, errno: 'ETIMEDOUT', via: 'connect', info: {} as CloseEvent['info'] },
    snapshots: [],
    dropCounters: {},
    prediction,
    origin: T0,
    end: T0 + closeAt + 0.01,
    artifacts: { dir: '', pcap: '', json: '' } as Observation['artifacts'],
    events: [],
  };
}

function kernelDir(id: string, meta: Record<string, unknown> | null, observations: Observation[], extra: Record<string, string> = {}): string {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  if (meta) writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  for (const o of observations) {
    const d = join(dir, 'results', 'run', `${o.name.replace('/', '_')}-ipv${o.family}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'observation.json'), JSON.stringify(o));
  }
  for (const [f, text] of Object.entries(extra)) writeFileSync(join(dir, f), text);
  return dir;
}

const meta = (spec: string, release: string, linear: boolean) => ({
  spec,
  release,
  accel: spec === 'host' ? 'none' : 'tcg',
  hz: 250,
  cpus: 1,
  probes: { tcp_syn_linear_timeouts: linear, tcp_rto_min_us: linear, tcp_rto_max_ms: false },
});
const vitest = (failed: number) =>
  JSON.stringify({
    numTotalTests: 8,
    numPassedTests: 8 - failed,
    numFailedTests: failed,
    numPendingTests: 0,
    testResults: [
      {
        name: '/work/main/cases/syn-sent.test.ts',
        status: failed ? 'failed' : 'passed',
        assertionResults: failed ? [{ fullName: 'SYN-SENT over IPv4 retransmits', status: 'failed', failureMessages: ['\u001b[31mError: diverged\u001b[39m\n  at …'] }] : [],
      },
    ],
  });

// pre-6.5: doubling from 1 s (0, 1, 3, 7), ETIMEDOUT at the budget (15 s); a few ms late each
const old = [0, 1.02, 3.04, 7.14];
// 6.5+: four linear 1 s backoffs first, then doubling: 8 SYNs in the same budget
const linear = [0, 1.01, 2.02, 3.03, 4.04, 5.05, 7.06, 11.1];
const k61 = kernelDir('6.1', meta('6.1', '6.1.0-56-amd64', false), [synSentObservation('6.1.0-56-amd64', 4, old, 15.31)], { status: '0', wall_s: '133', 'vitest.json': vitest(0) });
const k612 = kernelDir('6.12', meta('6.12', '6.12.117+deb12-amd64', true), [synSentObservation('6.12.117+deb12-amd64', 4, linear, 19.2)], { status: '1', wall_s: '140', 'vitest.json': vitest(1) });
// one SYN too many on "host": the verdict must say so
const kHost = kernelDir('host', meta('host', '6.18.44-fc-v657', true), [synSentObservation('6.18.44-fc-v657', 4, [...linear, 19.2], 19.3)], { status: '1', wall_s: '30' });
const kDead = kernelDir('5.10', null, [], { failure: 'Kernel panic - not syncing: VFS: Unable to mount root fs', wall_s: '12' });

describe('the cross-kernel table', () => {
  it('condenses an Observation: errno, close time, the predicted kinds with their times, the verdict', () => {
    const run = loadKernelRun(k61);
    expect(run.id).toBe('6.1');
    expect(run.tests).toEqual({ total: 8, passed: 8, failed: 0, skipped: 0 });
    const cell = cellFor(run.observations[0]!);
    expect(cell.errno).toBe('ETIMEDOUT');
    expect(cell.closeAt).toBeCloseTo(15.31, 6);
    expect(cell.packets.map((p) => p.kind)).toEqual(['SYN']);
    cell.packets[0]!.times.forEach((t, i) => expect(t).toBeCloseTo(old[i]!, 9));
    expect(cell.predicted.counts).toEqual({ SYN: 4 });
    expect(cell.agrees).toBe(true);
  });

  it('a kernel that breaks the model is marked, with the verdict\'s reason', () => {
    const cell = cellFor(loadKernelRun(kHost).observations[0]!);
    expect(cell.agrees).toBe(false);
    expect(cell.problem).toMatch(/unexpected: client SYN/);
  });

  it('renders kernels oldest first, the version-gated rows at a glance, and every failure', () => {
    const md = renderKernelsMarkdown([kHost, k612, kDead, k61].map(loadKernelRun));
    const kernelsSection = md.slice(md.indexOf('## Kernels'), md.indexOf('## Where'));
    const order = ['| 5.10 |', '| 6.1 |', '| 6.12 |', '| host (6.18.44-fc-v657) |'].map((s) => kernelsSection.indexOf(s));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(kernelsSection).toMatch(/\| 5\.10 \|.*\*\*no result: Kernel panic/);
    expect(kernelsSection).toMatch(/\| 6\.1 \| 6\.1\.0-56-amd64 \| QEMU\/TCG, -icount, 1 CPU \| 250 \| no \| no \| no \| 8\/8 passed \| 133 s \|/);
    // 4 SYNs on 6.1, 8 on 6.12: the row is in the "differ" section
    const differ = md.slice(md.indexOf('## Where the kernels differ'), md.indexOf('## Phase × kernel'));
    expect(differ).toMatch(/syn-sent\/tcp_syn_retries \| v4 \| — \| 4 SYN, ETIMEDOUT 15\.31 s ✓ \| 8 SYN, ETIMEDOUT 19\.20 s ✓ \| 9 SYN, ETIMEDOUT 19\.30 s ✗ \|/);
    expect(md).toContain('ETIMEDOUT 15.31 s · 4 SYN: 0, 1.02, 3.04, 7.14 · ✓ model');
    expect(md).toMatch(/9 SYN: [^|]* · ✗ model: ETIMEDOUT \d+\.\d\d s, 8 SYN/);
    // failures are listed per kernel, one line each, without ANSI colours
    expect(md).toContain('- cases/syn-sent.test.ts › SYN-SENT over IPv4 retransmits: Error: diverged');
    expect(md).toMatch(/### host \(6\.18\.44-fc-v657\)\n\n- syn-sent\/tcp_syn_retries \(IPv4\) disagrees with the model: unexpected: client SYN/);
  });

  it('the HTML page has the same cells, coloured by verdict, and links each kernel to its run report', () => {
    mkdirSync(join(k61, 'results', 'run'), { recursive: true });
    writeFileSync(join(k61, 'results', 'run', 'report.html'), '<html></html>');
    const html = renderKernelsHtml([kHost, k61].map(loadKernelRun), { baseDir: root });
    expect(html).toContain('<th><a href="6.1/results/run/report.html">6.1</a></th>');
    expect(html).toContain('<td class="ok">ETIMEDOUT 15.31 s · 4 SYN: 0, 1.02, 3.04, 7.14 · ✓ model</td>');
    expect(html).toMatch(/<td class="bad">ETIMEDOUT 19\.30 s · 9 SYN/);
  });

  it('deadpeer kernels: writes the table, exit 1 when a kernel failed, 2 on bad usage', () => {
    const out = join(root, 'KERNELS.md');
    expect(runKernels(['--out', out, k61])).toBe(0);
    expect(runKernels(['--out', out, k61, kDead])).toBe(1);
    expect(runKernels([])).toBe(2);
    expect(runKernels([join(root, 'no-such-kernel')])).toBe(2);
  });
});
