import { describe, expect, it } from 'vitest';
import { armLateAllowanceS, predictBlip } from '../../harness/model/blip.js';
import { predictIdle } from '../../harness/model/index.js';
import { inputFor } from './model-fixtures.js';
import { judgeTimeline } from '../../harness/judge/verdict.js';
import { summarize } from '../../harness/report/summary.js';
import { lateLine } from '../../harness/engine/scenario.js';
import { buildObservation, keepaliveObservation } from './observation-builder.js';

/**
 * A verdict never rests on a late action: how late a heal or a planned arming may come is the
 * model's to say, and a run whose action came later says "cannot judge" instead of agree/differ.
 */
const HZ = 250;
const idle = (i: number, intvl: number, cnt: number) => predictIdle(inputFor('6.18', { socket: { keepalive: true, keepIdle: i, keepIntvl: intvl, keepCnt: cnt } }));

describe('how late a timed action may come (the model)', () => {
  it('a survived blip: until the earliest firing of the transmission that recovers', () => {
    const gone = idle(5, 3, 3); // probes 5, 8, 11; gives up at 14
    const b = predictBlip(gone, 10, HZ); // the probe at 11 recovers; its wheel window opens just before 11
    expect(b.survives).toBe(true);
    expect(b.lateAllowanceS).toBeGreaterThan(0.9);
    expect(b.lateAllowanceS).toBeLessThan(1);
    // a heal that much later would meet the recovering probe's window: the answer could change
    const later = predictBlip(gone, 10 + b.lateAllowanceS + 0.05, HZ);
    expect(later.survives === 'uncertain' || later.recoveredAt !== b.recoveredAt).toBe(true);
  });

  it('a blip that kills: any lateness is harmless (a longer outage kills as surely)', () => {
    expect(predictBlip(idle(5, 3, 3), 12.5, HZ).lateAllowanceS).toBe(Infinity);
  });

  it('too close to call: no lateness is allowed', () => {
    expect(predictBlip(idle(5, 3, 3), 11.3, HZ).lateAllowanceS).toBe(0);
  });

  it('a planned arming: until the first transmission that could slip out before it', () => {
    const gone = idle(5, 3, 3);
    const a = armLateAllowanceS(gone, 4, HZ); // the first probe's window opens just before 5
    expect(a).toBeGreaterThan(0.9);
    expect(a).toBeLessThan(1);
    expect(armLateAllowanceS(gone, 5, HZ)).toBe(0); // inside the first probe's window
  });
});

describe('a run that cannot be judged', () => {
  const obs = keepaliveObservation;

  it('agrees without a late action, and is neither agreeing nor differing with one', () => {
    const ok = obs();
    expect(judgeTimeline(ok).ok).toBe(true);
    expect(summarize(ok).verdict).toBe('agrees');
    const late = { ...ok, cannotJudge: lateLine({ name: 'heal', due: 10, at: 10.64, allowedMs: 120 }) };
    const v = judgeTimeline(late);
    expect(v.ok).toBe(false);
    expect(v.cannotJudge).toBe('the heal came 640.0 ms late (120.0 ms could not change the model\'s answer): the run cannot judge this blip');
    expect(v.problems[0]).toBe(v.cannotJudge);
    expect(summarize(late).verdict).toBe('cannot judge');
  });
});

describe('the judged span of a connection that stays open', () => {
  it('packets after the prediction’s watchUntil are not counted against it', () => {
    const base = buildObservation({
      phase: 'zero-window',
      packets: [
        [-0.00002, 'client', 'S', 0],
        [0, 'server', 'S.', 0],
        [0.00001, 'client', '.', 0],
        [5, 'client', '.', 0, false, 'probe'],
        [13.68, 'client', '.', 0, false, 'probe'],
      ],
      predicted: [[5, 'client', 'KEEPALIVE', 1]],
      closeAt: null,
      errno: null,
      end: 14,
    });
    expect(judgeTimeline(base).ok).toBe(false); // a packet the model did not list
    const bounded = { ...base, prediction: { ...base.prediction, watchUntil: 9 } };
    expect(judgeTimeline(bounded).ok).toBe(true);
  });
});
