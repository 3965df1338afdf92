import type { NftRule } from '../../netns/nftables.js';
import { InputError } from '../core/errors.js';
import type { Side } from '../core/side.js';


/**
 * The vocabulary of faults. A fault is data: which packets, sent by which side, are dropped on
 * arrival at the other side's input hook. Dropping on the receiver (not in the sender's qdisc)
 * keeps the sender's TCP on its normal retransmission path: a local drop puts it on the
 * local-congestion path (retry every 500 ms, no backoff), which only `localDrop()` asks for.
 * Packets still cross the wire, so the capture sees every one of them — but a local drop's.
 */
export type PacketClass = 'all' | 'syn' | 'syn-ack' | 'bare-ack' | 'neighbour';

export interface DropRule {
  /** whose packets are dropped (they are dropped at the other side's input) */
  from: Side;
  what: PacketClass;
  /** 'reset': the receiving side answers each such packet with a TCP RST instead (default: drop) */
  verdict?: 'drop' | 'reset';
  /**
   * 'egress': dropped by the SENDER, in the netdev egress hook of its own veth (a local drop), so
   * its TCP is told NET_XMIT_DROP; default 'input': at the receiver, after the wire.
   */
  at?: 'input' | 'egress';
}

export type Fault = { name: string; drops: DropRule[] };

const NFT_MATCH: Record<PacketClass, string> = {
  all: '',
  syn: 'tcp flags & (syn | ack) == syn',
  'syn-ack': 'tcp flags & (syn | ack) == syn | ack',
  // the handshake's third packet and pure ACKs: no SYN/FIN/RST/PSH; data packets carry PSH
  'bare-ack': 'tcp flags == ack',
  // ARP (its own table, see nftRulesFor) and IPv6 neighbour discovery: no TCP packet is one of these
  neighbour: 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }',
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
  /**
   * The host itself is gone: TCP blackholed and ARP / neighbour discovery unanswered, so once the
   * client's neighbour entry expires its resolution fails, the kernel reports the ICMP host
   * unreachable it raises for itself (a soft error), and the socket may die with EHOSTUNREACH
   * instead of ETIMEDOUT.
   */
  hostVanished: (): Fault => ({
    name: 'host vanished',
    drops: [
      { from: 'client', what: 'all' },
      { from: 'server', what: 'all' },
      { from: 'client', what: 'neighbour' },
      { from: 'server', what: 'neighbour' },
    ],
  }),
  /**
   * The client's own host drops everything it sends (a full or policing qdisc, a local firewall
   * in the device's egress hook): its TCP sees NET_XMIT_DROP and treats it as local congestion,
   * retrying every TCP_RESOURCE_PROBE_INTERVAL (500 ms) without backoff. Nothing reaches the wire,
   * so the capture sees none of it: the attempts are counted by sock_diag (icsk_probes_out).
   * Rendered in the netdev egress hook (5.16+), where a drop returns NET_XMIT_DROP; an nft OUTPUT
   * hook drop would return -EPERM, which TCP takes for an ordinary loss and backs off.
   */
  localDrop: (): Fault => ({ name: 'local drop', drops: [{ from: 'client', what: 'all', at: 'egress' }] }),
  /** The peer's host is back but the connection is not (a reboot): every client packet is answered with an RST. */
  peerReset: (): Fault => ({ name: 'peer reset', drops: [{ from: 'client', what: 'all', verdict: 'reset' }] }),
};

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

/**
 * What a fault's name may hold. It becomes part of each rule's comment in the text given to
 * `nft -f` (and the key its drop counter is read back by), where a quote or a newline would end
 * the comment and let the rest be read as nft statements — an `include "/etc/passwd"`, a rule of
 * its own. nft's quoted strings have no escapes, so a name is restricted rather than quoted:
 * letters, digits, space and `_ . , : + - / ( ) =`, starting with a letter or digit, at most 64
 * characters (nft keeps at most 128 bytes of a comment, and the rule adds ": <packets> from <side>").
 */
export const FAULT_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.,:+\-/()=]{0,63}$/;
const PACKET_CLASSES: readonly PacketClass[] = ['all', 'syn', 'syn-ack', 'bare-ack', 'neighbour'];

/** What is wrong with a fault, each problem one line naming the field, the value (escaped) and what is allowed. */
export function faultProblems(fault: unknown): string[] {
  const show = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);
  if (!fault || typeof fault !== 'object') return [`not a fault: ${show(fault)} (expected { name, drops }, e.g. faults.blackhole())`];
  const f = fault as { name?: unknown; drops?: unknown };
  const out: string[] = [];
  if (typeof f.name !== 'string' || !FAULT_NAME.test(f.name))
    out.push(`name: ${show(f.name)} is not allowed: 1 to 64 of letters, digits, space and _ . , : + - / ( ) =, starting with a letter or digit (it goes into nft rule comments)`);
  if (!Array.isArray(f.drops)) out.push('drops: must be a list of { from, what, verdict? }');
  else
    f.drops.forEach((d: { from?: unknown; what?: unknown; verdict?: unknown; at?: unknown } | null, i) => {
      if (!d || (d.from !== 'client' && d.from !== 'server')) out.push(`drops[${i}].from: ${show(d?.from)} is not allowed: "client" or "server"`);
      if (!d || !PACKET_CLASSES.includes(d.what as PacketClass)) out.push(`drops[${i}].what: ${show(d?.what)} is not allowed: one of ${PACKET_CLASSES.join(', ')}`);
      if (d && d.verdict !== undefined && d.verdict !== 'drop' && d.verdict !== 'reset') out.push(`drops[${i}].verdict: ${show(d.verdict)} is not allowed: "drop" or "reset"`);
      if (d && d.at !== undefined && d.at !== 'input' && d.at !== 'egress') out.push(`drops[${i}].at: ${show(d.at)} is not allowed: "input" or "egress"`);
      // the sender's own egress can only drop: a reset is the receiver's answer, and ARP has no netdev TCP match
      if (d && d.at === 'egress' && (d.verdict === 'reset' || d.what === 'neighbour'))
        out.push(`drops[${i}]: at "egress" drops TCP packets only (not verdict "reset" or what "neighbour")`);
    });
  return out;
}

/**
 * The nft rules each namespace needs for a fault (rules live at the receiving side, a local drop's
 * at the sender's egress), armed when that side's veth is in interface group `group`.
 */
export function nftRulesFor(fault: Fault, group: number): Record<Side, NftRule[]> {
  const problems = faultProblems(fault);
  if (problems.length) throw new InputError(`fault ${JSON.stringify(fault?.name)?.slice(0, 80)}: ${problems.join('; ')}`);
  const out: Record<Side, NftRule[]> = { client: [], server: [] };
  for (const d of fault.drops) {
    const at = out[other(d.from)];
    const comment = `${fault.name}: ${d.what} from ${d.from}`;
    if (d.at === 'egress') out[d.from].push({ match: NFT_MATCH[d.what], comment, group, hook: 'egress' });
    else if (d.what === 'neighbour') {
      at.push({ match: '', comment: `arp from ${d.from}`, table: 'arp', group });
      at.push({ match: NFT_MATCH.neighbour, comment, anyProtocol: true, group });
    } else at.push({ match: NFT_MATCH[d.what], comment, group, ...(d.verdict === 'reset' ? { verdict: 'reset' as const } : {}) });
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
    case 'neighbour':
      return false;
  }
}
