import { describe, expect, it } from 'vitest';
import { predictBlip } from '../../harness/model/blip.js';
import { predictBusy, predictIdle, predictSynSent } from '../../harness/model/index.js';
import { inputFor } from './model-fixtures.js';

/** A blip: lost while it lasts, answered after it heals, unless the give-up comes first. */
const HZ = 250;
const keepalive = (idle: number, intvl: number, cnt: number) => inputFor('6.18', { socket: { keepalive: true, keepIdle: idle, keepIntvl: intvl, keepCnt: cnt } });

describe('blip model', () => {
  it('idle, keepalive 5/3/3: a blip shorter than the first probe costs nothing', () => {
    const b = predictBlip(predictIdle(keepalive(5, 3, 3)), 3, HZ);
    expect(b).toMatchObject({ survives: true, recoveredBy: 0, recoveredAt: 5 });
    expect(b.prediction.events.map((e) => [e.packet, e.t])).toEqual([['KEEPALIVE', 5]]);
    expect(b.prediction.closeAt).toBeNull();
    expect(b.prediction.errno).toBeNull();
  });

  it('idle: probes swallowed up to the count are survived; past it, the blip kills', () => {
    const gone = predictIdle(keepalive(5, 3, 3)); // probes 5, 8, 11; gives up at 14
    const swallowTwo = predictBlip(gone, 10, HZ);
    expect(swallowTwo).toMatchObject({ survives: true, recoveredAt: 11 });
    expect(swallowTwo.prediction.events).toHaveLength(3);
    const all = predictBlip(gone, 12.5, HZ);
    expect(all.survives).toBe(false);
    expect(all.prediction.closeAt).toBe(14);
    expect(all.marginS).toBeLessThan(0);
  });

  it('a heal inside a firing’s timer-wheel window: survival certain if a later firing surely comes in time, which one recovers not', () => {
    const gone = predictIdle(keepalive(5, 3, 3));
    const b = predictBlip(gone, 5.1, HZ); // the first probe fires in 4.996…5.26, the second surely after
    expect(b).toMatchObject({ survives: true, timelineCertain: false, recoveredAt: 8 });
    expect(b.prediction.notes.at(-1)).toMatch(/survival is certain, which transmission recovers is not/);
    // the last probe's window holds the heal and the give-up comes next: too close to call
    const last = predictBlip(gone, 11.3, HZ);
    expect(last.survives).toBe('uncertain');
    expect(last.prediction.notes.at(-1)).toMatch(/too close to call/);
  });

  it('busy with TCP_USER_TIMEOUT 5000: a 3 s blip is survived, a 6 s one kills at U', () => {
    const gone = predictBusy({ ...inputFor('6.18', { socket: { userTimeoutMs: 5000 } }), rtoMs: 204 });
    const short = predictBlip(gone, 3, HZ);
    expect(short.survives).toBe(true);
    expect(short.recoveredAt!).toBeGreaterThan(3);
    expect(short.prediction.events.at(-1)!.packet).toBe('RETRANSMIT');
    const long = predictBlip(gone, 6, HZ);
    expect(long.survives).toBe(false);
    expect(long.prediction.closeAt).toBe(gone.closeAt);
    expect(long.prediction.errno).toBe('ETIMEDOUT');
  });

  it('the margin: how much later the heal could come and still be survived', () => {
    const gone = predictIdle(keepalive(5, 3, 3));
    const b = predictBlip(gone, 3, HZ);
    // the last certain survivor is the probe at 11 s (window from 10.996 s), so a heal up to there
    expect(b.marginS).toBeCloseTo(10.996 - 3, 6);
    expect(predictBlip(gone, 10.996, HZ).survives).toBe(true);
    expect(predictBlip(gone, 11.3, HZ).survives).not.toBe(true);
  });

  it('connect: SYNs lost in the outage, the first after it is answered', () => {
    const gone = predictSynSent(inputFor('6.18', { sysctls: { tcp_syn_retries: 3 } }));
    const b = predictBlip(gone, 1.5, HZ);
    expect(b.survives).toBe(true);
    expect(b.prediction.events.at(-1)!.packet).toBe('SYN');
    expect(b.prediction.events.at(-1)!.t).toBeGreaterThan(1.5);
  });

  it('nothing sent, nothing gives up: an idle socket without keepalive never notices a blip', () => {
    const b = predictBlip(predictIdle(inputFor('6.18')), 30, HZ);
    expect(b).toMatchObject({ survives: true, marginS: Infinity, watchUntilS: null });
  });
});
