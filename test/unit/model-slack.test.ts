import { describe, expect, it } from 'vitest';
import { cumulativeSlack, timerSlack, timerWheelLevel } from '../../harness/model/index.js';

describe('timer-wheel slack', () => {
  it('matches the buckets measured at HZ=250 (granularity 4 ms / 32 ms / 256 ms / 2.048 s)', () => {
    expect(timerSlack(0.2, 250).granularity).toBeCloseTo(0.004, 9);
    expect(timerSlack(0.204, 250).granularity).toBeCloseTo(0.004, 9);
    expect(timerSlack(1, 250).granularity).toBeCloseTo(0.032, 9);
    expect(timerSlack(2, 250).granularity).toBeCloseTo(0.032, 9);
    expect(timerSlack(8, 250).granularity).toBeCloseTo(0.256, 9);
    expect(timerSlack(16, 250).granularity).toBeCloseTo(0.256, 9);
    expect(timerSlack(64, 250).granularity).toBeCloseTo(2.048, 9);
    expect(timerSlack(120, 250).granularity).toBeCloseTo(2.048, 9);
  });

  it('late = granularity + 1 jiffy, early = 1 jiffy', () => {
    const s = timerSlack(1, 250);
    expect(s.late).toBeCloseTo(0.036, 9);
    expect(s.early).toBeCloseTo(0.004, 9);
  });

  it('level boundaries are LVL_START = 63·8^n jiffies (kernel/time/timer.c), not 64·8^n', () => {
    expect(timerWheelLevel(62, 250)).toBe(0);
    expect(timerWheelLevel(63, 250)).toBe(1); // 252 ms: already level 1 at HZ=250
    expect(timerWheelLevel(503, 250)).toBe(1);
    expect(timerWheelLevel(504, 250)).toBe(2); // 2.016 s
    expect(timerWheelLevel(4032, 250)).toBe(3); // 16.128 s
    expect(timerWheelLevel(32256, 250)).toBe(4); // 129.024 s
  });

  it('HZ=1000: a 1 s timer is on level 2 (64 ms), a 120 s one on level 4 (4.096 s): coarser in seconds, not finer', () => {
    expect(timerSlack(1, 1000).granularity).toBeCloseTo(0.064, 9);
    expect(timerSlack(120, 1000).granularity).toBeCloseTo(4.096, 9);
    expect(timerSlack(0.05, 1000).granularity).toBeCloseTo(0.001, 9);
  });

  it('accumulates along a chain: SYN RTOs 1,1,1,1,1,2,4,8 s at HZ=250', () => {
    const s = cumulativeSlack([1, 1, 1, 1, 1, 2, 4, 8], 250);
    // six timers on level 1 (36 ms each), two on level 2 (260 ms each)
    expect(s.late).toBeCloseTo(6 * 0.036 + 2 * 0.26, 9);
    expect(s.early).toBeCloseTo(8 * 0.004, 9);
  });
});
