import type { Fault } from './faults.js';
import { drops } from './faults.js';
import type { PacketKind } from '../model/types.js';
import type { Packet, TimerState } from '../core/observation.js';
import type { HelperEvent } from '../core/protocol.js';
import type { Side } from '../core/side.js';

export interface ArmedFault {
  /** when it was armed (both sides in force) */
  t: number;
  /** when each side's rules took effect: a packet is dropped at its receiver's input */
  at: Record<Side, number>;
  fault: Fault;
}

/** The fault in force at `receiver`'s input at time t (the last one armed there at or before t). */
export function faultAt(history: ArmedFault[], t: number, receiver: Side): Fault | undefined {
  let f: Fault | undefined;
  for (const h of history) if (h.at[receiver] <= t) f = h.fault;
  return f;
}

/** seq a is before seq b, modulo 2^32 (RFC 1982 style, as the kernel's before()). */
const before = (a: number, b: number) => ((a - b) | 0) < 0;

/** Whether a fault in force at `side`'s egress at time t drops that side's own packets (faults.localDrop). */
function dropsAtEgress(history: ArmedFault[], t: number, side: Side): boolean {
  let f: Fault | undefined;
  for (const h of history) if (h.at[side] <= t) f = h.fault;
  return !!f?.drops.some((d) => d.from === side && d.at === 'egress');
}

/**
 * The transmissions a side's own egress dropped: they never reach the tap, so the capture has none
 * of them. The kernel still counts each (icsk_probes_out for the persist timer, icsk_retransmits for
 * the retransmit timer: sock_diag's retrans), so every rise of that count while a local drop is in
 * force is one LOCAL-DROP, placed in (the previous lookup, the lookup that showed it] — an interval
 * the helper's 5 ms polling keeps short and its scheduling can only widen, never move.
 */
export function localDrops(timers: TimerState[], history: ArmedFault[]): Packet[] {
  const out: Packet[] = [];
  const last: Partial<Record<Side, number>> = {};
  for (const s of timers) {
    // a sample with no timer pending carries no count (inet_diag reports idiag_retrans 0 for it):
    // one taken while the persist timer's handler runs must not read as the count dropping to 0,
    // or the next sample's count would be taken for that many attempts at once (seen in CI)
    if (s.ev !== 'timer' || s.timer === 'off') continue;
    const before = last[s.side];
    last[s.side] = s.retrans;
    if (before === undefined || s.retrans <= before || !dropsAtEgress(history, s.t, s.side)) continue;
    for (let i = before; i < s.retrans; i++)
      out.push({ t: s.t, ...(s.prevT !== undefined ? { notBefore: s.prevT } : {}), from: s.side, flags: '', seq: 0, ack: 0, win: 0, len: 0, dropped: true, kind: 'LOCAL-DROP' });
  }
  return out;
}

/** Turn the helper's packet events into Packets with a sender, a kind and a dropped mark. */
export function toPackets(events: HelperEvent[], clientAddrs: readonly string[], history: ArmedFault[]): Packet[] {
  const raw = events
    .filter((e) => e.ev === 'packet')
    .map((e) => {
      const from: Side = clientAddrs.includes(String(e.src)) ? 'client' : 'server';
      const flags = String(e.flags);
      const fault = faultAt(history, e.t, from === 'client' ? 'server' : 'client');
      return {
        t: e.t,
        from,
        flags,
        seq: e.seq as number,
        ack: e.ack as number,
        win: e.win as number,
        len: e.len as number,
        ...(e.wscale !== undefined ? { wscale: e.wscale as number } : {}),
        ...(e.mss !== undefined ? { mss: e.mss as number } : {}),
        dropped: fault ? drops(fault, from, flags) : false,
        kind: 'ACK' as PacketKind,
      };
    })
    .sort((a, b) => a.t - b.t);
  return classify(raw);
}

/**
 * Name each packet the way the model does. Per sender: a SYN after the first is a retransmission
 * (the model counts them with n); data below the highest byte already sent is a RETRANSMIT; a
 * bare ACK whose seq is one below snd_nxt is a probe (tcp_xmit_probe_skb): a WINDOW-PROBE when
 * the peer's last advertised window was zero, else a KEEPALIVE.
 */
export function classify<P extends Omit<Packet, 'kind'> & { kind?: PacketKind }>(packets: P[]): (P & { kind: PacketKind })[] {
  const sndNxt: Partial<Record<Side, number>> = {};
  const peerWin: Partial<Record<Side, number>> = {};
  return packets.map((p) => {
    const other: Side = p.from === 'client' ? 'server' : 'client';
    let kind: PacketKind;
    const nxt = sndNxt[p.from];
    const end = (p.seq + p.len + (p.flags.includes('S') ? 1 : 0) + (p.flags.includes('F') ? 1 : 0)) >>> 0;
    if (p.flags.includes('R')) kind = 'RST';
    else if (p.flags.includes('S')) kind = p.flags.includes('.') ? 'SYN-ACK' : 'SYN';
    else if (p.flags.includes('F')) kind = 'FIN';
    else if (p.len > 0) kind = nxt !== undefined && !before(nxt, end) ? 'RETRANSMIT' : 'DATA';
    else if (nxt !== undefined && ((p.seq + 1) >>> 0) === nxt) kind = peerWin[other] === 0 ? 'WINDOW-PROBE' : 'KEEPALIVE';
    else kind = 'ACK';
    if (nxt === undefined || before(nxt, end)) sndNxt[p.from] = end;
    // window of the receiver as seen by the sender: only from packets that actually arrived
    if (!p.dropped) peerWin[p.from] = p.win;
    return { ...p, kind };
  });
}
