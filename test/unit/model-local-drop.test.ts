import { describe, expect, it } from 'vitest';
import { predictBusy, predictZeroWindow } from '../../harness/model/index.js';
import { predictionWindows } from '../../harness/model/windows.js';
import { inputFor, timesOf } from './model-fixtures.js';

/**
 * A local drop (faults.localDrop): the sender's own egress drops every packet, so the persist timer
 * retries every TCP_RESOURCE_PROBE_INTERVAL (500 ms) without backoff and counts icsk_probes_out
 * (tcp_send_probe0, err > 0). Times in s; HZ 250, veth RTO 204 ms → tcp_probe0_base 204 ms.
 */
const gaps = (ts: number[]) => ts.slice(1).map((t, i) => +(t - ts[i]!).toFixed(3));

describe('local drop, busy (the write never leaves)', () => {
  it("is the kernel's packetdrill case: U = 3 s gives 6 probes 500 ms apart, then ETIMEDOUT at the first probe + U", () => {
    // tools/testing/selftests/net/packetdrill/tcp_user_timeout_user-timeout-probe.pkt: tcpi_probes == 6, tcpi_backoff == 0
    const p = predictBusy({ ...inputFor('6.18', { socket: { userTimeoutMs: 3000 } }), rtoMs: 204, localDrop: true });
    const probes = timesOf(p.events, 'LOCAL-DROP');
    expect(probes).toHaveLength(6);
    expect(probes[0]).toBeCloseTo(0.204, 3);
    expect(gaps(probes)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5]);
    expect(p.closeAt).toBeCloseTo(3.204, 3);
    expect(p.errno).toBe('ETIMEDOUT');
    // nothing leaves: no DATA, tail loss probe or RTO retransmission is predicted
    expect(p.events.every((e) => e.packet === 'LOCAL-DROP')).toBe(true);
    expect(p.closeBudget).toEqual({ from: 0, after: 0, ms: 3000 });
    expect(p.inputs).toMatchObject({ localDrop: true });
  });

  it('without U, tcp_retries2 counts the locally dropped probes: the abort at the firing after the last', () => {
    const p = predictBusy({ ...inputFor('6.18', { sysctls: { tcp_retries2: 4 } }), rtoMs: 204, localDrop: true });
    const probes = timesOf(p.events, 'LOCAL-DROP');
    expect(probes.map((t) => +t.toFixed(3))).toEqual([0.204, 0.704, 1.204, 1.704]);
    expect(p.closeAt).toBeCloseTo(2.204, 3);
    expect(p.closeBudget).toBeUndefined();
  });

  it('U not a multiple of 500 ms clamps the last interval (tcp_clamp_probe0_to_user_timeout)', () => {
    const p = predictBusy({ ...inputFor('6.18', { socket: { userTimeoutMs: 1200 } }), rtoMs: 204, localDrop: true });
    expect(timesOf(p.events, 'LOCAL-DROP').map((t) => +t.toFixed(3))).toEqual([0.204, 0.704, 1.204]);
    expect(p.closeAt).toBeCloseTo(1.404, 3);
  });

  it('differs from the peer vanishing (TLP + doubling RTOs, budget from the first retransmission)', () => {
    const input = { ...inputFor('6.18', { sysctls: { tcp_retries2: 4 } }), rtoMs: 204 };
    const gone = predictBusy(input);
    const local = predictBusy({ ...input, localDrop: true });
    expect(timesOf(gone.events, 'RETRANSMIT').length).toBeGreaterThan(0);
    expect(timesOf(local.events, 'RETRANSMIT')).toEqual([]);
    expect(local.closeAt).not.toBeCloseTo(gone.closeAt!, 1);
  });

  it('is not modelled before 5.1, where a locally dropped probe was not counted', () => {
    expect(() => predictBusy({ ...inputFor('4.19'), rtoMs: 204, localDrop: true })).toThrow(/5\.1/);
  });
});

describe('local drop, zero window', () => {
  it('probes every 500 ms from tcp_probe0_base, no backoff, whatever the receiver would answer', () => {
    const alive = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 204, peer: 'alive', localDrop: true });
    expect(timesOf(alive.events, 'LOCAL-DROP').map((t) => +t.toFixed(3))).toEqual([0.204, 0.704, 1.204]);
    expect(timesOf(alive.events, 'WINDOW-PROBE')).toEqual([]);
    // an alive receiver would have kept it open for ever; nothing reaches it, so tcp_retries2 ends it
    expect(alive.closeAt).toBeCloseTo(1.704, 3);
    const gone = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 204, peer: 'gone', localDrop: true });
    expect(gone.events).toEqual(alive.events);
  });

  it('a larger RTO moves only the first probe (tcp_probe0_base); the spacing stays 500 ms', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { sysctls: { tcp_retries2: 3 } }), rtoMs: 1000, peer: 'gone', localDrop: true });
    const probes = timesOf(p.events, 'LOCAL-DROP');
    expect(probes[0]).toBeCloseTo(1.0, 3);
    expect(gaps(probes)).toEqual([0.5, 0.5]);
  });

  it('has wheel windows like any persist chain (500 ms timers sit on the 32 ms level at HZ 250)', () => {
    const p = predictZeroWindow({ ...inputFor('6.18', { socket: { userTimeoutMs: 3000 } }), rtoMs: 204, peer: 'gone', localDrop: true });
    const w = predictionWindows(p, 250);
    expect(w.events).toHaveLength(6);
    expect(w.close!.t).toBeCloseTo(3.204, 3);
  });
});
