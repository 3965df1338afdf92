import { describe, expect, it } from 'vitest';
import { predictSynSent } from '../../harness/model/index.js';
import { inputFor, timesOf } from './model-fixtures.js';

describe('SYN-SENT model', () => {
  it('6.18, tcp_syn_retries=3: linear SYNs then doubling, ETIMEDOUT at 19 s (measured on this kernel)', () => {
    const p = predictSynSent(inputFor('6.18.44', { sysctls: { tcp_syn_retries: 3 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2, 3, 4, 5, 7, 11]);
    expect(p.closeAt).toBe(19);
    expect(p.errno).toBe('ETIMEDOUT');
    expect(p.events.map((e) => e.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('6.18 defaults (N=6, L=4): 11 SYNs, the count limit N+L ends it at 131 s, past the 127 s budget', () => {
    const p = predictSynSent(inputFor('6.18'));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    expect(p.closeAt).toBe(131);
  });

  it('before 6.5 (defaults): exponential 0,1,3,...,63 and ETIMEDOUT at 127 s', () => {
    const p = predictSynSent(inputFor('6.1'));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 3, 7, 15, 31, 63]);
    expect(p.closeAt).toBe(127);
  });

  it('the time budget can end it before the count: N=2, L=4 → budget 7 s hit at the 7 s firing', () => {
    const p = predictSynSent(inputFor('6.18', { sysctls: { tcp_syn_retries: 2 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(p.closeAt).toBe(7);
  });

  it('TCP_SYNCNT overrides tcp_syn_retries; tcp_syn_linear_timeouts=0 restores doubling', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { synCnt: 2 }, sysctls: { tcp_syn_linear_timeouts: 0 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 3]);
    expect(p.closeAt).toBe(7);
  });

  it('TCP_USER_TIMEOUT 5000 on 6.18: RTO clamped to the remaining U, ETIMEDOUT at 5 s', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { userTimeoutMs: 5000 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2, 3, 4]);
    expect(p.closeAt).toBe(5);
  });

  it('TCP_USER_TIMEOUT 5000 before 6.5: the 4 s RTO after the 3 s SYN is clamped to 2 s', () => {
    const p = predictSynSent(inputFor('5.10', { socket: { userTimeoutMs: 5000 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 3]);
    expect(p.closeAt).toBe(5);
  });

  it('TCP_USER_TIMEOUT 2500: clamped to the half second left, not rounded to the RTO', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { userTimeoutMs: 2500 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2]);
    expect(p.closeAt).toBe(2.5);
  });

  it('a large U does not lift the count limit N+L', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { userTimeoutMs: 600_000 } }));
    expect(p.closeAt).toBe(131);
  });

  it('5.2 with U: the odd SYN burst, one jiffy apart after U, until the count limit', () => {
    const p = predictSynSent(inputFor('5.2', { socket: { userTimeoutMs: 5000 } }));
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 3, 5, 5.004, 5.008, 5.012]);
    expect(p.closeAt).toBe(5.016);
  });

  it('TCP_RTO_MAX_MS caps the backoff and the budget (6.15+)', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { rtoMaxMs: 4000 } }));
    // RTO 1,1,1,1,1 then 2, 4, 4, ...; budget tcp_model_timeout(6, 1 s, 4 s) = 7 + 4·4 = 23 s
    expect(timesOf(p.events, 'SYN')).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 15, 19]);
    expect(p.closeAt).toBe(23);
  });

  it('says SO_KEEPALIVE has no effect', () => {
    const p = predictSynSent(inputFor('6.18', { socket: { keepalive: true, keepIdle: 1, keepIntvl: 1, keepCnt: 1 } }));
    expect(p.closeAt).toBe(131);
    expect(p.notes.join(' ')).toMatch(/SO_KEEPALIVE has no effect/);
  });
});
