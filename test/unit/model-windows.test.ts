import { describe, expect, it } from 'vitest';
import { predict, predictionWindows, levelGranularityJiffies, timerWheelLevel } from '../../harness/model/index.js';
import type { Phase, PhaseInput, Prediction } from '../../harness/model/index.js';
import { placeOnWheel } from '../../harness/model/wheel.js';
import { CAPTURE_SLACK, USERSPACE_SLACK, windows } from '../../harness/judge/verdict.js';
import { inputFor } from './model-fixtures.js';

const busy = (hz: number) => predict('busy', { ...inputFor('6.18', { hz, sysctls: { tcp_retries2: 5 } }), rtoMs: 204, tlpMs: 204 });

describe('predictionWindows: where the timer wheel can fire each event', () => {
  it('asymmetric: one jiffy early at most, late by the chain of granules (busy, tcp_retries2 5, HZ 250)', () => {
    const w = predictionWindows(busy(250), 250);
    expect(w.close!.t).toBe(13.056);
    expect(w.close!.early).toBe(0.004);
    // the TLP and the first RTO 204 ms after it (level 0: 4 + 4 ms each), RTOs of 0.408, 0.816 and
    // 1.632 s (level 1: 32 + 4 ms), of 3.264 s and the last wait, 6.528 s (level 2: 256 + 4 ms)
    expect(w.close!.late).toBeCloseTo(2 * 0.008 + 3 * 0.036 + 2 * 0.26, 9);
    expect(w.close!.window[0]).toBeCloseTo(13.052, 9);
    expect(w.close!.window[1]).toBeCloseTo(13.7, 9);
    // each event's lateness is that of its chain so far: never shrinking
    const late = w.events.map((e) => e.late);
    expect([...late].sort((a, b) => a - b)).toEqual(late);
    expect(w.events[0]!.window).toEqual([-0.004, 0]); // t = 0 is the located packet itself
  });

  it('never closes: no close window', () => {
    expect(predictionWindows(predict('idle', inputFor('6.18')), 250).close).toBeNull();
  });

  /**
   * Honest: wherever t = 0 falls on the jiffies clock (every phase of the largest granule the
   * chain uses, three points inside the jiffy), the wheel-placed firings (model/wheel.ts, the
   * model the bench measures to a median error below 1 ms) lie inside the windows.
   */
  const grid: [string, number, Phase, Partial<PhaseInput[Phase]> & object][] = [
    ['busy tcp_retries2 5', 250, 'busy', { ...inputFor('6.18', { sysctls: { tcp_retries2: 5 } }), rtoMs: 204, tlpMs: 204 }],
    ['busy U 5002', 250, 'busy', { ...inputFor('6.18', { socket: { userTimeoutMs: 5002 } }), rtoMs: 204, tlpMs: 204 }],
    ['syn-sent syn_retries 3', 1000, 'syn-sent', inputFor('6.18', { hz: 1000, sysctls: { tcp_syn_retries: 3 } })],
    ['idle 5/3/3', 250, 'idle', inputFor('6.18', { socket: { keepalive: true, keepIdle: 5, keepIntvl: 3, keepCnt: 3 } })],
    ['defer-accept 5 s, client gone', 250, 'defer-accept', { ...inputFor('6.18'), deferAcceptS: 5, client: 'gone' }],
    ['defer-accept 2 s, client alive, HZ 1000', 1000, 'defer-accept', { ...inputFor('6.18', { hz: 1000 }), deferAcceptS: 2, client: 'ack' }],
    ['zero-window gone', 250, 'zero-window', { ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 204, peer: 'gone' }],
  ];
  const period = (p: Prediction, hz: number) => {
    const gaps = p.events.map((e, i) => e.t - (i ? p.events[i - 1]!.t : 0)).concat(p.closeAt === null ? [] : [p.closeAt]);
    return Math.max(...gaps.map((g) => levelGranularityJiffies(timerWheelLevel(Math.ceil(g * hz), hz))));
  };
  it.each(grid)('honest: every wheel placement lies inside the windows (%s)', (_, hz, phase, input) => {
    const p = predict(phase, input as PhaseInput[typeof phase]);
    const w = predictionWindows(p, hz);
    const outside: string[] = [];
    for (let j = 0; j < period(p, hz); j++)
      for (const frac of [0, 0.5, 0.999]) {
        const placed = placeOnWheel(p, { originJ: 1_000_000 + j, originFrac: frac, hz }).placed!;
        placed.events.forEach((t, i) => {
          const [lo, hi] = w.events[i]!.window;
          if (t < lo - 1e-9 || t > hi + 1e-9) outside.push(`event ${i} at ${t} (origin +${j}+${frac})`);
        });
        if (placed.closeAt !== null && (placed.closeAt < w.close!.window[0] - 1e-9 || placed.closeAt > w.close!.window[1] + 1e-9)) outside.push(`close at ${placed.closeAt}`);
      }
    expect(outside).toEqual([]);
  });

  it('a firing reached through silent ones adds up their lateness too (TCP_DEFER_ACCEPT 5 s: timers of 1, 2 and 4 s, not one of 7 s)', () => {
    const p = predict('defer-accept', { ...inputFor('6.18'), deferAcceptS: 5, client: 'ack' });
    const synAck = predictionWindows(p, 250).events[1]!;
    expect(synAck.t).toBe(7);
    expect(synAck.late).toBeCloseTo(0.036 + 0.036 + 0.26, 9); // one 7 s timer would allow 0.26 s
    // and where one timer across the gap allows more, that stays (2 s: timers of 1 and 2 s, 72 ms; one of 3 s, 260 ms)
    const fast = predict('defer-accept', { ...inputFor('6.18'), deferAcceptS: 2, client: 'ack' });
    expect(predictionWindows(fast, 250).events[1]!.late).toBeCloseTo(0.26, 9);
  });

  it("the verdict's windows are exactly these, widened by what observing adds", () => {
    for (const p of [busy(250), predict('idle', inputFor('6.18', { socket: { keepalive: true, keepIdle: 5, keepIntvl: 3, keepCnt: 3 } }))]) {
      const w = predictionWindows(p, 250);
      const v = windows(p, 250);
      expect(v.events).toEqual(w.events.map((e) => [e.t - (e.early + CAPTURE_SLACK), e.t + e.late + CAPTURE_SLACK]));
      expect(v.close).toEqual([w.close!.t - (w.close!.early + CAPTURE_SLACK), w.close!.t + w.close!.late + USERSPACE_SLACK]);
    }
  });
});
