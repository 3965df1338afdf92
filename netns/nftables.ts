import { run } from './run.js';

/**
 * One namespace's packet filter, owned wholesale by deadpeer: a single `inet deadpeer` table
 * whose input chain holds drop rules. Replacing it is one `nft -f` transaction
 * (create-if-missing, delete, re-create), so a phase change never leaves a half-applied ruleset.
 * The table lives in the test's namespace; the host's ruleset is never read or written here.
 */
export interface NftRule {
  /** an nft match expression, e.g. `tcp flags & (syn | ack) == syn` */
  match: string;
  /** shown in `nft list ruleset` and used to read the rule's counter back */
  comment: string;
}

const TABLE = 'inet deadpeer';

export function renderRuleset(rules: NftRule[]): string {
  const body = rules.map((r) => `    meta l4proto tcp ${r.match} counter drop comment "${r.comment}"`).join('\n');
  return [
    `table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${TABLE} {`,
    `  chain input {`,
    `    type filter hook input priority 0; policy accept;`,
    body,
    `  }`,
    `}`,
    '',
  ].join('\n');
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
