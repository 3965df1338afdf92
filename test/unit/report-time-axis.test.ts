import { describe, expect, it } from 'vitest';
import { layoutAxis, niceStep } from '../../harness/report/time-axis.js';

describe('the timeline picture’s time axis', () => {
  it('a short run is linear: equal gaps get equal heights', () => {
    const a = layoutAxis([0, 1, 2, 3].map((t) => ({ t, col: 'k' })), { top: 0, targetHeight: 300 });
    expect(a.mode).toBe('linear');
    expect(a.yOf(1) - a.yOf(0)).toBeCloseTo(a.yOf(3) - a.yOf(2), 6);
    expect(a.at(1.5)).toBeCloseTo((a.yOf(1) + a.yOf(2)) / 2, 6);
    expect(a.gaps).toEqual([]);
  });

  it('labels of one column never overlap, even for packets microseconds apart', () => {
    const knots = [0, 0.00001, 0.00002, 5].map((t) => ({ t, col: 'kernel' }));
    const a = layoutAxis(knots, { top: 0, rowMin: 16 });
    for (let i = 1; i < knots.length; i++) expect(a.yOf(i) - a.yOf(i - 1)).toBeGreaterThanOrEqual(16);
  });

  it('knots of different columns at the same time share a row', () => {
    const a = layoutAxis([{ t: 5, col: 'model' }, { t: 5, col: 'kernel' }, { t: 0, col: 'kernel' }], { top: 0 });
    expect(a.yOf(0)).toBe(a.yOf(1));
  });

  it('a long run compresses its gaps: a doubling backoff becomes equal steps, 15 minutes fit on a page', () => {
    const times = [0];
    for (let rto = 0.2; times.length < 16; rto = Math.min(rto * 2, 120)) times.push(times[times.length - 1]! + rto);
    const a = layoutAxis(times.map((t) => ({ t, col: 'kernel' })), { top: 0, targetHeight: 560 });
    expect(a.mode).toBe('log-gaps');
    expect(a.bottom).toBeLessThan(1200);
    // every later gap is at least as tall as an earlier one (order of gap lengths is kept)…
    const h = times.slice(1).map((_, i) => a.yOf(i + 1) - a.yOf(i));
    for (let i = 1; i < h.length; i++) expect(h[i]!).toBeGreaterThanOrEqual(h[i - 1]! - 1e-9);
    // …but a 120 s gap is not 600 times a 0.2 s one
    expect(h[h.length - 1]! / h[0]!).toBeLessThan(10);
    // long gaps are marked as broken, with their real length
    expect(a.gaps.length).toBeGreaterThan(5);
    expect(a.gaps.some((g) => Math.abs(g.to - g.from - 120) < 1e-6)).toBe(true);
  });

  it('positions are monotone in time everywhere, including before and after the knots', () => {
    const a = layoutAxis([-0.05, 0, 0.2, 0.6, 100, 900].map((t) => ({ t, col: 'k' })));
    let last = -Infinity;
    for (let t = -1; t < 1000; t += 0.37) {
      const y = a.at(t);
      expect(y).toBeGreaterThanOrEqual(last);
      last = y;
    }
  });

  it('ticks include the origin, never crowd, and none sits inside a broken gap', () => {
    const a = layoutAxis([-0.05, 0, 0.2, 0.6, 100, 900].map((t) => ({ t, col: 'k' })));
    expect(a.ticks.some((k) => k.t === 0)).toBe(true);
    const ys = a.ticks.map((k) => k.y).sort((x, y) => x - y);
    for (let i = 1; i < ys.length; i++) expect(ys[i]! - ys[i - 1]!).toBeGreaterThanOrEqual(18);
    for (const k of a.ticks) expect(a.gaps.some((g) => k.t > g.from && k.t < g.to)).toBe(false);
  });

  it('break marks only between the delimiting column’s knots: a late packet is not an idle stretch', () => {
    // predicted at 100 s, seen at 104 s; the next packet 120 s later
    const knots = [
      { t: 0, col: 'kernel' },
      { t: 100, col: 'model' },
      { t: 104, col: 'kernel' },
      { t: 224, col: 'kernel' },
    ];
    const a = layoutAxis(knots, { gapColumns: ['kernel'] });
    expect(a.gaps.map((g) => [g.from, g.to])).toEqual([
      [0, 104],
      [104, 224],
    ]);
  });

  it('niceStep picks 1, 2 or 5 × 10^k', () => {
    expect([0.13, 0.7, 1.2, 3, 7, 40].map(niceStep)).toEqual([0.2, 1, 2, 5, 10, 50]);
  });
});
