import { describe, expect, it } from 'vitest';
import { predictSynRecv } from '../../harness/model/index.js';
import { inputFor, timesOf } from './model-fixtures.js';

describe('SYN-RECV model', () => {
  it('defaults: SYN+ACK at 0,1,3,7,15,31, request dropped at 63 s, no errno (the app never sees it)', () => {
    const p = predictSynRecv(inputFor('6.18'));
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1, 3, 7, 15, 31]);
    expect(p.events.every((e) => e.side === 'server')).toBe(true);
    expect(p.closeAt).toBe(63);
    expect(p.errno).toBeNull();
    expect(p.acceptAt).toBeNull();
  });

  it('tcp_synack_retries=2 → dropped at 7 s; TCP_SYNCNT on the listener overrides it', () => {
    expect(predictSynRecv(inputFor('6.18', { sysctls: { tcp_synack_retries: 2 } })).closeAt).toBe(7);
    expect(predictSynRecv(inputFor('6.18', { socket: { synCnt: 3 } })).closeAt).toBe(15);
  });

  it('no linear timeouts on 6.18; backoff capped at 120 s: synack_retries=8 → 1,3,...,127,247', () => {
    const p = predictSynRecv(inputFor('6.18', { sysctls: { tcp_synack_retries: 8 } }));
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1, 3, 7, 15, 31, 63, 127, 247]);
    expect(p.closeAt).toBe(367);
  });

  it('tcp_rto_max_ms does not reach the request timer on 6.18, but does after ("Apply max RTO to non-TFO SYN+ACK")', () => {
    expect(predictSynRecv(inputFor('6.18', { sysctls: { tcp_rto_max_ms: 2000 } })).closeAt).toBe(63);
    const p = predictSynRecv(inputFor('6.19', { sysctls: { tcp_rto_max_ms: 2000 } }));
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1, 3, 5, 7, 9]);
    expect(p.closeAt).toBe(11);
  });

  it('user timeout and keepalive have no effect', () => {
    const p = predictSynRecv(inputFor('6.18', { socket: { userTimeoutMs: 5000, keepalive: true, keepIdle: 1, keepIntvl: 1, keepCnt: 1 } }));
    expect(p.closeAt).toBe(63);
  });

  it('final ACK lost: SYN+ACK resent at 1 s, the client answers, accepted at 1 s', () => {
    const p = predictSynRecv({ ...inputFor('6.18'), finalAckLost: true });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1]);
    expect(p.acceptAt).toBe(1);
    expect(p.closeAt).toBeNull();
  });

  it('final ACK lost, client data at 0.3 s: accepted then, no SYN+ACK retransmission', () => {
    const p = predictSynRecv({ ...inputFor('6.18'), finalAckLost: true, clientDataAtS: 0.3 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0]);
    expect(p.acceptAt).toBe(0.3);
  });

  it("every bare ACK lost, client data at 2 s: the resent SYN+ACK goes unanswered, accepted at the data", () => {
    const p = predictSynRecv({ ...inputFor('6.18'), finalAckLost: true, clientAcksLost: true, clientDataAtS: 2 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1]);
    expect(p.acceptAt).toBe(2);
    expect(p.closeAt).toBeNull();
  });

  it('every bare ACK lost and no data: the request is dropped as if the client had vanished', () => {
    const p = predictSynRecv({ ...inputFor('6.18', { sysctls: { tcp_synack_retries: 2 } }), finalAckLost: true, clientAcksLost: true });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 1, 3]);
    expect(p.acceptAt).toBeNull();
    expect(p.closeAt).toBe(7);
  });

  it('data after the request was dropped completes nothing', () => {
    const p = predictSynRecv({ ...inputFor('6.18', { sysctls: { tcp_synack_retries: 2 } }), finalAckLost: true, clientAcksLost: true, clientDataAtS: 8 });
    expect(p.acceptAt).toBeNull();
    expect(p.closeAt).toBe(7);
  });
});
