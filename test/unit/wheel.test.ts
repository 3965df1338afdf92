import { describe, expect, it } from 'vitest';
import { fireJ, jiffyToOriginSeconds, placeOnWheel, wheelFireAbs } from '../../harness/model/wheel.js';
import type { Prediction } from '../../harness/model/types.js';
import { offsetFromReadings } from '../../harness/engine/kernel-clock.js';

describe('timer wheel firing (kernel/time/timer.c calc_index)', () => {
  it('level 0 (delta < 63 jiffies) fires one jiffy after expiry', () => {
    expect(wheelFireAbs(1000, 10, 250)).toBe(1011);
  });

  it('level 1 rounds the expiry up past an 8-jiffy granule', () => {
    // 1 s at HZ=250 = 250 jiffies: expiry 1250 → granule 1248..1255 → fires at 1256
    expect(wheelFireAbs(1000, 250, 250)).toBe(1256);
    expect(wheelFireAbs(1006, 250, 250)).toBe(1264);
  });

  it('level 2 (a 5 s keepalive) rounds up to 64 jiffies (256 ms at HZ=250)', () => {
    expect(wheelFireAbs(0, 1250, 250)).toBe(1280);
    expect(wheelFireAbs(30, 1250, 250)).toBe(1344);
  });

  it('relative helpers: ideal without a wheel, exact with one', () => {
    expect(fireJ(0, 250)).toBe(250);
    const wheel = { originJ: 1006, originFrac: 0.5, hz: 250 };
    expect(fireJ(0, 250, wheel)).toBe(1264 - 1006);
    expect(jiffyToOriginSeconds(258, 250, wheel)).toBeCloseTo((258 - 0.5) / 250, 9);
  });

  it('reproduces a measured SYN-SENT chain to the jiffy', () => {
    // kernel 6.18 HZ=250, faithful run: first SYN at mono 1484.0644 s (jiffies offset 4294892231);
    // each retransmission re-armed at the jiffy the previous one fired
    const offset = 4294892231;
    const J = (t: number) => Math.floor(t * 250) + offset;
    const observed = [1485.0921, 1486.1161, 1487.1401];
    let prev = 1484.0644;
    for (const t of observed) {
      const f = wheelFireAbs(J(prev), 250, 250);
      expect(Math.abs((f - offset) / 250 - t)).toBeLessThan(0.005);
      prev = t;
    }
  });
});

describe('a prediction placed on the wheel (placeOnWheel)', () => {
  const HZ = 250;
  // t = 0 at the start of absolute jiffy 1000 (frac 0): relative jiffy j is then at j / HZ s
  const wheel = { originJ: 1000, originFrac: 0, hz: HZ };
  const base: Prediction = { phase: 'idle', kernel: 'test', origin: 'test', events: [], closeAt: null, errno: null, notes: [] };

  it('re-arms each firing from where the previous one really fired; the ideal times stay for the windows', () => {
    // keepalive 5 s then 1 s probes: 1250 jiffies from 1000 → fires at 2304 (level 2, 64-jiffy granule)
    const pred: Prediction = {
      ...base,
      events: [
        { t: 5, side: 'client', packet: 'KEEPALIVE', n: 1 },
        { t: 6, side: 'client', packet: 'KEEPALIVE', n: 2 },
      ],
      closeAt: 7,
      errno: 'ETIMEDOUT',
    };
    const placed = placeOnWheel(pred, wheel);
    expect(placed.events.map((e) => e.t)).toEqual([5, 6]);
    const first = wheelFireAbs(1000, 1250, HZ); // 2304
    const second = wheelFireAbs(first, 250, HZ);
    expect(placed.placed!.events).toEqual([(first - 1000) / HZ, (second - 1000) / HZ]);
    expect(placed.placed!.closeAt).toBeCloseTo((wheelFireAbs(second, 250, HZ) - 1000) / HZ, 9);
  });

  it('chains through silent firings (a deferring request timer)', () => {
    const pred: Prediction = { ...base, phase: 'defer-accept', events: [{ t: 0, side: 'server', packet: 'SYN-ACK', n: 0 }, { t: 3, side: 'server', packet: 'SYN-ACK', n: 1, timer: { via: [1] } }] };
    const viaJ = wheelFireAbs(1000, 250, HZ);
    expect(placeOnWheel(pred, wheel).placed!.events[1]).toBeCloseTo((wheelFireAbs(viaJ, 500, HZ) - 1000) / HZ, 9);
    // without the hint the 3 s timer would be one timer from t = 0: a different granule
    const direct = placeOnWheel({ ...pred, events: [pred.events[0]!, { ...pred.events[1]!, timer: undefined }] }, wheel);
    expect(direct.placed!.events[1]).not.toBeCloseTo(placeOnWheel(pred, wheel).placed!.events[1]!, 3);
  });

  it('a delay clamped to what is left of a user timeout binds once the firings ran late', () => {
    // retransmissions 1 s apart from t = 0 (each on level 1: up to 8 jiffies late); U = 3 s from t = 0
    const pred: Prediction = {
      ...base,
      phase: 'syn-sent',
      events: [0, 1, 2].map((t, n) => ({ t, side: 'client' as const, packet: 'SYN' as const, n, ...(n > 1 ? { timer: { deadline: { from: 0, ms: 3000 } } } : {}) })),
      closeAt: 3,
      closeTimer: { deadline: { from: 0, ms: 3000 } },
      errno: 'ETIMEDOUT',
    };
    const placed = placeOnWheel(pred, wheel).placed!;
    // an unclamped 1 s after the late third SYN would come well past U; the clamp lands it right after U
    expect(placed.events[2]).toBeGreaterThan(2);
    expect(placed.closeAt!).toBeGreaterThanOrEqual(3);
    expect(placed.closeAt!).toBeLessThanOrEqual(3 + 2 / HZ);
  });

  it('an accept answering a resent SYN+ACK moves with it; one on client data stays', () => {
    const events = [
      { t: 0, side: 'server' as const, packet: 'SYN-ACK' as const, n: 0 },
      { t: 1, side: 'server' as const, packet: 'SYN-ACK' as const, n: 1 },
    ];
    const answered = placeOnWheel({ ...base, phase: 'syn-recv', events, acceptAt: 1 }, wheel).placed!;
    expect(answered.acceptAt).toBe(answered.events[1]);
    expect(placeOnWheel({ ...base, phase: 'syn-recv', events, acceptAt: 0.5 }, wheel).placed!.acceptAt).toBe(0.5);
  });
});

describe('the jiffies clock from /proc/timer_list readings (offsetFromReadings)', () => {
  const T = 4294892231;
  const r = (offset: number, sameTick = true) => ({ offset, sameTick });
  it('readings within one tick are exact or one behind: the largest is the offset', () => {
    expect(offsetFromReadings([r(T), r(T - 1), r(T), r(T), r(T - 1), r(T)])).toBe(T);
  });
  it('readings that spanned a tick boundary (a pause between the fields) are not used', () => {
    expect(offsetFromReadings([r(T + 2, false), r(T), r(T), r(T), r(T), r(T), r(T), r(T + 7, false)])).toBe(T);
  });
  it('too few readings within one tick: not trusted (the models then predict ideal times)', () => {
    expect(offsetFromReadings([r(T), r(T), r(T + 1, false), r(T + 1, false)])).toBeUndefined();
  });
});
