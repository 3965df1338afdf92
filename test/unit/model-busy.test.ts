import { describe, expect, it } from 'vitest';
import { predictBusy, tcpModelTimeoutMs } from '../../harness/model/index.js';
import { tailLossProbeMs, tinyRttTailLossProbeMs } from '../../harness/model/busy.js';
import { inputFor, timesOf } from './model-fixtures.js';

const HZ = 250;
const RTO_MIN_J = 50; // TCP_RTO_MIN = HZ/5
const RTO_MAX_J = 120 * HZ;

describe('tcp_model_timeout', () => {
  it('R=15 → 924.6 s, R=5 → 12.6 s (base 200 ms, max 120 s)', () => {
    expect(tcpModelTimeoutMs(15, RTO_MIN_J, RTO_MAX_J, HZ)).toBe(924_600);
    expect(tcpModelTimeoutMs(5, RTO_MIN_J, RTO_MAX_J, HZ)).toBe(12_600);
    expect(tcpModelTimeoutMs(9, RTO_MIN_J, RTO_MAX_J, HZ)).toBe(204_600);
    expect(tcpModelTimeoutMs(10, RTO_MIN_J, RTO_MAX_J, HZ)).toBe(324_600);
  });
  it('the same in jiffies of another HZ', () => {
    expect(tcpModelTimeoutMs(15, 200, 120_000, 1000)).toBe(924_600);
  });
  it('SYN budget (base 1 s): N=6 → 127 s, N=3 → 15 s, N=7 → 247 s (linear above ilog2(120)=6)', () => {
    expect(tcpModelTimeoutMs(6, HZ, RTO_MAX_J, HZ)).toBe(127_000);
    expect(tcpModelTimeoutMs(3, HZ, RTO_MAX_J, HZ)).toBe(15_000);
    expect(tcpModelTimeoutMs(7, HZ, RTO_MAX_J, HZ)).toBe(247_000);
  });
  it('a lower rto_max (6.15+) lowers both the linear threshold and the step: R=15, max 1 s → 14.4 s', () => {
    // ilog2(1000/200) = 2: (2^3 - 1)·0.2 + (15 - 2)·1 = 14.4 s
    expect(tcpModelTimeoutMs(15, RTO_MIN_J, HZ, HZ)).toBe(14_400);
  });
});

describe('busy ESTABLISHED model', () => {
  it('defaults, RTO 204 ms: 15 retransmissions, give-up at the first firing ≥ 924.6 s after the first retransmission', () => {
    const p = predictBusy({ ...inputFor('6.18'), rtoMs: 204 });
    const rtx = timesOf(p.events, 'RETRANSMIT');
    expect(rtx).toHaveLength(15);
    expect(rtx.slice(0, 4)).toEqual([0.204, 0.612, 1.428, 3.06]);
    expect(rtx[10] - rtx[9]).toBeCloseTo(120, 6); // capped at rto_max
    expect(p.closeAt).toBe(928.692);
    expect(p.closeAt! - rtx[0]).toBeGreaterThanOrEqual(924.6);
    expect(p.errno).toBe('ETIMEDOUT');
    expect(p.events[0]).toEqual({ t: 0, side: 'client', packet: 'DATA', n: 0 });
  });

  it('tcp_retries2=5: budget 12.6 s from the first retransmission', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 5 } }), rtoMs: 204 });
    expect(timesOf(p.events, 'RETRANSMIT')).toEqual([0.204, 0.612, 1.428, 3.06, 6.324]);
    expect(p.closeAt).toBe(12.852);
  });

  it('TCP_USER_TIMEOUT 5000: tcp_retries2 ignored, last RTO clamped, ETIMEDOUT at U after the first retransmission', () => {
    const p = predictBusy({ ...inputFor('6.18', { socket: { userTimeoutMs: 5000 } }), rtoMs: 204 });
    expect(timesOf(p.events, 'RETRANSMIT')).toEqual([0.204, 0.612, 1.428, 3.06]);
    expect(p.closeAt).toBe(5.204);
  });

  it('U longer than the retries2 budget wins: retries2=5, U=30000 → 30.204 s', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 5 }, socket: { userTimeoutMs: 30000 } }), rtoMs: 204 });
    expect(p.closeAt).toBe(30.204);
  });

  it('tcp_rto_max_ms 1000 (6.15+): RTO capped at 1 s and the budget shrinks to 14.4 s', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_rto_max_ms: 1000 } }), rtoMs: 204 });
    const rtx = timesOf(p.events, 'RETRANSMIT');
    expect(rtx.slice(0, 4)).toEqual([0.204, 0.612, 1.428, 2.428]);
    expect(p.closeAt! - rtx[0]).toBeGreaterThanOrEqual(14.4);
    expect(p.closeAt! - rtx[0]).toBeLessThan(14.4 + 1);
  });

  it('tcp_rto_max_ms is ignored before 6.15', () => {
    const p = predictBusy({ ...inputFor('6.12', { sysctls: { tcp_rto_max_ms: 1000 } }), rtoMs: 204 });
    expect(p.closeAt).toBe(928.692);
  });

  it('a tail loss probe shifts the RTO chain and is the first retransmission', () => {
    const p = predictBusy({ ...inputFor('6.18', { socket: { userTimeoutMs: 5000 } }), rtoMs: 204, tlpMs: 12 });
    expect(timesOf(p.events, 'RETRANSMIT').slice(0, 3)).toEqual([0.012, 0.216, 0.624]);
    expect(p.closeAt).toBe(5.216);
  });

  it('keepalive is irrelevant', () => {
    const a = predictBusy({ ...inputFor('6.18'), rtoMs: 204 });
    const b = predictBusy({ ...inputFor('6.18', { socket: { keepalive: true, keepIdle: 1, keepIntvl: 1, keepCnt: 1 } }), rtoMs: 204 });
    expect(b.closeAt).toBe(a.closeAt);
  });
});

describe('tail loss probe (tcp_schedule_loss_probe)', () => {
  const veth = { hz: HZ, srttUs: 50, rtoMs: 204, rtoMinUs: 200_000, earlyRetrans: 3, sack: true };

  it('one segment in flight: 2·srtt + rto_min, capped by the RTO → on the RTO itself (204 ms)', () => {
    expect(tailLossProbeMs({ ...veth, packetsOut: 1 })).toBe(204);
  });

  it('several segments: 2·srtt + 2 ms rounded up to a jiffy (1c2709cfff1d) → 4 ms at HZ=250, 3 ms at HZ=1000', () => {
    expect(tailLossProbeMs({ ...veth, packetsOut: 3 })).toBe(4);
    expect(tailLossProbeMs({ ...veth, hz: 1000, rtoMs: 201, packetsOut: 3 })).toBe(3);
  });

  it('a longer RTT: srtt 50 ms, RTO 300 ms → one segment 2·srtt + rto_min = 300 ms, several 2·srtt + 2 ms = 104 ms', () => {
    expect(tailLossProbeMs({ ...veth, srttUs: 50_000, rtoMs: 300, packetsOut: 1 })).toBe(300);
    expect(tailLossProbeMs({ ...veth, srttUs: 50_000, rtoMs: 300, packetsOut: 2 })).toBe(104);
  });

  it('no probe without SACK, or with tcp_early_retrans other than 3/4', () => {
    expect(tailLossProbeMs({ ...veth, packetsOut: 1, sack: false })).toBeUndefined();
    expect(tailLossProbeMs({ ...veth, packetsOut: 1, earlyRetrans: 2 })).toBeUndefined();
  });

  it('one segment on veth: probe at 204 ms, RTOs from it, budget from the first RTO retransmission', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 5 } }), rtoMs: 204, tlpMs: 204 });
    expect(timesOf(p.events, 'RETRANSMIT')).toEqual([0.204, 0.408, 0.816, 1.632, 3.264, 6.528]);
    // retrans_stamp = 0.408 (TLP goes through __tcp_retransmit_skb, which does not set it); 0.408 + 12.6 → next firing
    expect(p.closeAt).toBe(13.056);
  });

  it('a live peer acknowledges the data: no retransmission, never a close', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 5 } }), rtoMs: 204, tlpMs: 204, peer: 'alive' });
    expect(p.events.map((e) => e.packet)).toEqual(['DATA']);
    expect(p.closeAt).toBeNull();
    expect(p.errno).toBeNull();
    const gone = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 5 } }), rtoMs: 204, tlpMs: 204 });
    expect(gone.inputs).toEqual({ peer: 'gone', rtoMs: 204, tlpMs: 204 });
    expect(gone.closeAt).toBe(13.056);
  });

  it("what deadpeer model assumes for the TLP without --tlp: one segment on a tiny-RTT link, the kernel's defaults", () => {
    // 2·srtt + rto_min is a few µs over 200 ms: the next jiffy, 204 ms — the RTO itself on a veth
    expect(tinyRttTailLossProbeMs(204, 200_000, 250)).toBe(204);
    // tcp_rto_min_us 50 ms is 13 jiffies (52 ms) in the kernel, and 2·srtt on top crosses into the
    // 14th: 56 ms, the RTO measured on these veths — the probe lands on the RTO again
    expect(tinyRttTailLossProbeMs(56, 50_000, 250)).toBe(56);
    // a longer RTO than the path needs: the probe comes first
    expect(tinyRttTailLossProbeMs(300, 200_000, 250)).toBe(204);
    expect(tinyRttTailLossProbeMs(201, 200_000, 1000)).toBe(201);
  });
});
