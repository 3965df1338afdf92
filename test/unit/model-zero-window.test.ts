import { describe, expect, it } from 'vitest';
import { predictZeroWindow } from '../../harness/model/index.js';
import { answeredProbes } from '../../harness/model/zero-window.js';
import { inputFor, timesOf } from './model-fixtures.js';

describe('zero-window (persist timer) model', () => {
  it('receiver alive, no U: probes forever with backoff capped at 120 s, listed up to the horizon', () => {
    const p = predictZeroWindow({ ...inputFor('6.18'), rtoMs: 204, peer: 'alive', horizonS: 600 });
    const probes = timesOf(p.events, 'WINDOW-PROBE');
    expect(probes.slice(0, 4)).toEqual([0.204, 0.612, 1.428, 3.06]);
    expect(probes.at(-1)).toBeLessThanOrEqual(600);
    expect(probes.at(-1)! - probes.at(-2)!).toBeCloseTo(120, 6);
    expect(p.closeAt).toBeNull();
    expect(p.errno).toBeNull();
  });

  it('receiver alive, U 5000 on 6.18: ETIMEDOUT U after the first probe (icsk_probes_tstamp), timer clamped', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { socket: { userTimeoutMs: 5000 } }), rtoMs: 204, peer: 'alive' });
    expect(timesOf(p.events, 'WINDOW-PROBE')).toEqual([0.204, 0.612, 1.428, 3.06]);
    expect(p.closeAt).toBe(5.204);
    expect(p.errno).toBe('ETIMEDOUT');
  });

  it('receiver alive, U set, 5.10.0 without the fix: never times out (the bug)', () => {
    const p = predictZeroWindow({ ...inputFor('5.10.0', { socket: { userTimeoutMs: 5000 } }), rtoMs: 204, peer: 'alive', horizonS: 60 });
    expect(p.closeAt).toBeNull();
  });

  it('stable backports carry the fix: 5.4.93 and 5.10.12 time out', () => {
    for (const rel of ['5.4.93', '5.10.12']) {
      const p = predictZeroWindow({ ...inputFor(rel, { socket: { userTimeoutMs: 5000 } }), rtoMs: 204, peer: 'alive' });
      expect(p.closeAt).toBe(5.204);
    }
  });

  it('probes unanswered, no U: tcp_retries2 probes then ETIMEDOUT (≈ 15 min at defaults)', () => {
    const p = predictZeroWindow({ ...inputFor('6.18'), rtoMs: 200, peer: 'gone' });
    expect(timesOf(p.events, 'WINDOW-PROBE')).toHaveLength(15);
    expect(p.closeAt).toBe(924.6);
  });

  it('probes unanswered, tcp_retries2=3: abort at the 4th firing', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 204, peer: 'gone' });
    expect(timesOf(p.events, 'WINDOW-PROBE')).toEqual([0.204, 0.612, 1.428]);
    expect(p.closeAt).toBe(3.06);
  });

  it('probes unanswered with U: whichever of U and tcp_retries2 comes first', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { socket: { userTimeoutMs: 2000 } }), rtoMs: 204, peer: 'gone' });
    expect(p.closeAt).toBe(2.204);
  });

  it('the backoff stops growing at tcp_retries2', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 2 } }), rtoMs: 204, peer: 'alive', horizonS: 5 });
    const probes = timesOf(p.events, 'WINDOW-PROBE');
    // base 204 ms, backoff 1 then 2 (= retries2) for ever: 0.408, then 0.816 every time
    expect(probes.slice(0, 4)).toEqual([0.204, 0.612, 1.428, 2.244]);
  });

  it('an alive receiver answers at most one probe per tcp_invalid_ratelimit (500 ms): the second probe goes unanswered', () => {
    // probes 0.204, 0.612 (0.408 s after the answered one: skipped), 1.428 (0.816 s after: answered), …
    expect(answeredProbes([0.204, 0.612, 1.428, 3.06, 6.324], 500, 250)).toEqual([true, false, true, true, true]);
    expect(answeredProbes([0.204, 0.612, 1.428], 0, 250)).toEqual([true, true, true]);
    // the limit is counted from the last ANSWERED probe, in jiffies: 0.5 s exactly is answered
    expect(answeredProbes([0.1, 0.4, 0.6, 0.8], 500, 250)).toEqual([true, false, true, false]);
  });

  it('receiver alive, tcp_retries2=1: the rate-limited second probe counts, so the sender gives up on a live receiver', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 1 } }), rtoMs: 204, peer: 'alive', horizonS: 60 });
    // backoff capped at 1: base, then every 2·base; the probe at 0.612 is unanswered → probes_out 1 ≥ 1 at 1.02
    expect(timesOf(p.events, 'WINDOW-PROBE')).toEqual([0.204, 0.612]);
    expect(p.closeAt).toBe(1.02);
    expect(p.errno).toBe('ETIMEDOUT');
  });

  it('receiver alive, tcp_retries2=1, rate limit off: every probe answered, never gives up', () => {
    const p = predictZeroWindow({
      ...inputFor('6.18', { sysctls: { tcp_retries2: 1 } }),
      rtoMs: 204,
      peer: 'alive',
      horizonS: 5,
      peerInvalidRateLimitMs: 0,
    });
    expect(p.closeAt).toBeNull();
  });

  it('receiver alive, tcp_retries2=2: an unanswered probe is always followed by an answered one, never gives up', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 2 } }), rtoMs: 204, peer: 'alive', horizonS: 60 });
    expect(p.closeAt).toBeNull();
  });

  it('receiver gone after the first probe: answered until then, so the count towards tcp_retries2 starts later', () => {
    const input = { ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 204, peer: 'gone' as const };
    expect(predictZeroWindow(input).closeAt).toBe(3.06);
    // the probe at 0.204 is answered (probes_out back to 0); 0.612, 1.428, 3.06 are not → abort at the
    // next firing, 8·base later (the backoff stopped growing at tcp_retries2 = 3)
    const late = predictZeroWindow({ ...input, peerGoneAtS: 0.5 });
    expect(timesOf(late.events, 'WINDOW-PROBE')).toEqual([0.204, 0.612, 1.428, 3.06]);
    expect(late.closeAt).toBe(4.692);
    // vanishing before the first probe is the same as never answering
    const early = predictZeroWindow({ ...input, peerGoneAtS: 0.1 });
    expect(early.events).toEqual(predictZeroWindow(input).events);
    expect(early.closeAt).toBe(3.06);
  });

  it('a receiver that answered a probe just before the window closed again skips this episode’s first probe', () => {
    // last answer 0.12 s before t = 0: the probe at 0.224 is 0.344 s after it (skipped), 0.672 is answered
    expect(answeredProbes([0.224, 0.672, 1.568], 500, 250, -0.12)).toEqual([false, true, true]);
    const input = { ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 224, peer: 'gone' as const, peerGoneAtS: 0.7 };
    // without the history the first probe is answered and the second rate-limited: 3 unanswered end it at 5.152
    expect(predictZeroWindow(input).closeAt).toBe(5.152);
    // with it the second is the answered one: the count starts a probe later
    const p = predictZeroWindow({ ...input, peerLastAnswerAtS: -0.12 });
    expect(timesOf(p.events, 'WINDOW-PROBE')).toEqual([0.224, 0.672, 1.568, 3.36, 5.152]);
    expect(p.closeAt).toBe(6.944);
  });
});
