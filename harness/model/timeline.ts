/** Building Predictions: event lists in seconds from integer-jiffy times. */
import { jiffiesToSeconds } from './jiffies.js';
import type { ModelEvent, PacketKind, Side, TimerHint } from './types.js';

/** A series of packets of one kind, numbered from firstN, at the given jiffy times. */
export function packetSeries(
  timesJ: readonly number[],
  hz: number,
  side: Side,
  packet: PacketKind,
  firstN = 1,
): ModelEvent[] {
  return timesJ.map((tJ, i) => ({ t: jiffiesToSeconds(tJ, hz), side, packet, n: firstN + i }));
}

/** Events merged in time order (stable for equal times). */
export function inTimeOrder(...series: ModelEvent[][]): ModelEvent[] {
  return series.flat().sort((a, b) => a.t - b.t);
}

export function seconds(j: number | null, hz: number): number | null {
  return j === null ? null : jiffiesToSeconds(j, hz);
}

/**
 * Under TCP_USER_TIMEOUT every delay after a chain's first firing is min(delay, what is left of U)
 * (tcp_clamp_rto_to_user_timeout, tcp_clamp_probe0_to_user_timeout): the hint goes on every event
 * from `clampsFrom` on, and on the close when a clamped delay leads to it — even where the ideal
 * times make the two equal, because on the wheel the firings run late and the clamp then binds.
 * `from`: the event U counts from (an index into events; -1 = the origin).
 */
export function userTimeoutClamps(
  events: ModelEvent[],
  userTimeoutMs: number,
  at: { from: number; clampsFrom: number },
  closes: boolean,
): { events: ModelEvent[]; closeTimer?: TimerHint } {
  if (!userTimeoutMs) return { events };
  const timer: TimerHint = { deadline: { from: at.from, ms: userTimeoutMs } };
  return {
    events: events.map((e, i) => (i >= at.clampsFrom ? { ...e, timer } : e)),
    ...(closes && events.length >= at.clampsFrom ? { closeTimer: timer } : {}),
  };
}
