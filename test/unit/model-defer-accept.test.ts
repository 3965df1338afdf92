import { describe, expect, it } from 'vitest';
import { deferAcceptReadBack, deferAcceptRetrans, predictDeferAccept, retransToSecs, secsToRetrans } from '../../harness/model/index.js';
import { inputFor, timesOf } from './model-fixtures.js';

describe('TCP_DEFER_ACCEPT rounding (secs_to_retrans / retrans_to_secs)', () => {
  it('reads back rounded up to the end of a SYN+ACK backoff period', () => {
    expect(deferAcceptReadBack(5)).toBe(7);
    expect(deferAcceptReadBack(30)).toBe(31);
    expect(deferAcceptReadBack(1)).toBe(1);
    expect(deferAcceptReadBack(2)).toBe(3);
    expect(deferAcceptReadBack(7)).toBe(7);
    expect(deferAcceptReadBack(8)).toBe(15);
    expect(deferAcceptReadBack(0)).toBe(0);
  });
  it('retransmit counts', () => {
    expect(deferAcceptRetrans(5)).toBe(3);
    expect(deferAcceptRetrans(30)).toBe(5);
    expect(deferAcceptRetrans(0)).toBe(0);
    expect(deferAcceptRetrans(-3)).toBe(0);
  });
  it('caps the period at rto_max: 127 + 120 = 247 s is 8 retransmits', () => {
    expect(secsToRetrans(200, 1, 120)).toBe(8);
    expect(retransToSecs(8, 1, 120)).toBe(247);
    expect(secsToRetrans(100_000, 1, 120)).toBe(255); // u8 saturates
  });
  it('is idempotent on its read-back value', () => {
    for (const s of [1, 4, 5, 9, 30, 64, 500]) expect(deferAcceptReadBack(deferAcceptReadBack(s))).toBe(deferAcceptReadBack(s));
  });
});

describe('TCP_DEFER_ACCEPT model', () => {
  it("the deferral's SYN+ACK timer is capped by the listener's tcp_rto_max from 6.19 (1e9d3005e02c), by TCP_RTO_MAX before", () => {
    const at = (release: string) => predictDeferAccept({ ...inputFor(release, { sysctls: { tcp_rto_max_ms: 1000 } }), deferAcceptS: 5, client: 'ack' });
    // D = 3: silent firings at 1 and 3 s, the SYN+ACK at 7 s — or, with every backoff capped at 1 s, at 1, 2 and 3 s
    expect(timesOf(at('6.18').events, 'SYN-ACK')).toEqual([0, 7]);
    expect(at('6.18').acceptAt).toBe(7);
    expect(timesOf(at('6.19').events, 'SYN-ACK')).toEqual([0, 3]);
    expect(at('6.19').acceptAt).toBe(3);
    // the read-back rounding keeps using the constant (secs_to_retrans(…, TCP_RTO_MAX / HZ)): D is 3 either way
    expect(at('6.19').notes[0]).toMatch(/= 3 SYN\+ACK timeouts/);
  });

  it('5 s (D=3), client alive: no SYN+ACK during the deferral, one at 7 s, accepted then', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 5, client: 'ack' });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 7]);
    expect(p.acceptAt).toBe(7);
    expect(p.closeAt).toBeNull();
    expect(p.errno).toBeNull();
  });

  it('30 s (D=5): one SYN+ACK at 31 s, accepted then', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 30 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 31]);
    expect(p.acceptAt).toBe(31);
  });

  it('data completes the handshake at once', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 30, client: 'data' });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0]);
    expect(p.acceptAt).toBe(0);
  });

  it('data later in the deferral completes it when it arrives, before any SYN+ACK resend', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 5, client: 'data', clientDataAtS: 2.5 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0]);
    expect(p.acceptAt).toBe(2.5);
  });

  it('data planned after the end of the deferral: the ACK to the resent SYN+ACK wins', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 5, client: 'data', clientDataAtS: 9 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 7]);
    expect(p.acceptAt).toBe(7);
  });

  it('client gone after its ACK: SYN+ACKs from the end of the deferral until max(synack_retries, D), then dropped', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 5, client: 'gone' });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 7, 15, 31]);
    expect(p.closeAt).toBe(63);
    expect(p.acceptAt).toBeNull();
  });

  it('a deferral longer than tcp_synack_retries keeps the request: 100 s (D=7) → SYN+ACK at 127 s', () => {
    const p = predictDeferAccept({ ...inputFor('6.18'), deferAcceptS: 100 });
    expect(timesOf(p.events, 'SYN-ACK')).toEqual([0, 127]);
    expect(p.acceptAt).toBe(127);
  });

  it('reads TCP_DEFER_ACCEPT from the socket when not given, and 0 means off', () => {
    expect(predictDeferAccept(inputFor('6.18', { socket: { deferAcceptS: 5 } })).acceptAt).toBe(7);
    expect(predictDeferAccept(inputFor('6.18', { socket: { deferAcceptS: 0 } })).acceptAt).toBe(0);
  });
});
