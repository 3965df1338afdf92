import { describe, expect, it } from 'vitest';
import { OLDEST_RELEASE, defaultSysctls, featuresForRelease, modelKnowsRelease, parseRelease, predict, rtoFromRtt, rtoMinFloorUs, tinyRttRtoMs } from '../../harness/model/index.js';
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

  it('the oldest release the model knows: 4.19 (tcp_clamp_rto_to_user_timeout, b701a99e431d), nothing below', () => {
    expect(OLDEST_RELEASE).toEqual([4, 19, 0]);
    expect(modelKnowsRelease(parseRelease('4.19'))).toBe(true);
    expect(modelKnowsRelease(parseRelease('6.18.44-fc-v657'))).toBe(true);
    expect(modelKnowsRelease(parseRelease('4.18.20'))).toBe(false);
    expect(modelKnowsRelease(parseRelease('3.11'))).toBe(false);
    expect(modelKnowsRelease(parseRelease('2.6.30'))).toBe(false);
  });

  it('the RTO of a settled estimator (tcp_rtt_estimator, __tcp_set_rto): srtt + rttvar floored at tcp_rto_min in whole jiffies', () => {
    // tcp_rto_min_us(sk) = jiffies_to_usecs(usecs_to_jiffies(sysctl)): 50 000 µs → 13 jiffies at HZ 250
    expect(rtoMinFloorUs(50_000, 250)).toBe(13 * 4000);
    expect(rtoMinFloorUs(200_000, 250)).toBe(200_000);
    expect(rtoMinFloorUs(50_000, 1000)).toBe(50_000);
    for (const [rttUs, rtoMinUs, hz] of [[50, 200_000, 250], [50, 50_000, 250], [50_000, 200_000, 250], [300_000, 200_000, 1000], [7_000, 5_000, 100]]) {
      const d = rtoFromRtt(rttUs, rtoMinUs, hz);
      const floor = rtoMinFloorUs(rtoMinUs, hz);
      expect(d.srttUs).toBe(rttUs);
      // rttvar decays (a quarter of the excess per round trip, in whole µs) to within 3 µs of its floor
      expect(d.rttvarUs).toBeGreaterThanOrEqual(floor);
      expect(d.rttvarUs).toBeLessThan(floor + 4);
      expect(d.rtoMs).toBe((Math.ceil(((rttUs + d.rttvarUs) * hz) / 1e6) * 1000) / hz);
    }
    // tcp_bound_rto(): capped at tcp_rto_max
    expect(rtoFromRtt(5_000_000, 200_000, 250, 1000).rtoMs).toBe(1000);
    // what deadpeer model assumes without --rto/--rtt: a tiny RTT (a veth)
    const f = featuresForRelease('6.18', 250);
    expect(tinyRttRtoMs({ ...defaultSysctls(f), tcp_rto_min_us: 50_000 }, 250)).toBe(56);
    expect(tinyRttRtoMs(defaultSysctls(f), 250)).toBe(204);
    expect(tinyRttRtoMs(defaultSysctls(featuresForRelease('6.18', 1000)), 1000)).toBe(201);
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
