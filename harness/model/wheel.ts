/**
 * Where a jiffy timer really fires. The timer wheel (kernel/time/timer.c, 4.8+) puts a timer
 * armed `delta` jiffies ahead on the level whose range holds delta (calc_wheel_index) and rounds
 * its expiry *up* past the level's granularity (calc_index: `expires = (expires >> LVL_SHIFT(lvl))
 * + 1; bucket_expiry = expires << LVL_SHIFT(lvl)`, "the timer wheel has to guarantee that a timer
 * does not fire early"). So the firing depends on the absolute jiffy the timer was armed at, not
 * only on delta: a "5 s" keepalive timer at HZ=250 fires 5.004–5.260 s later depending on where
 * in the 256 ms granule its expiry falls.
 *
 * With the absolute jiffy of the phase's origin known (KernelClock, read from /proc/timer_list by
 * harness/engine/kernel-clock.ts), the models compute each firing exactly; without it they fall back to
 * the ideal `armed + delta` and the verdict's slack windows cover the difference.
 */
import { levelGranularityJiffies, timerWheelLevel } from './slack.js';
import type { Prediction, Side, TimerHint } from './types.js';

/** Where t = 0 of a prediction sits on the kernel's jiffies clock. */
export interface WheelOrigin {
  /** jiffies value (absolute) during which the origin happened */
  originJ: number;
  /** how far into that jiffy the origin happened, in jiffies [0, 1) */
  originFrac: number;
  hz: number;
}

/** The absolute jiffy at which a timer armed at `armedAbsJ` for `deltaJ` jiffies fires. */
export function wheelFireAbs(armedAbsJ: number, deltaJ: number, hz: number): number {
  const expires = armedAbsJ + deltaJ;
  const shift = levelGranularityJiffies(timerWheelLevel(deltaJ, hz));
  return (Math.floor(expires / shift) + 1) * shift;
}

/**
 * A timer armed at relative jiffy `nowJ` (jiffies since the origin's jiffy) for `deltaJ`: the
 * relative jiffy it fires at. Ideal (no wheel known): nowJ + deltaJ.
 */
export function fireJ(nowJ: number, deltaJ: number, wheel?: WheelOrigin): number {
  if (!wheel) return nowJ + deltaJ;
  return wheelFireAbs(wheel.originJ + nowJ, deltaJ, wheel.hz) - wheel.originJ;
}

/**
 * Seconds from the origin of relative jiffy j. With a wheel, an event at jiffy j happens at that
 * jiffy's tick, which lies (j − originFrac) jiffies after the origin; ideally, j jiffies.
 */
export function jiffyToOriginSeconds(j: number, hz: number, wheel?: WheelOrigin): number {
  return (j - (wheel?.originFrac ?? 0)) / hz;
}

/**
 * A Prediction's times placed on the running kernel's wheel. Each firing is re-armed from where
 * the previous one of its side really fired (model/wheel.ts fireJ), for the ideal gap — or, where
 * the model says the delay was clamped to a user timeout, for what is left of it at that moment
 * (the kernel measures the elapsed time). Silent firings (TimerHint.via) are chained through.
 * Counts and decisions stay the model's; only the times move, into Prediction.placed (the ideal
 * times stay where they are, for the verdict's windows).
 */
export function placeOnWheel(pred: Prediction, wheel: WheelOrigin): Prediction {
  const hz = wheel.hz;
  const toJ = (seconds: number) => Math.round(seconds * hz);
  const at = (j: number) => jiffyToOriginSeconds(j, hz, wheel);
  const placedJ: number[] = [];
  const last: Partial<Record<Side, { ideal: number; j: number }>> = {};

  const fire = (side: Side, idealT: number, hint: TimerHint | undefined): number => {
    let prev = last[side] ?? { ideal: 0, j: 0 };
    for (const v of hint?.via ?? []) prev = { ideal: v, j: fireJ(prev.j, Math.max(1, toJ(v - prev.ideal)), wheel) };
    let gapJ = toJ(idealT - prev.ideal);
    if (hint?.deadline) {
      const from = hint.deadline.from < 0 ? 0 : at(placedJ[hint.deadline.from] ?? 0);
      const leftMs = (from + hint.deadline.ms / 1000 - at(prev.j)) * 1000;
      gapJ = Math.min(gapJ, Math.max(1, Math.ceil(leftMs / (1000 / hz) - 1e-9)));
    }
    return gapJ > 0 ? fireJ(prev.j, gapJ, wheel) : prev.j;
  };

  const events = pred.events.map((e, i) => {
    // t = 0 is the origin itself (a packet the run located), not a timer
    const j = e.t === 0 ? 0 : fire(e.side, e.t, e.timer);
    placedJ[i] = j;
    last[e.side] = { ideal: e.t, j };
    return j === 0 ? 0 : at(j);
  });
  const closeSide: Side = pred.events.length ? pred.events[pred.events.length - 1]!.side : 'client';
  const closeAt = pred.closeAt === null ? null : at(fire(closeSide, pred.closeAt, pred.closeTimer));
  // an accept answering a resent SYN+ACK moves with it; one caused by the client's data does not
  const answered = pred.acceptAt == null ? -1 : pred.events.findIndex((e) => e.t === pred.acceptAt && e.packet === 'SYN-ACK');
  const acceptAt = pred.acceptAt === undefined ? {} : { acceptAt: answered >= 0 ? events[answered]! : pred.acceptAt };
  return { ...pred, placed: { events, closeAt, ...acceptAt } };
}

/** Event i's time as the kernel fires it: placed on the wheel when known, else ideal. */
export const placedT = (pred: Prediction, i: number): number => pred.placed?.events[i] ?? pred.events[i]!.t;
/** The close time as the kernel fires it (see placedT). */
export const placedCloseAt = (pred: Prediction): number | null => (pred.placed ? pred.placed.closeAt : pred.closeAt);
