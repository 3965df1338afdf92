/**
 * How early / late a jiffy timer can fire, from the timer wheel (kernel/time/timer.c, 4.8+):
 *   LVL_CLK_SHIFT 3, LVL_BITS 6 (64 buckets per level), LVL_GRAN(n) = 8^n jiffies,
 *   LVL_START(n) = 63 << 3(n-1): calc_wheel_index() puts a timer whose delta < LVL_START(n+1)
 *   on level n (level 0: delta < 63), and calc_index() rounds its expiry UP to the level's
 *   granularity ("The timer wheel has to guarantee that a timer does not fire early"), so it fires
 *   up to one granule late. LVL_DEPTH is 9 when HZ > 100, else 8; beyond the last level the
 *   expiry is clamped to WHEEL_TIMEOUT_MAX.
 * late  = granularity of the timer's level + 1 jiffy (tick processing / msecs_to_jiffies round-up);
 * early = 1 jiffy (the arming moment lies anywhere inside a jiffy).
 */
import { jiffyMs } from './jiffies.js';

const LVL_CLK_SHIFT = 3;
const LVL_BITS = 6;
const LVL_SIZE = 1 << LVL_BITS;

function lvlStart(n: number): number {
  return (LVL_SIZE - 1) * 2 ** ((n - 1) * LVL_CLK_SHIFT);
}
/** LVL_START(1..9), once: every window of every event asks for them (the recommend search, thousands of times). */
const LVL_STARTS = Array.from({ length: 10 }, (_, n) => (n ? lvlStart(n) : 0));

function lvlDepth(hz: number): number {
  return hz > 100 ? 9 : 8;
}

/** The wheel level a timer armed deltaJ jiffies ahead lands on. */
export function timerWheelLevel(deltaJ: number, hz: number): number {
  const depth = lvlDepth(hz);
  for (let lvl = 0; lvl < depth; lvl++) {
    if (deltaJ < LVL_STARTS[lvl + 1]!) return lvl;
  }
  return depth - 1;
}

/** LVL_GRAN(level) in jiffies. */
export function levelGranularityJiffies(level: number): number {
  return 2 ** (level * LVL_CLK_SHIFT);
}

export interface Slack {
  /** seconds the event may come before the model's time */
  early: number;
  /** seconds the event may come after the model's time */
  late: number;
}

export interface TimerSlack extends Slack {
  level: number;
  /** the level's granularity, seconds */
  granularity: number;
}

/** Slack of one timer armed gapSeconds ahead. */
export function timerSlack(gapSeconds: number, hz: number): TimerSlack {
  const jiffy = jiffyMs(hz) / 1000;
  const deltaJ = Math.ceil(gapSeconds * hz - 1e-9);
  const level = timerWheelLevel(deltaJ, hz);
  const granularity = levelGranularityJiffies(level) * jiffy;
  return { early: jiffy, late: granularity + jiffy, level, granularity };
}

/**
 * Slack of a chain of timers, each re-armed from when the previous one actually fired (a
 * retransmission chain): the lateness adds up, and so does the early jiffy.
 */
export function cumulativeSlack(gaps: readonly number[], hz: number): Slack {
  return gaps.reduce<Slack>(
    (acc, gap) => {
      const s = timerSlack(gap, hz);
      return { early: acc.early + s.early, late: acc.late + s.late };
    },
    { early: 0, late: 0 },
  );
}
