import type { Observation, Packet } from '../core/observation.js';
import { predictionWindows } from '../model/windows.js';
import { placedCloseAt, placedT } from '../model/wheel.js';
import type { ModelEvent, PacketKind, Prediction } from '../model/types.js';

/**
 * Judging an Observation against a Prediction. Pure: the matchers and the reports share it.
 *
 * Tolerances come from the timer wheel of the running kernel (model/windows.ts, on
 * model/slack.ts), never from widening until green:
 * - a TCP timer never fires early, but it is armed from somewhere inside a jiffy, so an event can
 *   look up to one jiffy early; plus 1 ms for the capture's and the helper's own latency;
 * - a timer fires late by up to its wheel level's granularity plus one jiffy, and each timer in
 *   a chain is re-armed from when the previous one actually fired, so lateness accumulates: the
 *   window for event i is [T_i − early, T_i + Σ late(gap_k), k ≤ i].
 * - where the give-up is a time budget checked at firings (Prediction.closeBudget), that lateness
 *   can meet the budget at an earlier firing than the ideal chain's: the close window reaches back
 *   to it, and the transmissions the abort can replace may be missing (model/windows.ts);
 * - the close event is seen by the helper after a wake-up; USERSPACE_SLACK covers that (the
 *   measured median is tens of microseconds; 10 ms covers a loaded 2-core machine).
 * The windows are built on the ideal times; the predicted times shown (and measured by the
 * benchmark) are the wheel-placed ones when the run could place them (Prediction.placed): the
 * window is what the wheel may legitimately do, the placed time what it did do given where each
 * chain started.
 */
export const CAPTURE_SLACK = 0.001;
export const USERSPACE_SLACK = 0.01;

export interface EventVerdict {
  predicted?: ModelEvent & { window: [number, number] };
  /** observed packet, t relative to origin */
  observed?: Packet & { rel: number };
  ok: boolean;
}

export interface TimelineVerdict {
  ok: boolean;
  events: EventVerdict[];
  close: { predicted: number | null; window: [number, number] | null; observed: number | null; errno: string | null; ok: boolean };
  /** human-readable reasons, empty when ok */
  problems: string[];
  /** the run cannot be judged (an action the helpers timed came too late for the model's window): neither agrees nor differs */
  cannotJudge?: string;
}

/**
 * Windows for each predicted event and for the close: where the wheel can fire it
 * (model/windows.ts predictionWindows, the range `deadpeer model` prints) widened by what
 * observing it adds — the capture's latency around a packet, the helper's wake-up after a close.
 */
export function windows(pred: Prediction, hz: number): { events: [number, number][]; close: [number, number] | null; optional: boolean[] } {
  const wheel = predictionWindows(pred, hz);
  const events = wheel.events.map((w): [number, number] => [w.t - (w.early + CAPTURE_SLACK), w.t + w.late + CAPTURE_SLACK]);
  const c = wheel.close;
  // an event the give-up can replace (a time budget met early on late firings) may be missing
  const optional = wheel.events.map((w) => !!w.optional);
  return { events, close: c && [c.t - (c.early + CAPTURE_SLACK), c.t + c.late + USERSPACE_SLACK], optional };
}

/** The observed packets that correspond to the prediction's events: same senders and kinds, from origin on. */
export function matchingPackets(obs: Observation, pred: Prediction, w = windows(pred, obs.kernel.hz)): (Packet & { rel: number })[] {
  const wanted = new Set(pred.events.map((e) => `${e.side}/${e.packet}`));
  const from = obs.origin - 1 / obs.kernel.hz - CAPTURE_SLACK;
  // a prediction of a connection that stays open covers [0, watchUntil] and says nothing after it:
  // the judge looks at the same span, however long the run went on watching
  const until = pred.closeAt === null && pred.watchUntil !== undefined ? Math.max(pred.watchUntil, ...w.events.map((e) => e[1])) : Infinity;
  return obs.packets
    .filter((p) => p.t >= from && p.t - obs.origin <= until && wanted.has(`${p.from}/${p.kind}`))
    .map((p) => ({ ...p, rel: p.t - obs.origin }));
}

export function judgeTimeline(obs: Observation, pred: Prediction = obs.prediction): TimelineVerdict {
  const w = windows(pred, obs.kernel.hz);
  const observed = matchingPackets(obs, pred, w);
  const problems: string[] = [];
  const events: EventVerdict[] = [];
  // pair the i-th predicted event of each (side, kind) with the i-th observed one of the same
  const queues = new Map<string, (Packet & { rel: number })[]>();
  for (const p of observed) {
    const k = `${p.from}/${p.kind}`;
    if (!queues.has(k)) queues.set(k, []);
    queues.get(k)!.push(p);
  }
  pred.events.forEach((ideal, i) => {
    // shown and measured: where the wheel fires it, when the run could place it (Prediction.placed)
    const e = { ...ideal, t: placedT(pred, i) };
    const o = queues.get(`${e.side}/${e.packet}`)?.shift();
    const win = w.events[i]!;
    // a local drop is known to within the sock_diag lookups around it: it agrees if it can lie in the window
    const ok = o ? o.rel >= win[0] && (o.notBefore ?? o.t) - obs.origin <= win[1] : w.optional[i]!;
    if (!o && w.optional[i]) {
      events.push({ predicted: { ...e, window: win }, ok });
      return;
    }
    if (!o) problems.push(`missing: ${e.side} ${e.packet} #${e.n} predicted at ${e.t.toFixed(3)} s`);
    else if (!ok) problems.push(`${e.side} ${e.packet} #${e.n} at ${o.rel.toFixed(3)} s, predicted ${e.t.toFixed(3)} s (allowed ${win[0].toFixed(3)}…${win[1].toFixed(3)})`);
    events.push({ predicted: { ...e, window: win }, ...(o ? { observed: o } : {}), ok });
  });
  for (const rest of queues.values())
    for (const o of rest) {
      problems.push(`unexpected: ${o.from} ${o.kind} at ${o.rel.toFixed(3)} s (the model predicts ${pred.events.filter((e) => e.side === o.from && e.packet === o.kind).length} of them)`);
      events.push({ observed: o, ok: false });
    }
  events.sort((a, b) => (a.predicted?.t ?? a.observed!.rel) - (b.predicted?.t ?? b.observed!.rel));
  const closeObserved = observedEnd(obs, pred);
  const closePredicted = placedCloseAt(pred);
  let closeOk: boolean;
  if (pred.closeAt === null) {
    closeOk = obs.close === null;
    if (!closeOk) problems.push(`closed with ${obs.close!.errno} at ${closeObserved!.toFixed(3)} s, but the model says it never gives up`);
  } else {
    const errnoOk = pred.errno === null || obs.close?.errno === pred.errno;
    const [lo, hi] = w.close!;
    const span = observedEndSpan(obs, pred);
    // the end happened somewhere in span: it agrees if that can be inside the window
    closeOk = span !== null && errnoOk && span[1] >= lo && span[0] <= hi;
    if (closeObserved === null) problems.push(`still alive at the end of the run (${(obs.end - obs.origin).toFixed(3)} s); predicted ${pred.errno ?? 'the end'} at ${closePredicted!.toFixed(3)} s`);
    else if (!closeOk) {
      const seen = span![0] === span![1] ? `at ${closeObserved.toFixed(3)} s` : `between ${span![0].toFixed(3)} s (last seen alive) and ${span![1].toFixed(3)} s`;
      problems.push(
        `closed with ${obs.close?.errno ?? '(no errno: gone from the kernel)'} ${seen}; predicted ${pred.errno ?? 'the end'} at ${closePredicted!.toFixed(3)} s (allowed ${lo.toFixed(3)}…${hi.toFixed(3)})`,
      );
    }
  }
  // the comparison is still made (the listing shows it), but it is no verdict: it rests on a late action
  if (obs.cannotJudge) problems.unshift(obs.cannotJudge);
  return {
    ok: problems.length === 0,
    events,
    close: { predicted: closePredicted, window: w.close, observed: closeObserved, errno: obs.close?.errno ?? null, ok: closeOk },
    problems,
    ...(obs.cannotJudge ? { cannotJudge: obs.cannotJudge } : {}),
  };
}

/**
 * When the subject's connection ended: the application's close event, or — where the application
 * never holds a socket (a SYN-RECV request dies in the SYN queue; the model says errno null) —
 * the moment sock_diag stopped finding it in the subject side's kernel tables.
 */
export function observedEnd(obs: Observation, pred: Prediction = obs.prediction): number | null {
  return observedEndSpan(obs, pred)?.[1] ?? null;
}

/**
 * The same as an interval, s from origin: [t, t] for a close event; for a sock_diag 'gone', from
 * the last lookup that still found the connection to the first that did not — both stamped when
 * the kernel answered, so the scheduler's delays widen the interval but never move it.
 */
export function observedEndSpan(obs: Observation, pred: Prediction = obs.prediction): [number, number] | null {
  if (obs.close) return [obs.close.t - obs.origin, obs.close.t - obs.origin];
  if (pred.errno !== null) return null;
  const gone = obs.timers.find((s) => s.side === obs.subject && s.ev === 'gone' && s.t >= obs.origin);
  if (!gone) return null;
  return [(gone.aliveT ?? gone.t) - obs.origin, gone.t - obs.origin];
}

/** Per-event error (observed − predicted) in ms, for the closing notes and the benchmark. */
export function eventErrorsMs(v: TimelineVerdict): number[] {
  return v.events.filter((e) => e.predicted && e.observed).map((e) => (e.observed!.rel - e.predicted!.t) * 1000);
}

export type { PacketKind };
