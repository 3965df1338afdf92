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

/** What runRetransmitTimer() says about user-timeout clamps (see backoff.ts). */
interface ClampOutcome {
  clamped: boolean[];
  closeClamped: boolean;
  stampIndex: number | null;
}

/**
 * Mark the retransmissions whose timer was clamped to what was left of U (TimerHint.deadline),
 * counted from retrans_stamp. `firstIndex`: where the first of them sits in the Prediction's events.
 */
export function withUserTimeoutClamps(series: ModelEvent[], outcome: ClampOutcome, userTimeoutMs: number, firstIndex: number): ModelEvent[] {
  if (!userTimeoutMs) return series;
  const from = outcome.stampIndex === null ? -1 : firstIndex + outcome.stampIndex;
  return series.map((e, k) => (outcome.clamped[k] ? { ...e, timer: { deadline: { from, ms: userTimeoutMs } } } : e));
}

/** The same for the firing that gives up: Prediction.closeTimer, or nothing. */
export function closeClamp(outcome: ClampOutcome, userTimeoutMs: number, firstIndex: number): { closeTimer?: TimerHint } {
  if (!userTimeoutMs || !outcome.closeClamped) return {};
  return { closeTimer: { deadline: { from: outcome.stampIndex === null ? -1 : firstIndex + outcome.stampIndex, ms: userTimeoutMs } } };
}
