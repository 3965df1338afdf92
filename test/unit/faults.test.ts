import { describe, expect, it } from 'vitest';
import { drops, faults, nftRulesFor } from '../../harness/engine/faults.js';
import { renderRuleset } from '../../netns/nftables.js';

describe('faults render to nft rules at the receiving side', () => {
  it('drop SYN: a rule in the server namespace only, matching SYN without ACK', () => {
    const r = nftRulesFor(faults.dropSyn(), 1);
    expect(r.client).toEqual([]);
    expect(r.server).toEqual([{ match: 'tcp flags & (syn | ack) == syn', comment: 'drop SYN: syn from client', group: 1 }]);
  });

  it('blackhole: each side drops everything from the other', () => {
    const r = nftRulesFor(faults.blackhole(), 2);
    expect(r.client.map((x) => x.comment)).toEqual(['blackhole: all from server']);
    expect(r.server.map((x) => x.comment)).toEqual(['blackhole: all from client']);
  });

  it('the predicate agrees with the rules', () => {
    expect(drops(faults.dropSyn(), 'client', 'S')).toBe(true);
    expect(drops(faults.dropSyn(), 'client', 'S.')).toBe(false);
    expect(drops(faults.dropSyn(), 'server', 'S')).toBe(false);
    expect(drops(faults.dropBareAck(), 'client', '.')).toBe(true);
    expect(drops(faults.dropBareAck(), 'client', 'P.')).toBe(false);
    expect(drops(faults.none(), 'client', 'S')).toBe(false);
  });

  it('the ruleset replaces the table atomically in one transaction (create, delete, re-create)', () => {
    const text = renderRuleset(nftRulesFor(faults.blackhole(), 3).server);
    expect(text.split('\n').slice(0, 3)).toEqual(['table inet deadpeer', 'delete table inet deadpeer', 'table inet deadpeer {']);
    expect(text).toContain('type filter hook input priority 0; policy accept;');
    // armed only while the veth is in the fault's interface group
    expect(text).toContain('meta iifgroup 3 meta l4proto tcp counter drop comment "blackhole: all from client"');
  });
});
