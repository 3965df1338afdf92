import { describe, expect, it } from 'vitest';
import { predictIdle } from '../../harness/model/index.js';
import { keepCntCounts } from '../../harness/model/idle.js';
import { inputFor, timesOf } from './model-fixtures.js';

const keepalive = (keepIdle: number, keepIntvl: number, keepCnt: number, userTimeoutMs = 0) =>
  inputFor('6.18', { socket: { keepalive: true, keepIdle, keepIntvl, keepCnt, userTimeoutMs } });

describe('idle ESTABLISHED model', () => {
  it('keepCntCounts: under U the count changes nothing the timeline holds (the recommend search asks once per U on this)', () => {
    expect(keepCntCounts({ userTimeoutMs: 0 })).toBe(true);
    const timeline = (p: ReturnType<typeof predictIdle>) => ({ events: p.events, closeAt: p.closeAt, closeBudget: p.closeBudget, closeTimer: p.closeTimer, errno: p.errno });
    for (const u of [1000, 5000, 17_000, 30_000])
      for (const [idle, intvl] of [[1, 1], [5, 3], [16, 1], [29, 8]] as const) {
        expect(keepCntCounts({ userTimeoutMs: u })).toBe(false);
        const one = timeline(predictIdle(keepalive(idle, intvl, 1, u)));
        for (const cnt of [2, 5, 9, 10]) expect(timeline(predictIdle(keepalive(idle, intvl, cnt, u))), `${idle}/${intvl}/${cnt} U ${u}`).toEqual(one);
      }
  });

  it('without keepalive nothing happens, ever', () => {
    const p = predictIdle(inputFor('6.18'));
    expect(p.events).toEqual([]);
    expect(p.closeAt).toBeNull();
    expect(p.errno).toBeNull();
  });

  it('keepalive 5/3/3: probes at 5, 8, 11 s, RST + ETIMEDOUT at 14 s', () => {
    const p = predictIdle(keepalive(5, 3, 3));
    expect(timesOf(p.events, 'KEEPALIVE')).toEqual([5, 8, 11]);
    expect(timesOf(p.events, 'RST')).toEqual([14]);
    expect(p.closeAt).toBe(14);
    expect(p.errno).toBe('ETIMEDOUT');
  });

  it('kernel defaults 7200/75/9: I + C·V = 7875 s', () => {
    const p = predictIdle(inputFor('6.18', { socket: { keepalive: true } }));
    expect(timesOf(p.events, 'KEEPALIVE')).toHaveLength(9);
    expect(p.closeAt).toBe(7875);
  });

  it('1/11/3 with U 5000: aborts at the second firing, 12 s (a probe is out, 12 ≥ 5)', () => {
    const p = predictIdle(keepalive(1, 11, 3, 5000));
    expect(timesOf(p.events, 'KEEPALIVE')).toEqual([1]);
    expect(p.closeAt).toBe(12);
  });

  it('1/11/3 with U 12500: aborts at the third firing, 23 s', () => {
    const p = predictIdle(keepalive(1, 11, 3, 12500));
    expect(timesOf(p.events, 'KEEPALIVE')).toEqual([1, 12]);
    expect(p.closeAt).toBe(23);
  });

  it('1/11/3 with U 40000: 4 probes (KEEPCNT 3 ignored), abort at 45 s', () => {
    const p = predictIdle(keepalive(1, 11, 3, 40000));
    expect(timesOf(p.events, 'KEEPALIVE')).toEqual([1, 12, 23, 34]);
    expect(timesOf(p.events, 'RST')).toEqual([45]);
    expect(p.closeAt).toBe(45);
  });

  it('U below KEEPIDLE still waits for one probe to be out: 10/5/9, U 3000 → 15 s', () => {
    const p = predictIdle(keepalive(10, 5, 9, 3000));
    expect(timesOf(p.events, 'KEEPALIVE')).toEqual([10]);
    expect(p.closeAt).toBe(15);
  });

  it('U exactly on a firing aborts there (elapsed >= U): 1/11/3, U 12000 → 12 s', () => {
    expect(predictIdle(keepalive(1, 11, 3, 12000)).closeAt).toBe(12);
  });

  it('a live peer answers every probe: probes every max(KEEPIDLE, KEEPINTVL), never a close, no RST', () => {
    const alive = (idle: number, intvl: number, u = 0) => predictIdle({ ...keepalive(idle, intvl, 3, u), peer: 'alive' });
    // KEEPINTVL < KEEPIDLE: the firing after a probe finds the connection idle only KEEPINTVL and re-arms for the rest
    expect(timesOf(alive(5, 3).events, 'KEEPALIVE')).toEqual([5, 10, 15]);
    // KEEPINTVL >= KEEPIDLE: each firing finds it idle long enough and probes
    expect(timesOf(alive(2, 3).events, 'KEEPALIVE')).toEqual([2, 5, 8]);
    for (const p of [alive(5, 3), alive(1, 11, 5000)]) {
      expect(p.closeAt).toBeNull();
      expect(p.errno).toBeNull();
      expect(timesOf(p.events, 'RST')).toEqual([]);
      expect(p.inputs).toEqual({ peer: 'alive' });
    }
    expect(timesOf(predictIdle({ ...keepalive(5, 3, 3), peer: 'alive', horizonS: 30 }).events, 'KEEPALIVE')).toEqual([5, 10, 15, 20, 25, 30]);
    // and the same socket with the peer gone gives up as ever
    expect(predictIdle({ ...keepalive(5, 3, 3), peer: 'gone' }).closeAt).toBe(14);
  });
});
