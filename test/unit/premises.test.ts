import { describe, expect, it } from 'vitest';
import type { Observation } from '../../harness/core/observation.js';
import { receiverSilencedAfterFirstAnswer } from '../../harness/recipes/window-probes.js';
import { requestStates, sent, timerSamples } from '../../harness/judge/premises.js';
import { realObservation } from './observation-builder.js';

/** The queries cases write their premises in, on a recorded-shape Observation. */
describe('premises', () => {
  const obs = realObservation();
  it('sent: by side, kind and moment', () => {
    const all = sent(obs, 'client');
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((p) => p.from === 'client')).toBe(true);
    const probes = sent(obs, 'client', { kind: 'KEEPALIVE', since: 'origin' });
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((p) => p.kind === 'KEEPALIVE' && p.t >= obs.origin)).toBe(true);
    expect(sent(obs, 'client', { since: obs.end + 1 })).toEqual([]);
  });
  it('timerSamples: changes only, by state and moment', () => {
    const s = timerSamples(obs, 'client', { state: 'ESTABLISHED', since: 'origin' });
    expect(s.every((x) => x.ev === 'timer' && x.side === 'client' && x.state === 'ESTABLISHED' && x.t >= obs.origin)).toBe(true);
  });
  it('requestStates: no server-side request in a client experiment', () => {
    const r = requestStates({ ...obs, timers: obs.timers.filter((t) => t.side === 'client') });
    expect(r).toEqual({ during: [], after: undefined });
  });
});

describe('the vanishing zero-window receiver set-up', () => {
  const base = realObservation();
  const at = (answeredS: number, silencingS = answeredS + 0.001, silentS = silencingS + 0.002) => ({
    ...base,
    packets: [],
    marks: { ...base.marks, 'probe answered': base.origin + answeredS, silencing: base.origin + silencingS, 'receiver silent': base.origin + silentS },
    prediction: { ...base.prediction, events: [{ t: 0.2, packet: 'WINDOW-PROBE' }, { t: 0.6, packet: 'WINDOW-PROBE' }] },
  }) as unknown as Observation;
  it('holds when the first probe was answered and the receiver went silent before the second', () => {
    expect(receiverSilencedAfterFirstAnswer(at(0.21))).toBeUndefined();
  });
  it('does not hold when the answer came after the second probe was due (a loaded machine), or silencing began first', () => {
    expect(receiverSilencedAfterFirstAnswer(at(0.648))).toMatch(/after the second probe was due \(0\.600 s\)/);
    expect(receiverSilencedAfterFirstAnswer(at(0.21, 0.2))).toMatch(/silenced before the probe it answered/);
  });
});

describe("timerSamples since 'origin taken in'", () => {
  const base = realObservation();
  const isn = 4_294_967_000; // wraps: the ACK is relative to the side's own ISN, mod 2^32
  const t0 = base.origin;
  const tcp = (t: number, from: 'client' | 'server', flags: string, seq: number, ack: number) =>
    ({ t, from, flags, seq, ack, len: 0, win: 0, kind: 'OTHER', dropped: false }) as never;
  const sample = (dt: number, timer: string, bytesAcked?: number) =>
    ({ t: t0 + dt, side: 'client', ev: 'timer', sport: 1, dport: 2, state: 'ESTABLISHED', timer, expiresMs: 200, retrans: 0, ...(bytesAcked === undefined ? {} : { bytesAcked }) }) as never;
  const obs = (timers: never[]) =>
    ({ ...base, packets: [tcp(t0 - 1, 'client', 'S', isn, 0), tcp(t0, 'server', '.', 1, (isn + 5001) >>> 0)], timers }) as unknown as Observation;
  it('leaves out a lookup that still shows the retransmit timer of the data t = 0 acknowledged', () => {
    const o = obs([sample(0.0004, 'on', 3000), sample(0.003, 'persist', 5001)]);
    expect(timerSamples(o, 'client', { since: 'origin' }).map((s) => s.timer)).toEqual(['on', 'persist']);
    expect(timerSamples(o, 'client', { since: 'origin taken in' }).map((s) => s.timer)).toEqual(['persist']);
  });
  it('keeps a retransmit timer seen once the ACK was in, and judges a sample without the count by its time', () => {
    expect(timerSamples(obs([sample(0.003, 'persist', 5001), sample(0.5, 'on', 5001)]), 'client', { since: 'origin taken in' }).map((s) => s.timer)).toEqual(['persist', 'on']);
    expect(timerSamples(obs([sample(0.0004, 'on')]), 'client', { since: 'origin taken in' }).map((s) => s.timer)).toEqual(['on']);
  });
  it('refuses a t = 0 that is not a packet the side received', () => {
    expect(() => timerSamples({ ...obs([]), packets: [] }, 'client', { since: 'origin taken in' })).toThrow(/does not apply/);
  });
});

