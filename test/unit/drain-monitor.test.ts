import { describe, expect, it } from 'vitest';
import { DrainMonitor, type DrainSample, detectedDeadAt, drainRate, judgeDrain, progressed } from '../../harness/apps/drain-monitor.js';

/**
 * The drain monitor's verdict from a series of samples, without a kernel. Series are built the way
 * a pumping writer looks: SIOCOUTQ near full whatever the peer does; only bytes_acked and
 * notsent_bytes tell whether bytes leave the queue.
 */
const POLICY = { windowS: 2 };
const FULL = 60_000;

/** Samples every 0.1 s from t = 0 for `seconds`; `acked(t)` is the peer's acknowledged byte count. */
function series(seconds: number, acked: (t: number) => number, notsent: (t: number) => number = () => FULL): DrainSample[] {
  const out: DrainSample[] = [];
  for (let i = 0; i <= Math.round(seconds * 10); i++) {
    const t = i / 10;
    out.push({ t, outq: FULL, notsent: notsent(t), bytesAcked: acked(t) });
  }
  return out;
}

// a slow reader: 1448 bytes acknowledged every 0.3 s (≈ 4.8 kB/s), the writer keeps the queue full
const slow = (t: number) => Math.floor(t / 0.3 + 1e-9) * 1448;
// the same reader, gone at 3 s
const goneAt3 = (t: number) => slow(Math.min(t, 3));

describe('drain monitor verdict', () => {
  it('a slow reader whose queue stays full is alive, at the rate it acknowledges', () => {
    const s = series(10, slow);
    const v = judgeDrain(s, POLICY);
    expect(v.verdict).toBe('alive');
    // over the trailing window, within one acknowledgement of the long-run rate
    expect(Math.abs(v.drainRate - 1448 / 0.3)).toBeLessThanOrEqual(1448 / POLICY.windowS);
    expect(detectedDeadAt(s, POLICY)).toBeNull();
  });

  it('a reader that stops acknowledging is dead one window after its last progress, not before', () => {
    const s = series(10, goneAt3);
    const v = judgeDrain(s, POLICY);
    expect(v.verdict).toBe('dead');
    expect(v.drainRate).toBe(0);
    // last growth shows at the sample at 3.0 s; the first sample a whole window later is 5.0 s
    expect(v.lastProgressAt).toBeCloseTo(3.0, 9);
    expect(detectedDeadAt(s, POLICY)).toBeCloseTo(5.0, 9);
    expect(judgeDrain(s.filter((x) => x.t < 4.95), POLICY).verdict).toBe('alive');
  });

  it('SIOCOUTQ is identical in both series: the verdicts come from the progress counters', () => {
    const alive = series(10, slow);
    const dead = series(10, goneAt3);
    expect(alive.map((x) => x.outq)).toEqual(dead.map((x) => x.outq));
    expect(judgeDrain(alive, POLICY).verdict).not.toBe(judgeDrain(dead, POLICY).verdict);
  });

  it('notsent falling counts as progress (bytes handed to the network) even before any ACK', () => {
    const s = series(3, () => 0, (t) => FULL - Math.floor(t * 10) * 100);
    expect(progressed(s[0]!, s[1]!)).toBe(true);
    expect(judgeDrain(s, POLICY).verdict).toBe('alive');
  });

  it('the writer adding bytes is not progress', () => {
    const s = series(3, () => 0, (t) => 1000 + Math.floor(t * 10) * 100);
    expect(progressed(s[0]!, s[1]!)).toBe(false);
    expect(judgeDrain(s, POLICY).verdict).toBe('dead');
  });

  it('an empty queue is idle, not dead, and restarts the stall clock', () => {
    const empty = (t: number): DrainSample => ({ t, outq: 0, notsent: 0, bytesAcked: 5000 });
    const idle = [0, 1, 2, 3].map(empty);
    expect(judgeDrain(idle, POLICY).verdict).toBe('idle');
    // bytes written at 3.5 s and never acknowledged: dead only a window after that, not at once
    const stuck = [...idle, ...[3.5, 4, 5, 5.4].map((t) => ({ t, outq: 100, notsent: 100, bytesAcked: 5000 }))];
    expect(judgeDrain(stuck, POLICY).verdict).toBe('alive');
    expect(judgeDrain([...stuck, { t: 5.5, outq: 100, notsent: 100, bytesAcked: 5000 }], POLICY).verdict).toBe('dead');
  });

  it('undecided until a whole window was watched without progress', () => {
    const frozen = series(1.5, () => 0);
    expect(judgeDrain(frozen, POLICY).verdict).toBe('undecided');
    expect(judgeDrain(series(2, () => 0), POLICY).verdict).toBe('dead');
    expect(judgeDrain([], POLICY).verdict).toBe('undecided');
  });

  it('drain rate: acknowledged bytes over the samples at or before the bounds', () => {
    const s = series(10, (t) => Math.round(t * 1000));
    expect(drainRate(s)).toBeCloseTo(1000, 6);
    expect(drainRate(s, 2, 6)).toBeCloseTo(1000, 6);
    expect(drainRate(s.slice(0, 1))).toBe(0);
  });
});

describe('DrainMonitor', () => {
  /** A reader replaying a series, one sample per call; throws once it runs out. */
  const replay = (samples: DrainSample[]) => {
    let i = 0;
    return async () => {
      if (i >= samples.length) throw new Error('socket gone');
      return samples[i++]!;
    };
  };

  it('judges after every sample and resolves when() at the first dead verdict', async () => {
    const m = new DrainMonitor(replay(series(10, goneAt3)), { windowS: 2, intervalMs: 1 });
    m.start();
    const v = await m.when('dead', 5000);
    await m.stop();
    expect(v.t).toBeCloseTo(5.0, 9);
    expect(m.verdicts.find((x) => x.verdict === 'dead')).toBe(v);
    expect(m.verdicts.length).toBe(m.samples.length);
  });

  it('stops on its own, keeping the error, when the socket can no longer be read', async () => {
    const m = new DrainMonitor(replay(series(0.3, slow)), { windowS: 2, intervalMs: 1 });
    m.start();
    await expect(m.when('dead', 200)).rejects.toThrow(/no "dead" verdict/);
    await m.stop();
    expect(m.samples).toHaveLength(4);
    expect(m.error?.message).toBe('socket gone');
  });
});
