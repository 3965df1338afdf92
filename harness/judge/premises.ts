import type { Observation, Packet, TimerState } from '../core/observation.js';
import type { Side } from '../core/side.js';
import type { PacketKind } from '../model/types.js';

/**
 * The premises cases check before (or beside) the verdict — that the experiment is the one it
 * claims to be — and the queries they are written in. Shared here so two cases asking the same
 * question of an Observation ask it the same way.
 */

/** The packets `side` put on the wire, optionally of one kind, optionally from a moment on (t ≥ since; 'origin' = t = 0). */
export function sent(obs: Observation, side: Side, opts: { kind?: PacketKind; since?: number | 'origin' } = {}): Packet[] {
  const since = opts.since === 'origin' ? obs.origin : (opts.since ?? -Infinity);
  return obs.packets.filter((p) => p.from === side && (opts.kind === undefined || p.kind === opts.kind) && p.t >= since);
}

/** What `ss -tno` showed of a side's connection (changes, not departures), optionally in one state, from a moment on. */
export function timerSamples(obs: Observation, side: Side, opts: { state?: string; since?: number | 'origin' | 'origin taken in' } = {}): TimerState[] {
  const since = opts.since === 'origin' || opts.since === 'origin taken in' ? obs.origin : (opts.since ?? -Infinity);
  const samples = obs.timers.filter((s) => s.side === side && s.ev === 'timer' && (opts.state === undefined || s.state === opts.state) && s.t >= since);
  if (opts.since !== 'origin taken in') return samples;
  const from = samples.findIndex(takenIn(obs, side));
  return from < 0 ? [] : samples.slice(from);
}

/**
 * Whether a lookup shows `side` had taken in t = 0's packet (one it received, carrying an ACK).
 * The tap times the packet on arrival; the socket takes it in later — at once, or when a writer
 * holding the socket's lock lets go, milliseconds on a loaded machine — and a lookup in between
 * still shows the state before it (the retransmit timer of the data t = 0 acknowledged). Its
 * tcpi_bytes_acked tells the two apart: it reaches the packet's ACK (relative to this side's ISN;
 * the SYN counts as one) only once the packet is in. A sample without the count is judged by time.
 */
function takenIn(obs: Observation, side: Side): (s: TimerState) => boolean {
  const packet = obs.packets.find((p) => p.t === obs.origin && p.from !== side);
  const syn = obs.packets.find((p) => p.from === side && p.flags.includes('S'));
  if (!packet || !syn) throw new Error(`t = 0 is not a packet ${side} received after its SYN: 'origin taken in' does not apply`);
  const acked = (packet.ack - syn.seq) >>> 0;
  return (s) => s.bytesAcked === undefined || s.bytesAcked >= acked;
}

/**
 * What `ss -tno` showed for the server's side of the connection while it was a request
 * (SYN-RECV), and the state that ended that: 'gone' (dropped) or the accepted socket's state.
 */
export function requestStates(obs: Observation): { during: TimerState[]; after: TimerState | undefined } {
  const server = obs.timers.filter((s) => s.side === 'server');
  const leaves = server.findIndex((s) => s.ev === 'gone' || s.state !== 'SYN-RECV');
  return { during: leaves < 0 ? server : server.slice(0, leaves), after: leaves < 0 ? undefined : server[leaves] };
}

/**
 * To check the experiment: the window probes sent while the receiver was being silenced (its
 * sysctl write lies somewhere in that interval, so their fate is unknown: there must be none),
 * and whether silencing began after the answered probe.
 */
export function silencing(obs: Observation): { afterAnswer: boolean; probesDuring: number } {
  const [from, to] = [obs.marks.silencing!, obs.marks['receiver silent']!];
  const probesDuring = obs.packets.filter((p) => p.from === 'client' && p.kind === 'WINDOW-PROBE' && p.t >= from && p.t <= to).length;
  return { afterAnswer: from > obs.marks['probe answered']!, probesDuring };
}
