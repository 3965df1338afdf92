import { describe, expect, it } from 'vitest';
import { predictZeroWindow } from '../../harness/model/index.js';
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
});
