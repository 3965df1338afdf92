import { describe, expect, it } from 'vitest';
import { judgeTimeline } from '../../harness/judge/verdict.js';
import type { Packet } from '../../harness/core/observation.js';
import { buildObservation, ORIGIN } from './observation-builder.js';

/**
 * A transmission the sender's own egress dropped never reaches the capture: it is known from the
 * sock_diag lookups around the rise of the probe count, an interval (notBefore, t]. It agrees when
 * the interval can hold the predicted firing, however late the lookup that showed it came.
 */
const withDrops = (drops: [number, number][]) => {
  const obs = buildObservation({
    phase: 'busy',
    subject: 'client',
    packets: [],
    timers: [],
    predicted: [
      [0.204, 'client', 'LOCAL-DROP', 1],
      [0.704, 'client', 'LOCAL-DROP', 2],
    ],
    closeAt: 1.204,
    errno: 'ETIMEDOUT',
    close: [1.205, 'ETIMEDOUT', 'poll'],
    end: 2,
  });
  const packets: Packet[] = drops.map(([from, to]) => ({ t: ORIGIN + to, notBefore: ORIGIN + from, from: 'client', flags: '', seq: 0, ack: 0, win: 0, len: 0, dropped: true, kind: 'LOCAL-DROP' }));
  return { ...obs, packets };
};

describe('a local drop is judged by the lookups around it', () => {
  it('agrees when each interval can hold the predicted firing', () => {
    expect(judgeTimeline(withDrops([[0.203, 0.208], [0.702, 0.707]])).problems).toEqual([]);
    // a helper that looked late: alive at 0.70, next lookup at 0.79 — the firing can lie in between
    expect(judgeTimeline(withDrops([[0.203, 0.208], [0.7, 0.79]])).ok).toBe(true);
  });

  it('differs when the whole interval lies outside the window (a backed-off retry at 0.612 s would)', () => {
    const v = judgeTimeline(withDrops([[0.203, 0.208], [0.607, 0.612]]));
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/client LOCAL-DROP #2 at 0\.612 s, predicted 0\.704 s/);
  });
});
