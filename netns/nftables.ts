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
}

const badGroup = (g: unknown): never => {
  throw new InputError(`nft rule group ${JSON.stringify(g)} is not allowed: a whole number from 0 to 4294967295`);
};

const TABLE = 'inet deadpeer';

const ARP_TABLE = 'arp deadpeer';

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
    `meta iifgroup ${Number.isInteger(r.group) && r.group >= 0 && r.group < 2 ** 32 ? r.group : badGroup(r.group)}`,
    r.anyProtocol || r.table === 'arp' ? '' : 'meta l4proto tcp',
    r.match,
    'counter',
    r.verdict === 'reset' ? 'reject with tcp reset' : 'drop',
    `comment ${nftComment(r.comment)}`,
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
