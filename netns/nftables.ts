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
}

const TABLE = 'inet deadpeer';

const ARP_TABLE = 'arp deadpeer';

const ruleLine = (r: NftRule) =>
  '    ' +
  [
    `meta iifgroup ${r.group}`,
    r.anyProtocol || r.table === 'arp' ? '' : 'meta l4proto tcp',
    r.match,
    'counter',
    r.verdict === 'reset' ? 'reject with tcp reset' : 'drop',
    `comment "${r.comment}"`,
  ]
    .filter(Boolean)
    .join(' ');

export function renderRuleset(rules: NftRule[]): string {
  const chain = (table: string, rs: NftRule[]) => [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    `  chain input {`,
    `    type filter hook input priority 0; policy accept;`,
    ...rs.map(ruleLine),
    `  }`,
    `}`,
  ];
  const arp = rules.filter((r) => r.table === 'arp');
  // create-if-missing, delete, re-create: one transaction, never a half-applied ruleset
  return [...chain(TABLE, rules.filter((r) => r.table !== 'arp')), ...(arp.length ? chain(ARP_TABLE, arp) : []), ''].join('\n');
}

export async function applyRules(netns: string, rules: NftRule[]): Promise<void> {
  await run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], renderRuleset(rules));
}

/** Packets dropped per rule comment, read from the rules' counters. */
export async function readDropCounters(netns: string): Promise<Record<string, number>> {
  let out: string;
  try {
    out = await run('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'table', ...TABLE.split(' ')]);
  } catch {
    return {}; // no table: nothing was ever armed here
  }
  const counts: Record<string, number> = {};
  for (const item of (JSON.parse(out) as { nftables: Array<{ rule?: { comment?: string; expr?: Array<Record<string, { packets?: number }>> } }> }).nftables) {
    const rule = item.rule;
    if (!rule?.comment) continue;
    const counter = rule.expr?.find((e) => 'counter' in e)?.counter;
    counts[rule.comment] = (counts[rule.comment] ?? 0) + (counter?.packets ?? 0);
  }
  return counts;
}
