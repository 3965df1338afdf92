/**
 * The vertical time axis of a timeline picture. Pure: times in, pixel positions out.
 *
 * A case may last 3 s or 15 minutes, and its interesting moments cluster (a handshake within
 * microseconds, retransmissions doubling from 0.2 s to 120 s apart). So the axis is laid out
 * through "knots" — every moment something is drawn — rather than with one global scale:
 * - linear (px ∝ s) when the whole span is short, because proportional gaps read best;
 * - "log-gaps" for long spans: each gap between consecutive knots is drawn ∝ log2(1 + gap/g0),
 *   so a doubling backoff shows as equal steps and a 120 s idle stretch does not crush the
 *   handshake; the real duration of long gaps is written on the axis (a broken axis).
 * In both, labels sharing a column are kept `rowMin` apart: a knot is pushed down when the previous
 * knot of its column is too close. Positions between knots are interpolated, so the axis stays
 * monotone and every element drawn at time t lines up with everything else at t.
 */
export interface Knot {
  t: number;
  /** the label column this knot's text goes in; knots of one column never overlap */
  col: string;
}

export interface AxisOptions {
  top: number;
  /** minimum px between two knots of the same column */
  rowMin: number;
  /** spans up to this many seconds are linear */
  linearMaxSpan: number;
  /** the height the span should roughly take, before rowMin pushes */
  targetHeight: number;
  /**
   * Columns whose consecutive knots delimit the gaps worth a break mark (default: all). The
   * kernel's events are: a model knot next to its late observed twin is lateness, not idle time.
   */
  gapColumns?: readonly string[];
}

export interface Tick {
  t: number;
  y: number;
}

/** A long gap drawn shorter than linear: where to put its "≈ 120 s" break mark. */
export interface Gap {
  from: number;
  to: number;
  y0: number;
  y1: number;
}

export interface TimeAxis {
  mode: 'linear' | 'log-gaps';
  /** y of knots[i] (the caller's order) */
  yOf(i: number): number;
  /** y of any time: interpolated between knots, extrapolated beyond */
  at(t: number): number;
  top: number;
  bottom: number;
  ticks: Tick[];
  gaps: Gap[];
}

export const DEFAULT_AXIS: AxisOptions = { top: 0, rowMin: 18, linearMaxSpan: 60, targetHeight: 560 };

/**
 * The log layout's resolution: gaps well below it count as "the same moment". A thousandth of the
 * span (never below 50 ms), so a 15-minute run does not spend height on a retransmission arriving
 * a few seconds after its predicted time, while a 2-minute one still separates 0.2 s steps.
 */
const logG0 = (span: number) => Math.max(0.05, span / 1000);
/** In log-gaps mode, gaps at least this long get a break mark with their real duration. */
const BREAK_MIN_S = 1;
const TICK_MIN_PX = 18;

export function layoutAxis(knots: readonly Knot[], options: Partial<AxisOptions> = {}): TimeAxis {
  const o = { ...DEFAULT_AXIS, ...options };
  const order = knots.map((_, i) => i).sort((a, b) => knots[a]!.t - knots[b]!.t || a - b);
  const ts = order.map((i) => knots[i]!.t);
  const span = ts.length ? ts[ts.length - 1]! - ts[0]! : 0;
  const mode: TimeAxis['mode'] = span <= o.linearMaxSpan ? 'linear' : 'log-gaps';

  let gapPx: (g: number) => number;
  if (mode === 'linear') {
    const pxPerS = span > 0 ? Math.min(2000, Math.max(10, o.targetHeight / span)) : 0;
    gapPx = (g) => g * pxPerS;
  } else {
    const g0 = logG0(span);
    const raw = (g: number) => Math.log2(1 + g / g0);
    let total = 0;
    for (let k = 1; k < ts.length; k++) total += raw(ts[k]! - ts[k - 1]!);
    const a = Math.min(40, Math.max(6, o.targetHeight / Math.max(total, 1)));
    gapPx = (g) => a * raw(g);
  }

  const ys = new Array<number>(knots.length);
  const sortedY: number[] = [];
  const lastInCol = new Map<string, number>();
  let prev = o.top;
  order.forEach((i, k) => {
    const k0 = knots[i]!;
    let y = k === 0 ? o.top : prev + gapPx(k0.t - ts[k - 1]!);
    const last = lastInCol.get(k0.col);
    if (last !== undefined) y = Math.max(y, last + o.rowMin);
    ys[i] = y;
    sortedY.push(y);
    lastInCol.set(k0.col, y);
    prev = y;
  });

  const at = (t: number): number => {
    if (!ts.length) return o.top;
    if (t <= ts[0]!) return sortedY[0]! - gapPx(ts[0]! - t);
    const n = ts.length - 1;
    if (t >= ts[n]!) {
      // at a knot time shared by several knots, the first of them
      const first = ts.indexOf(t);
      return first >= 0 ? sortedY[first]! : sortedY[n]! + gapPx(t - ts[n]!);
    }
    // last knot with ts <= t, first knot with ts > t
    let lo = 0;
    let hi = n;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (ts[mid]! <= t) lo = mid;
      else hi = mid;
    }
    if (ts[lo] === t) return sortedY[ts.indexOf(t)]!;
    const f = (t - ts[lo]!) / (ts[hi]! - ts[lo]!);
    return sortedY[lo]! + f * (sortedY[hi]! - sortedY[lo]!);
  };

  const bottom = sortedY.length ? sortedY[sortedY.length - 1]! : o.top;
  const gaps: Gap[] = [];
  if (mode === 'log-gaps') {
    const delimiting = order.map((i, k) => ({ k, col: knots[i]!.col })).filter((x) => !o.gapColumns || o.gapColumns.includes(x.col));
    for (let j = 1; j < delimiting.length; j++) {
      const [a, b] = [delimiting[j - 1]!.k, delimiting[j]!.k];
      if (ts[b]! - ts[a]! >= BREAK_MIN_S) gaps.push({ from: ts[a]!, to: ts[b]!, y0: sortedY[a]!, y1: sortedY[b]! });
    }
  }
  // inside a broken gap the scale is not the scale elsewhere: a tick there would mislead
  const ticks = pickTicks(ts, at, mode).filter((k) => !gaps.some((g) => k.t > g.from && k.t < g.to));

  return { mode, yOf: (i) => ys[i]!, at, top: o.top, bottom, ticks, gaps };
}

/** Round times to label on the axis, never closer than TICK_MIN_PX; 0 (the origin) always. */
function pickTicks(ts: number[], at: (t: number) => number, mode: TimeAxis['mode']): Tick[] {
  if (!ts.length) return [];
  const lo = ts[0]!;
  const hi = ts[ts.length - 1]!;
  const candidates: number[] = [];
  if (mode === 'linear') {
    const step = niceStep((hi - lo) / 12);
    for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) candidates.push(Number(t.toFixed(6)));
  } else {
    // 1-2-5 per decade: on a compressed axis the readable ticks are the round magnitudes
    for (let e = -1; e <= 5; e++) for (const m of [1, 2, 5]) candidates.push(m * 10 ** e);
    for (const c of [...candidates]) candidates.push(-c);
  }
  candidates.push(0);
  const inRange = [...new Set(candidates)].filter((t) => t >= lo - 1e-9 && t <= hi + 1e-9).sort((a, b) => a - b);
  // the origin first, then the others where they fit
  const kept: Tick[] = inRange.includes(0) ? [{ t: 0, y: at(0) }] : [];
  for (const t of inRange) {
    if (t === 0) continue;
    const y = at(t);
    if (kept.every((k) => Math.abs(k.y - y) >= TICK_MIN_PX)) kept.push({ t, y });
  }
  return kept.sort((a, b) => a.t - b.t);
}

/** 1, 2 or 5 × 10^k, at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * e >= raw) return m * e;
  return 10 * e;
}
