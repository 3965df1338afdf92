/** Building Predictions: event lists in seconds from integer-jiffy times. */
import { jiffiesToSeconds } from './jiffies.js';
import type { ModelEvent, PacketKind, Side } from './types.js';

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
