import { describe, expect, it } from 'vitest';
import { defaultSysctls, featuresForRelease, parseRelease, predict } from '../../harness/model/index.js';
import { inputFor } from './model-fixtures.js';

describe('features by release', () => {
  it('parses releases', () => {
    expect(parseRelease('6.18.44-fc-v657')).toEqual([6, 18, 44]);
    expect(parseRelease('5.4')).toEqual([5, 4, 0]);
    expect(() => parseRelease('linux')).toThrow(/not a kernel release/);
  });

  it('gates each feature at its release', () => {
    const f = (r: string) => featuresForRelease(r, 250);
    expect(f('6.4').synLinearTimeouts).toBe(false);
    expect(f('6.5').synLinearTimeouts).toBe(true);
    expect(f('6.10').rtoMinUsSysctl).toBe(false);
    expect(f('6.11').rtoMinUsSysctl).toBe(true);
    expect(f('6.14').rtoMax).toBe(false);
    expect(f('6.15').rtoMax).toBe(true);
    expect(f('5.10.11').zeroWindowUserTimeout).toBe(false);
    expect(f('5.10.12').zeroWindowUserTimeout).toBe(true);
    expect(f('5.4.92').zeroWindowUserTimeout).toBe(false);
    expect(f('5.4.93').zeroWindowUserTimeout).toBe(true);
    expect(f('5.11').zeroWindowUserTimeout).toBe(true);
    expect(f('5.9').zeroWindowUserTimeout).toBe(false);
    expect(f('5.3').synSentUserTimeoutClean).toBe(false);
    expect(f('5.4').synSentUserTimeoutClean).toBe(true);
    expect(f('6.18').hz).toBe(250);
    // 1e9d3005e02c "tcp: Apply max RTO to non-TFO SYN+ACK" (6.19): release-gated, nothing to probe
    expect(f('6.18').synAckRtoMax).toBe(false);
    expect(f('6.18.99').synAckRtoMax).toBe(false);
    expect(f('6.19').synAckRtoMax).toBe(true);
    expect(f('7.0').synAckRtoMax).toBe(true);
  });

  it('new-namespace defaults, with the newer sysctls only where they exist', () => {
    expect(defaultSysctls(featuresForRelease('6.18', 250))).toEqual({
      tcp_syn_retries: 6,
      tcp_synack_retries: 5,
      tcp_retries1: 3,
      tcp_retries2: 15,
      tcp_keepalive_time: 7200,
      tcp_keepalive_intvl: 75,
      tcp_keepalive_probes: 9,
      tcp_syn_linear_timeouts: 4,
      tcp_rto_min_us: 200000,
      tcp_rto_max_ms: 120000,
      tcp_syncookies: 1,
    });
    const old = defaultSysctls(featuresForRelease('5.2', 250));
    expect(old.tcp_syn_linear_timeouts).toBeUndefined();
    expect(old.tcp_rto_min_us).toBeUndefined();
    expect(old.tcp_rto_max_ms).toBeUndefined();
  });

  it('predict() dispatches by phase and every prediction cites its rules', () => {
    const base = inputFor('6.18');
    const preds = [
      predict('syn-sent', base),
      predict('syn-recv', base),
      predict('defer-accept', { ...base, deferAcceptS: 5 }),
      predict('idle', base),
      predict('busy', { ...base, rtoMs: 204 }),
      predict('zero-window', { ...base, rtoMs: 204, peer: 'alive', horizonS: 60 }),
    ];
    expect(preds.map((p) => p.phase)).toEqual(['syn-sent', 'syn-recv', 'defer-accept', 'idle', 'busy', 'zero-window']);
    for (const p of preds) {
      expect(p.kernel).toBe('6.18');
      expect(p.notes.length).toBeGreaterThan(0);
      expect(p.origin).not.toBe('');
      // times are rounded to the millisecond and in order
      for (const e of p.events) expect(Math.round(e.t * 1000) / 1000).toBe(e.t);
      expect([...p.events].sort((a, b) => a.t - b.t)).toEqual(p.events);
    }
  });
});
