import { describe, expect, it } from 'vitest';
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
