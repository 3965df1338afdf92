import { describe, expect, it } from 'vitest';
import { classify, faultAt, localDrops, toPackets } from '../../harness/engine/capture.js';
import type { TimerState } from '../../harness/core/observation.js';
import { faults } from '../../harness/engine/faults.js';
import type { HelperEvent } from '../../harness/core/protocol.js';

const pkt = (t: number, from: 'client' | 'server', flags: string, seq: number, len = 0, win = 500) => ({
  t,
  from,
  flags,
  seq,
  ack: 0,
  win,
  len,
  dropped: false,
});

describe('packet classification', () => {
  it('names handshake, data, retransmissions, keepalives and window probes like the model does', () => {
    const kinds = classify([
      pkt(0, 'client', 'S', 100),
      pkt(0.001, 'server', 'S.', 900),
      pkt(0.002, 'client', '.', 101),
      pkt(1, 'client', 'P.', 101, 10),
      pkt(1.2, 'client', 'P.', 101, 10), // same bytes again
      pkt(5, 'client', '.', 110), // seq = snd_nxt - 1: a probe
      pkt(6, 'server', '.', 901, 0, 0), // server closes its window
      pkt(7, 'client', '.', 110), // probe while the peer's window is 0
      pkt(8, 'client', 'R.', 111),
    ]).map((p) => p.kind);
    expect(kinds).toEqual(['SYN', 'SYN-ACK', 'ACK', 'DATA', 'RETRANSMIT', 'KEEPALIVE', 'ACK', 'WINDOW-PROBE', 'RST']);
  });

  it('treats a repeated SYN as a SYN (the model numbers them) and survives sequence wrap-around', () => {
    const kinds = classify([pkt(0, 'client', 'S', 0xffffffff), pkt(1, 'client', 'S', 0xffffffff), pkt(2, 'client', 'P.', 0, 5), pkt(3, 'client', 'P.', 0, 5)]).map(
      (p) => p.kind,
    );
    expect(kinds).toEqual(['SYN', 'SYN', 'DATA', 'RETRANSMIT']);
  });
});

describe('dropped marks follow the fault armed at the time', () => {
  const ev = (t: number, src: string, flags: string): HelperEvent =>
    ({ ev: 'packet', t, side: 'client', src, flags, seq: 1, ack: 0, win: 100, len: 0 }) as HelperEvent;
  const history = [
    { t: 1, at: { client: 1, server: 1 }, fault: faults.dropSyn() },
    { t: 2.1, at: { client: 2.1, server: 2 }, fault: faults.blackhole() },
  ];

  it("uses the last fault armed at the receiver's input at or before each packet", () => {
    expect(faultAt(history, 0.5, 'server')).toBeUndefined();
    expect(faultAt(history, 1.5, 'server')?.name).toBe('drop SYN');
    expect(faultAt(history, 2, 'server')?.name).toBe('blackhole');
    // the client's side flipped a little later: at 2.05 it still had the older fault
    expect(faultAt(history, 2.05, 'client')?.name).toBe('drop SYN');
  });

  it('marks only what the fault in force would drop', () => {
    const p = toPackets([ev(0.5, '198.18.0.1', 'S'), ev(1.5, '198.18.0.1', 'S'), ev(1.6, '198.18.0.2', 'S.'), ev(2.5, '198.18.0.2', '.')], ['198.18.0.1'], history);
    expect(p.map((x) => [x.from, x.dropped])).toEqual([
      ['client', false],
      ['client', true],
      ['server', false],
      ['server', true],
    ]);
  });
});

describe('local drops come from sock_diag, not the capture', () => {
  const armed = { t: 10, at: { client: 10, server: 10 }, fault: faults.localDrop() };
  const sample = (t: number, retrans: number, prevT?: number, side: 'client' | 'server' = 'client'): TimerState => ({
    t, side, ev: 'timer', sport: 1, dport: 2, state: 'ESTABLISHED', timer: 'persist', expiresMs: 500, retrans, ...(prevT === undefined ? {} : { prevT }),
  });

  it('each rise of the probe count while the local drop is armed is one LOCAL-DROP, in (previous lookup, this lookup]', () => {
    const timers = [sample(9.5, 1), sample(10.2, 2, 10.195), sample(10.7, 3, 10.696), sample(10.7, 3, 10.69, 'server')];
    const out = localDrops(timers, [armed]);
    // the rise at 9.5 s came before the arming: a probe that reached the wire
    expect(out.map((p) => [p.t, p.notBefore, p.kind, p.dropped])).toEqual([
      [10.2, 10.195, 'LOCAL-DROP', true],
      [10.7, 10.696, 'LOCAL-DROP', true],
    ]);
  });

  it('a sample with no timer pending (taken while the timer\'s handler runs) is no count: one attempt, not two', () => {
    const timers = [sample(10.1, 0), sample(10.2, 1, 10.195), { ...sample(10.716, 0, 10.711), timer: 'off' as const }, sample(10.722, 2, 10.716)];
    expect(localDrops(timers, [armed]).map((p) => [p.t, p.notBefore])).toEqual([
      [10.2, 10.195],
      [10.722, 10.716],
    ]);
  });

  it('nothing without a fault at the egress: a blackhole is counted by the capture', () => {
    const timers = [sample(10.1, 0), sample(10.2, 1, 10.195)];
    expect(localDrops(timers, [{ ...armed, fault: faults.blackhole() }])).toEqual([]);
  });
});
