import { describe, expect, it } from 'vitest';
import { predict, predictionWindows, levelGranularityJiffies, timerWheelLevel } from '../../harness/model/index.js';
import type { Phase, PhaseInput, Prediction, TcpSysctls } from '../../harness/model/index.js';
import { fireJ, jiffyToOriginSeconds, placeOnWheel } from '../../harness/model/wheel.js';
import type { WheelOrigin } from '../../harness/model/wheel.js';
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

  /**
   * The kernel's own decision on the wheel: the busy chain fired where the wheel fires it (wheel.ts
   * fireJ), retrans_stamp the first RTO retransmission's real firing, and at each later firing
   * retransmits_timed_out() compares the real elapsed time with the budget — so late firings can
   * meet it one firing before the ideal chain does.
   */
  const kernelOnTheWheel = (p: Prediction, tlpJ: number, rtoJ: number, rtoMaxJ: number, wheel: WheelOrigin) => {
    const budgetMs = p.closeBudget!.ms;
    const hz = wheel.hz;
    const sent: number[] = [];
    let nowJ = fireJ(0, tlpJ, wheel); // the TLP
    sent.push(nowJ);
    let rto = rtoJ;
    nowJ = fireJ(nowJ, rto, wheel);
    let stampJ: number | null = null;
    for (;;) {
      if (stampJ !== null && ((nowJ - stampJ) * 1000) / hz >= budgetMs) break;
      sent.push(nowJ);
      stampJ ??= nowJ;
      rto = Math.min(rto * 2, rtoMaxJ);
      nowJ = fireJ(nowJ, rto, wheel);
    }
    const at = (j: number) => jiffyToOriginSeconds(j, hz, wheel);
    return { retransmits: sent.map(at), closeAt: at(nowJ) };
  };

  it.each([
    ['tcp_rto_max_ms 1000 (the 6.18 run that aborted one RTO early)', 250, { tcp_rto_max_ms: 1000 }],
    ['tcp_rto_max_ms 1000, HZ 1000', 1000, { tcp_rto_max_ms: 1000 }],
    ['tcp_rto_max_ms 2000, tcp_retries2 8', 250, { tcp_rto_max_ms: 2000, tcp_retries2: 8 }],
    ['defaults, tcp_retries2 5', 250, { tcp_retries2: 5 }],
  ] as [string, number, Partial<TcpSysctls>][])('busy, a budget met on late firings: every close the kernel can make lies in closeWindow (%s)', (_, hz, sysctls) => {
    const input = { ...inputFor('6.18', { hz, sysctls }), rtoMs: hz === 250 ? 204 : 201, tlpMs: hz === 250 ? 204 : 201 };
    const p = predict('busy', input);
    const w = predictionWindows(p, hz);
    const rtoJ = Math.round((input.rtoMs * hz) / 1000);
    const rtoMaxJ = Math.round((sysctls.tcp_rto_max_ms ?? 120_000) * hz / 1000);
    const ideal = p.events.filter((e) => e.packet === 'RETRANSMIT').length;
    const outside: string[] = [];
    let flipped = 0;
    for (let j = 0; j < 64; j++)
      for (const frac of [0, 0.5, 0.999]) {
        const k = kernelOnTheWheel(p, Math.round((input.tlpMs * hz) / 1000), rtoJ, rtoMaxJ, { originJ: 1_000_000 + j, originFrac: frac, hz });
        if (k.retransmits.length < ideal) flipped++;
        if (k.closeAt < w.close!.window[0] - 1e-9 || k.closeAt > w.close!.window[1] + 1e-9) outside.push(`close at ${k.closeAt} (origin +${j}+${frac}), window ${w.close!.window}`);
        // every retransmission it does make is a predicted one, inside its window; the ones it skips were optional
        k.retransmits.forEach((t, i) => {
          const [lo, hi] = w.events[i + 1]!.window;
          if (t < lo - 1e-9 || t > hi + 1e-9) outside.push(`retransmission ${i + 1} at ${t}`);
        });
        for (let i = k.retransmits.length + 1; i < p.events.length; i++) if (!w.events[i]!.optional) outside.push(`event ${i} skipped but not optional`);
      }
    expect(outside).toEqual([]);
    if (sysctls.tcp_rto_max_ms === 1000) {
      // the flip is real: with 1 s RTOs the lateness adds up to a whole RTO, and the abort comes a firing early —
      // before the window the model used to give (closeAt − one jiffy)
      expect(flipped).toBeGreaterThan(0);
      expect(w.close!.window[0]).toBeLessThan(p.closeAt! - 1 / hz - 0.5);
      expect(w.events.filter((e) => e.optional).length).toBeGreaterThan(0);
    }
  });

  it('a budget met on late firings: the close window reaches back no further than the budget from the earliest start', () => {
    const p = predict('busy', { ...inputFor('6.18', { sysctls: { tcp_rto_max_ms: 1000 } }), rtoMs: 204, tlpMs: 204 });
    const w = predictionWindows(p, 250);
    const stamp = p.events[p.closeBudget!.from]!.t;
    expect(p.closeBudget).toEqual({ from: 2, after: 2, ms: 14_400 }); // tcp_model_timeout(15, 200 ms, 1 s)
    expect(w.close!.window[0]).toBeCloseTo(Math.max(stamp - 0.004 + 14.4, p.events.find((_, i) => w.events[i]!.optional)!.t - 0.004), 9);
    // idle with U: the keepalive timer's U, from t = 0, once a probe is out
    const idle = predict('idle', inputFor('6.18', { socket: { keepalive: true, keepIdle: 5, keepIntvl: 3, keepCnt: 3, userTimeoutMs: 11_500 } }));
    expect(idle.closeBudget).toEqual({ from: -1, after: 0, ms: 11_500 });
    const iw = predictionWindows(idle, 250);
    // probes at 5, 8, 11 (8 + 3 + lateness can pass 11.5 s): the abort and its RST can come at 11 s instead of 14 s
    expect(idle.closeAt).toBe(14);
    expect(iw.close!.window[0]).toBeCloseTo(11.5 - 0.004, 9);
    expect(iw.events.at(-1)!.window[0]).toBeCloseTo(11.5 - 0.004, 9); // the RST
    expect(iw.events.filter((e) => e.optional).map((e) => e.t)).toEqual([11]);
  });

  it('the verdict: a transmission the give-up replaced is not missing, one it cannot replace is', () => {
    const p = predict('busy', { ...inputFor('6.18', { sysctls: { tcp_rto_max_ms: 1000 } }), rtoMs: 204, tlpMs: 204 });
    const v = windows(p, 250);
    const optional = v.optional.map((o, i) => (o ? i : -1)).filter((i) => i >= 0);
    expect(optional.length).toBeGreaterThan(0);
    expect(optional.every((i) => i > p.closeBudget!.after)).toBe(true);
    expect(v.optional.slice(0, optional[0])).toEqual(Array(optional[0]).fill(false));
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

describe('a close that answers a packet (a middlebox RST), not a timer', () => {
  it('its window reaches a round trip past the packet, and no earlier than a jiffy before it', () => {
    const pred: Prediction = {
      phase: 'idle',
      kernel: 'test',
      origin: 'the write',
      events: [{ t: 0, side: 'client', packet: 'DATA', n: 0 }],
      closeAt: 0,
      closeAnswer: { withinS: 0.1 },
      errno: 'ECONNRESET',
      notes: [],
    };
    const w = predictionWindows(pred, 250).close!;
    expect(w.window[0]).toBeCloseTo(-0.004, 6);
    expect(w.window[1]).toBeCloseTo(0.1, 6);
    const { closeAnswer: _a, ...timerClose } = pred;
    expect(predictionWindows(timerClose, 250).close!.window[1]).toBeCloseTo(0, 6);
  });
});
