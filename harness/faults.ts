import type { NftRule } from '../netns/nftables.js';

/**
 * The vocabulary of faults. A fault is data: which packets, sent by which side, are dropped on
 * arrival at the other side's input hook. Dropping on the receiver (not in the sender's qdisc)
 * keeps the sender's TCP on its normal retransmission path: a local drop would put it on the
 * local-congestion path (retry every 500 ms, no backoff) and the experiment would measure the
 * wrong thing. Packets still cross the wire, so the capture sees every one of them.
 */
export type Side = 'client' | 'server';

export type PacketClass = 'all' | 'syn' | 'syn-ack' | 'bare-ack';

export interface DropRule {
  /** whose packets are dropped (they are dropped at the other side's input) */
  from: Side;
  what: PacketClass;
}

export type Fault = { name: string; drops: DropRule[] };

const NFT_MATCH: Record<PacketClass, string> = {
  all: '',
  syn: 'tcp flags & (syn | ack) == syn',
  'syn-ack': 'tcp flags & (syn | ack) == syn | ack',
  // the handshake's third packet and pure ACKs: no SYN/FIN/RST/PSH; data packets carry PSH
  'bare-ack': 'tcp flags == ack',
};

export const faults = {
  none: (): Fault => ({ name: 'none', drops: [] }),
  /** The server never sees the client's SYNs: the client stays in SYN-SENT. */
  dropSyn: (): Fault => ({ name: 'drop SYN', drops: [{ from: 'client', what: 'syn' }] }),
  /** The client never sees the server's SYN+ACKs. */
  dropSynAck: (): Fault => ({ name: 'drop SYN+ACK', drops: [{ from: 'server', what: 'syn-ack' }] }),
  /** Bare ACKs from the client are lost (the handshake's third packet among them). */
  dropBareAck: (): Fault => ({ name: 'drop bare ACK', drops: [{ from: 'client', what: 'bare-ack' }] }),
  /** Everything one side sends is lost. */
  silence: (side: Side): Fault => ({ name: `${side} silent`, drops: [{ from: side, what: 'all' }] }),
  /** The peer is gone: nothing gets through in either direction. */
  blackhole: (): Fault => ({ name: 'blackhole', drops: [{ from: 'client', what: 'all' }, { from: 'server', what: 'all' }] }),
};

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

/** The nft rules each namespace needs for a fault (rules live at the receiving side). */
export function nftRulesFor(fault: Fault): Record<Side, NftRule[]> {
  const out: Record<Side, NftRule[]> = { client: [], server: [] };
  for (const d of fault.drops) {
    out[other(d.from)].push({ match: NFT_MATCH[d.what], comment: `${d.what} from ${d.from}` });
  }
  return out;
}

/** Would this fault drop a packet with these TCP flags (tcpdump notation) sent by `from`? */
export function drops(fault: Fault, from: Side, flags: string): boolean {
  return fault.drops.some((d) => d.from === from && matches(d.what, flags));
}

function matches(what: PacketClass, flags: string): boolean {
  const syn = flags.includes('S');
  const ack = flags.includes('.');
  switch (what) {
    case 'all':
      return true;
    case 'syn':
      return syn && !ack;
    case 'syn-ack':
      return syn && ack;
    case 'bare-ack':
      return flags === '.';
  }
}
