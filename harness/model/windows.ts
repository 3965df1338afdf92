/**
 * Where the kernel can fire each event of a Prediction: the timer wheel's arithmetic
 * (model/slack.ts) along each side's chain of timers. One function for everyone who states a
 * range — `deadpeer model` prints it, the verdict (harness/verdict.ts) widens it by what measuring
 * adds — so the CLI's range and the cases' assertion windows cannot drift apart.
 *
 * The range is asymmetric. A TCP timer never fires before its expiry, but the ideal times count
 * from t = 0 while the kernel counts from the jiffy it armed the timer in, which began up to one
 * jiffy earlier: `early` is that jiffy, never more. Late, a timer fires at the end of its wheel
 * level's granule (plus a jiffy for the tick), and the next one of the chain is armed from when
 * it really fired, so lateness adds up: `late` of event i = Σ late(gap_k), k ≤ i, of its side.
 *
 * A chain is the events of one side in order, each gap one timer — except where the timer fired
 * silently in between (TimerHint.via: a deferring request timer), each silent firing re-arming
 * it from when it really fired. There the lateness of every silent firing adds up too, which can
 * exceed that of one timer across the whole gap (TCP_DEFER_ACCEPT 5 s: firings at 1 and 3 s, the
 * SYN+ACK at 7 s may come 332 ms late at HZ=250, where one 7 s timer is at most 260 ms late), so
 * such an event's lateness is the larger of the two. Where the one-timer figure is the larger (the
 * fast and faithful cases' deferrals, 2 s and 30 s), it is kept: the verdicts built on it do not move.
 */
import { timerSlack } from './slack.js';
import type { CloseBudget, Prediction, Side } from './types.js';

export interface FiringWindow {
  /**
   * The give-up can come at this firing instead (Prediction.closeBudget: late firings met the
   * budget earlier than the ideal chain): the event may not happen at all.
   */
  optional?: true;
  /** the ideal time, s from t = 0 */
  t: number;
  /** how much earlier than t the kernel can fire it, s (one jiffy) */
  early: number;
  /** how much later than t the kernel can fire it, s (the chain's accumulated wheel lateness) */
  late: number;
  /** [t − early, t + late] */
  window: [number, number];
}

export interface PredictionWindows {
  events: FiringWindow[];
  /** null when the model says it never gives up */
  close: FiringWindow | null;
}

const firing = (t: number, early: number, late: number): FiringWindow => ({ t, early, late, window: [t - early, t + late] });

/** The wheel's range for every event and for the close, at this HZ. */
export function predictionWindows(pred: Prediction, hz: number): PredictionWindows {
  const early = 1 / hz;
  const bySide: Partial<Record<Side, { last: number; late: number }>> = {};
  const lateness = (gap: number) => (gap > 0 ? timerSlack(gap, hz).late : 0);
  /** the chain's lateness at a firing at t, reached from the chain's last event through `via` */
  const lateAt = (chain: { last: number; late: number }, t: number, via: readonly number[] = []) => {
    const oneTimer = chain.late + lateness(t - chain.last);
    if (!via.length) return oneTimer;
    const stops = [chain.last, ...via, t];
    const throughVia = stops.slice(1).reduce((late, stop, i) => late + lateness(stop - stops[i]!), chain.late);
    return Math.max(oneTimer, throughVia);
  };
  const events = pred.events.map((e) => {
    const chain = (bySide[e.side] ??= { last: 0, late: 0 });
    chain.late = lateAt(chain, e.t, e.timer?.via);
    chain.last = e.t;
    return firing(e.t, early, chain.late);
  });
  if (pred.closeAt === null) return { events, close: null };
  // the close fires on the dying side's chain
  const side = pred.events.length ? pred.events[pred.events.length - 1]!.side : 'client';
  const chain = bySide[side] ?? { last: 0, late: 0 };
  const close = firing(pred.closeAt, early, lateAt(chain, pred.closeAt, pred.closeTimer?.via) + (pred.closeAnswer?.withinS ?? 0));
  return pred.closeBudget ? budgetFlips(pred, pred.closeBudget, side, events, close, early) : { events, close };
}

/**
 * A give-up checked against a time budget at each firing (Prediction.closeBudget). The real time
 * elapsed at firing k since the clock's start s is (t_k + l_k) − (t_s + l_s), with l_k ≥ l_s the
 * chain's lateness at each and up to a jiffy more where s falls late in its jiffy: at most
 * (t_k − t_s) + (late_k − late_s) + early. The first firing k at which that can reach the budget is
 * where the abort can land first (tcp_rto_max_ms 1000 on 6.18: ~28 ms of lateness per 1 s RTO add
 * up to a whole RTO, and the kernel aborted one firing before the ideal chain); it lands no earlier
 * than that firing's own earliest time, nor than the budget after the clock's earliest start. Every
 * event from k on can be replaced by the abort: optional.
 */
function budgetFlips(
  pred: Prediction,
  budget: CloseBudget,
  side: Side,
  events: FiringWindow[],
  close: FiringWindow,
  early: number,
): PredictionWindows {
  const start = budget.from < 0 ? { t: 0, late: 0 } : events[budget.from]!;
  const ms = budget.ms / 1000;
  const canMeet = (w: FiringWindow) => w.t - start.t + (w.late - start.late) + early >= ms - 1e-9;
  const first = pred.events.findIndex((e, i) => i > budget.after && e.side === side && canMeet(events[i]!));
  if (first < 0) return { events, close };
  const lo = Math.max(events[first]!.t - early, start.t - early + ms);
  return {
    // the abort's own RST moves with it; the transmissions it can replace may not happen
    events: events.map((w, i) => {
      const e = pred.events[i]!;
      if (i < first || e.side !== side) return w;
      if (e.packet === 'RST' && e.t === pred.closeAt) return { ...w, early: w.t - lo, window: [lo, w.window[1]] };
      return { ...w, optional: true };
    }),
    close: { ...close, early: close.t - lo, window: [lo, close.window[1]] },
  };
}
