import { describe, expect, it } from 'vitest';
import { judgeTimeline, observedEndSpan } from '../../harness/judge/verdict.js';
import { buildObservation } from './observation-builder.js';

/**
 * A request dropped in the SYN queue has no close event: its end is when sock_diag stopped
 * finding it, an interval between two lookups each stamped when the kernel answered.
 */
const dropped = (aliveAt: number | undefined, goneAt: number) =>
  buildObservation({
    phase: 'syn-recv',
    subject: 'server',
    packets: [
      [0, 'server', 'S.', 0],
      [1.004, 'server', 'S.', 0],
    ],
    timers: [
      [0.001, 'server', 'on', 1000, 0, 'SYN-RECV'],
      [goneAt, 'server', 'gone', aliveAt],
    ],
    predicted: [
      [0, 'server', 'SYN-ACK', 0],
      [1.004, 'server', 'SYN-ACK', 1],
    ],
    closeAt: 3.004,
    errno: null,
    end: 4,
  });

describe('the end of a connection the application never held', () => {
  it('is the interval from the last lookup that found it to the first that did not', () => {
    expect(observedEndSpan(dropped(3.0, 3.006))).toEqual([expect.closeTo(3.0, 6), expect.closeTo(3.006, 6)]);
    expect(observedEndSpan(dropped(undefined, 3.006))).toEqual([expect.closeTo(3.006, 6), expect.closeTo(3.006, 6)]);
  });

  it('agrees when the interval can hold the predicted drop, however late the helper printed it', () => {
    // a loaded helper: alive at 3.002, the next lookup only at 3.09; the drop lies in between
    expect(judgeTimeline(dropped(3.002, 3.09)).ok).toBe(true);
  });

  it('disagrees when the whole interval is outside the window', () => {
    const early = judgeTimeline(dropped(2.5, 2.51));
    expect(early.ok).toBe(false);
    expect(early.problems.join('\n')).toMatch(/between 2\.500 s \(last seen alive\) and 2\.510 s; predicted the end at 3\.004 s/);
    // still found well after the window closed
    expect(judgeTimeline(dropped(3.5, 3.505)).ok).toBe(false);
  });
});
