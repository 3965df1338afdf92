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
 * harness/kernel-clock.ts), the models compute each firing exactly; without it they fall back to
 * the ideal `armed + delta` and the verdict's slack windows cover the difference.
 */
import { levelGranularityJiffies, timerWheelLevel } from './slack.js';

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
