import { InputError } from '../harness/core/errors.js';
import { run } from './run.js';

/**
 * One namespace's packet filter, owned wholesale by deadpeer: an `inet deadpeer` table whose
 * input chain holds drop rules (and an `arp deadpeer` table when ARP is to be dropped). Every rule
 * is gated on the receiving interface's group (`meta iifgroup N`): the rules of all the faults a
 * scenario will arm are installed once, up front, in one `nft -f` transaction, and arming fault N
 * is then moving the veth into group N — one rtnetlink message from the helper, effective at once
 * (see harness/engine/topology.ts). The tables live in the test's namespace; the host's ruleset is never
 * read or written here.
 */
export interface NftRule {
  /** an nft match expression, e.g. `tcp flags & (syn | ack) == syn` */
  match: string;
  /** shown in `nft list ruleset` and used to read the rule's counter back */
  comment: string;
  /** 'reset': answer the packet with a TCP RST (the peer's kernel would, after a reboot); default drop */
  verdict?: 'drop' | 'reset';
  /** the match is not limited to TCP (neighbour discovery is ICMPv6) */
  anyProtocol?: boolean;
  /** 'arp': the rule goes into the namespace's `arp deadpeer` table (ARP never reaches an inet table) */
  table?: 'arp';
  /** the interface group that arms the rule (0 = the wire's resting group never matches) */
  group: number;
  /**
   * 'egress': the rule drops the namespace's OWN outgoing packets, in the netdev egress hook of its
   * veth (the `netdev deadpeer` table, gated on `meta oifgroup`); default: the inet input hook
   */
  hook?: 'egress';
}

const badGroup = (g: unknown): never => {
  throw new InputError(`nft rule group ${JSON.stringify(g)} is not allowed: a whole number from 0 to 4294967295`);
};

const TABLE = 'inet deadpeer';

const ARP_TABLE = 'arp deadpeer';

/**
 * A drop here, before the qdisc, makes __dev_queue_xmit() return NET_XMIT_DROP, which TCP takes for
 * local congestion (tcp_send_probe0 / tcp_retransmit_timer: err > 0). The inet output hook would
 * not do: nf_hook_slow() turns NF_DROP into -EPERM there, and TCP backs off as after a loss.
 * The egress hook needs 5.16 (42df6e1d221d) and a chain bound to the device by name.
 */
const EGRESS_TABLE = 'netdev deadpeer';
const SAFE_DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * A comment as nft text. nft's quoted strings have no escapes, so a quote, a backslash or a control
 * character cannot be written in one — and would end the string and start nft statements of the
 * caller's choosing. Refused here whatever built the rule (faults.ts restricts fault names too).
 */
const SAFE_COMMENT = /^[A-Za-z0-9 _.,:+\-/()=]{1,128}$/;
function nftComment(comment: string): string {
  if (typeof comment !== 'string' || !SAFE_COMMENT.test(comment))
    throw new InputError(`nft rule comment ${JSON.stringify(comment)?.slice(0, 100)} is not allowed: 1 to 128 of letters, digits, space and _ . , : + - / ( ) =`);
  return `"${comment}"`;
}

const ruleLine = (r: NftRule) =>
  '    ' +
  [
    `meta ${r.hook === 'egress' ? 'oifgroup' : 'iifgroup'} ${Number.isInteger(r.group) && r.group >= 0 && r.group < 2 ** 32 ? r.group : badGroup(r.group)}`,
    r.anyProtocol || r.table === 'arp' ? '' : 'meta l4proto tcp',
    r.match,
    'counter',
    r.verdict === 'reset' ? 'reject with tcp reset' : 'drop',
    `comment ${nftComment(r.comment)}`,
  ]
    .filter(Boolean)
    .join(' ');

/** `device`: the namespace's veth, which an egress rule's chain is bound to. */
export function renderRuleset(rules: NftRule[], device?: string): string {
  const chain = (table: string, rs: NftRule[], name = 'input', hook = 'hook input') => [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    `  chain ${name} {`,
    `    type filter ${hook} priority 0; policy accept;`,
    ...rs.map(ruleLine),
    `  }`,
    `}`,
  ];
  const arp = rules.filter((r) => r.table === 'arp');
  const egress = rules.filter((r) => r.hook === 'egress');
  if (egress.length && (typeof device !== 'string' || !SAFE_DEVICE.test(device)))
    throw new InputError(`an egress rule needs its device: ${JSON.stringify(device)?.slice(0, 40)} is not an interface name`);
  // create-if-missing, delete, re-create: one transaction, never a half-applied ruleset
  return [
    ...chain(TABLE, rules.filter((r) => r.table !== 'arp' && r.hook !== 'egress')),
    ...(arp.length ? chain(ARP_TABLE, arp) : []),
    ...(egress.length ? chain(EGRESS_TABLE, egress, 'egress', `hook egress device "${device}"`) : []),
    '',
  ].join('\n');
}

/**
 * A router's ruleset when it is a middlebox that forgets idle flows (harness/engine/router.ts). The
 * forgetting is conntrack's own (its established timeout, set per namespace): once an entry has
 * expired, a packet of the flow is `ct state invalid` (nf_conntrack_tcp_loose = 0 keeps conntrack
 * from adopting it mid-stream), and these rules drop it or answer it with a RST — in the forward
 * hook (the flow's packets) and in the input hook too: with NAT, the server's packets are addressed
 * to the router itself, and without a rule there the router's own TCP would answer them with a RST
 * whatever the middlebox's mode. `masquerade`: the link toward the server, for a NAT.
 */
export interface PathRules {
  verdict: 'drop' | 'reset';
  masquerade?: string;
}

const PATH_TABLE = 'inet deadpeer_path';
const NAT_TABLE = 'ip deadpeer_nat';

export function renderPathRuleset(p: PathRules): string {
  if (p.verdict !== 'drop' && p.verdict !== 'reset') throw new InputError(`a middlebox's verdict is drop or reset, not ${JSON.stringify(p.verdict)?.slice(0, 40)}`);
  if (p.masquerade !== undefined && (typeof p.masquerade !== 'string' || !SAFE_DEVICE.test(p.masquerade)))
    throw new InputError(`masquerade needs an interface name: ${JSON.stringify(p.masquerade)?.slice(0, 40)} is not one`);
  const verdict = p.verdict === 'reset' ? 'reject with tcp reset' : 'drop';
  const chain = (name: string) => [
    `  chain ${name} {`,
    `    type filter hook ${name} priority 0; policy accept;`,
    `    meta l4proto tcp ct state invalid counter ${verdict} comment ${nftComment(`forgotten flow (${name})`)}`,
    `  }`,
  ];
  // a router's namespace is new and gets its rules once: no create-delete-recreate prelude, whose
  // delete of hooked chains waits out RCU grace periods (~9 ms of a router's ~30 ms set-up)
  const table = (t: string, body: string[]) => [`table ${t} {`, ...body, `}`];
  return [
    ...table(PATH_TABLE, [...chain('forward'), ...chain('input')]),
    ...(p.masquerade
      ? table(NAT_TABLE, ['  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', `    oifname "${p.masquerade}" masquerade`, '  }'])
      : []),
    '',
  ].join('\n');
}

export async function applyRules(netns: string, rules: NftRule[], device?: string): Promise<void> {
  await run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], renderRuleset(rules, device));
}

/** Packets dropped per rule comment, read from the rules' counters (input and egress tables). */
export async function readDropCounters(netns: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [TABLE, EGRESS_TABLE, PATH_TABLE]) {
    let out: string;
    try {
      out = await run('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'table', ...table.split(' ')]);
    } catch {
      continue; // no table: nothing was ever armed here
    }
    countRules(out, counts);
  }
  return counts;
}

function countRules(out: string, counts: Record<string, number>): void {
  for (const item of (JSON.parse(out) as { nftables: Array<{ rule?: { comment?: string; expr?: Array<Record<string, { packets?: number }>> } }> }).nftables) {
    const rule = item.rule;
    if (!rule?.comment) continue;
    const counter = rule.expr?.find((e) => 'counter' in e)?.counter;
    counts[rule.comment] = (counts[rule.comment] ?? 0) + (counter?.packets ?? 0);
  }
}
