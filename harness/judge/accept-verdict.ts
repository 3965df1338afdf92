import type { Prediction } from '../model/types.js';
import { CAPTURE_SLACK, windows } from './verdict.js';
import type { HelperEvent } from '../core/protocol.js';
import type { Observation, Packet } from '../core/observation.js';

/**
 * Judging when accept() got the connection (syn-recv, defer-accept) against Prediction.acceptAt,
 * with the same timer-wheel windows as the packet timeline (verdict.ts): the accept is caused by
 * a client packet, and that packet either answers a SYN+ACK the server resent on its timer
 * (then the accept inherits that SYN+ACK's window: the veth round trip is microseconds) or was
 * sent by the client at a time the run measured and fed to the model (then no timer is involved:
 * one jiffy early, as every model time is rounded up to jiffies).
 *
 * What is judged is the kernel's moment, not the scheduler's: tcp_check_req() creates the child
 * and queues it for accept() while it processes the client packet that completes the handshake,
 * so the time is that packet's capture time (kernel-stamped). The helper's accept() wake-up comes
 * after it, by however long a loaded machine takes; it must not come before, and it is reported.
 */
export interface AcceptVerdict {
  predicted: number | null;
  window: [number, number] | null;
  /** s from origin of the client packet that put the connection on the accept queue; null = accept() never returned */
  observed: number | null;
  /** s from origin when the helper's accept() returned it */
  returned: number | null;
  ok: boolean;
  /** one line saying what went wrong, '' when ok */
  problem: string;
}

/** The helper's 'accepted' events (the listener handed a connection to accept()). */
export function acceptedEvents(obs: Observation): HelperEvent[] {
  return obs.events.filter((e) => e.side === 'server' && e.ev === 'accepted');
}

export function acceptWindow(pred: Prediction, hz: number): [number, number] | null {
  if (pred.acceptAt === undefined || pred.acceptAt === null) return null;
  const at = pred.acceptAt;
  const early = 1 / hz + CAPTURE_SLACK;
  const w = windows(pred, hz);
  const answered = pred.events.findIndex((e) => e.side === 'server' && e.packet === 'SYN-ACK' && e.t === at);
  if (answered >= 0) {
    return w.events[answered]!;
  }
  return [at - early, at + CAPTURE_SLACK];
}

/** The packet that completed the handshake: the client's last packet the server received before accept() returned. */
export function completingPacket(obs: Observation, acceptedT: number): Packet | undefined {
  return obs.packets.filter((p) => p.from === 'client' && !p.dropped && p.t <= acceptedT).at(-1);
}

export function judgeAccept(obs: Observation, pred: Prediction = obs.prediction): AcceptVerdict {
  if (pred.acceptAt === undefined) throw new Error(`${obs.name}: the ${pred.phase} model says nothing about accept()`);
  const all = acceptedEvents(obs);
  const returned = all.length ? all[0]!.t - obs.origin : null;
  const completing = all.length ? completingPacket(obs, all[0]!.t) : undefined;
  const observed = completing ? completing.t - obs.origin : null;
  const window = acceptWindow(pred, obs.kernel.hz);
  // shown: where the wheel put it when the run could place it (windows come from the ideal time)
  const predicted = pred.placed?.acceptAt !== undefined ? pred.placed.acceptAt : pred.acceptAt;
  let problem = '';
  if (all.length > 1) problem = `accept() returned ${all.length} connections; the run makes one`;
  else if (returned !== null && !completing) problem = `accept() returned the connection at ${returned.toFixed(3)} s, but no client packet had reached the server by then`;
  else if (window === null) {
    if (returned !== null) problem = `accept() returned the connection at ${returned.toFixed(3)} s, but the model says it never reaches the accept queue`;
  } else if (observed === null) problem = `accept() never returned; predicted at ${predicted!.toFixed(3)} s`;
  else if (observed < window[0] || observed > window[1])
    problem =
      `the client's ${completing!.kind} that completed the handshake came at ${observed.toFixed(3)} s (accept() returned at ${returned!.toFixed(3)} s); ` +
      `predicted ${predicted!.toFixed(3)} s (allowed ${window[0].toFixed(3)}…${window[1].toFixed(3)})`;
  return { predicted, window, observed, returned, ok: problem === '', problem };
}
