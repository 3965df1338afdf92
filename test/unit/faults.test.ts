import { describe, expect, it } from 'vitest';
import { InputError } from '../../harness/core/errors.js';
import { type Fault, drops, faultProblems, faults, nftRulesFor } from '../../harness/engine/faults.js';
import { specProblems } from '../../harness/engine/spec-check.js';
import type { ScenarioSpec } from '../../harness/engine/run.js';
import { arm, listen } from '../../harness/engine/steps.js';
import { renderPathRuleset, renderRuleset } from '../../netns/nftables.js';

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

describe("a local drop renders at the sender's own egress", () => {
  it('goes into the client namespace, in the netdev egress hook of its veth, gated on the OUTGOING interface group', () => {
    const r = nftRulesFor(faults.localDrop(), 4);
    expect(r.server).toEqual([]);
    expect(r.client).toEqual([{ match: '', comment: 'local drop: all from client', group: 4, hook: 'egress' }]);
    const text = renderRuleset(r.client, 'veth-c');
    // a drop in the device's egress hook returns NET_XMIT_DROP (local congestion); the inet output hook's returns -EPERM
    expect(text).toContain('table netdev deadpeer {');
    expect(text).toContain('type filter hook egress device "veth-c" priority 0; policy accept;');
    expect(text).toContain('meta oifgroup 4 meta l4proto tcp counter drop comment "local drop: all from client"');
    expect(text).not.toContain('hook output');
    // the inet table is still (re)made, empty: a run's earlier faults live there
    expect(text.split('\n').slice(0, 3)).toEqual(['table inet deadpeer', 'delete table inet deadpeer', 'table inet deadpeer {']);
  });

  it('beside input faults, each goes to its own table', () => {
    const rules = [...nftRulesFor(faults.blackhole(), 1).client, ...nftRulesFor(faults.localDrop(), 2).client];
    const text = renderRuleset(rules, 'veth-c');
    const [inet, netdev] = text.split('table netdev deadpeer {');
    expect(inet).toContain('meta iifgroup 1 meta l4proto tcp counter drop comment "blackhole: all from server"');
    expect(inet).not.toContain('local drop');
    expect(netdev).toContain('meta oifgroup 2');
    expect(netdev).not.toContain('blackhole');
  });

  it('needs a plain interface name for its chain, and only drops TCP', () => {
    const r = nftRulesFor(faults.localDrop(), 1).client;
    expect(() => renderRuleset(r)).toThrow(/egress rule needs its device/);
    expect(() => renderRuleset(r, 'x" ; flush ruleset ; "')).toThrow(/not an interface name/);
    expect(faultProblems({ name: 'x', drops: [{ from: 'client', what: 'all', at: 'egress', verdict: 'reset' }] })).toEqual([
      'drops[0]: at "egress" drops TCP packets only (not verdict "reset" or what "neighbour")',
    ]);
    expect(faultProblems({ name: 'x', drops: [{ from: 'client', what: 'all', at: 'wire' }] })).toEqual(['drops[0].at: "wire" is not allowed: "input" or "egress"']);
  });
});

/**
 * A fault's name reaches `nft -f` text (each rule's comment). nft's quoted strings have no
 * escapes, so a quote or a newline in a name would end the comment and the rest would be nft
 * statements: restricted at the API boundary (the spec, before any namespace exists), at the rules
 * (nftRulesFor) and where the text is written (renderRuleset).
 */
describe('a fault name cannot inject nft statements', () => {
  const PAYLOADS = [
    'x"\ninclude "/etc/passwd"\n#',
    'x" ; include "/etc/passwd',
    'x"; drop; comment "y',
    'x } } table inet evil { chain c { type filter hook input priority 0; policy drop; } }',
    'x\r\ninclude "/etc/shadow"',
    "x' ; flush ruleset",
    'x\\"',
    '',
    '-leading dash',
    'a'.repeat(65),
  ];
  const evil = (name: string): Fault => ({ name, drops: [{ from: 'client', what: 'all' }] });

  it.each(PAYLOADS)('%j is refused in one line by nftRulesFor (an InputError), never rendered', (name) => {
    expect(() => nftRulesFor(evil(name), 1)).toThrow(InputError);
    try {
      nftRulesFor(evil(name), 1);
    } catch (e) {
      expect((e as Error).message.split('\n')).toHaveLength(1);
      expect((e as Error).message).toMatch(/name: .* is not allowed: 1 to 64 of letters, digits, space and/);
    }
  });

  it.each(PAYLOADS)('%j in a spec step: refused before anything is created, one line', (name) => {
    const spec = { name: 'x', phase: 'idle', family: 4, model: () => ({}), steps: [listen(), arm(evil(name))] } as unknown as ScenarioSpec;
    const problems = specProblems(spec);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^steps\[1\]\.fault\.name: /);
    expect(problems[0]!.split('\n')).toHaveLength(1);
  });

  it('a rule comment with a quote or newline is refused where the nft text is written, whatever built it', () => {
    for (const comment of ['a"\ninclude "/etc/passwd"', 'a;b', 'a{b}', 'a\\b'])
      expect(() => renderRuleset([{ match: '', comment, group: 1 }])).toThrow(/nft rule comment .* is not allowed/);
    expect(() => renderRuleset([{ match: '', comment: 'ok', group: 1.5 }])).toThrow(/nft rule group 1\.5 is not allowed/);
  });

  it('every built-in fault and an ordinary custom name pass; a bad drop is named', () => {
    for (const f of [faults.none(), faults.dropSyn(), faults.dropSynAck(), faults.dropBareAck(), faults.silence('client'), faults.blackhole(), faults.hostVanished(), faults.peerReset(), faults.localDrop()])
      expect(faultProblems(f)).toEqual([]);
    expect(faultProblems(evil('my fault (v2): 50/50 = half, 1.5+x'))).toEqual([]);
    expect(renderRuleset(nftRulesFor(evil('my fault'), 2).server)).toContain('comment "my fault: all from client"');
    expect(faultProblems({ name: 'x', drops: [{ from: 'router', what: 'syn' }] })).toEqual(['drops[0].from: "router" is not allowed: "client" or "server"']);
    expect(faultProblems({ name: 'x', drops: [{ from: 'client', what: 'rst' }] })[0]).toMatch(/^drops\[0\]\.what: "rst" is not allowed: one of all, syn/);
  });
});

describe("a middlebox's router renders its memory's end as nft rules on conntrack's verdict", () => {
  it('reset: ct state invalid answered with a RST in the forward and input hooks; a NAT masquerades on its far link', () => {
    const text = renderPathRuleset({ verdict: 'reset', masquerade: 'dps' });
    expect(text).toContain('type filter hook forward priority 0; policy accept;');
    expect(text).toContain('type filter hook input priority 0; policy accept;');
    expect(text.match(/meta l4proto tcp ct state invalid counter reject with tcp reset comment "forgotten flow \((forward|input)\)"/g)).toHaveLength(2);
    expect(text).toContain('table ip deadpeer_nat {');
    expect(text).toContain('oifname "dps" masquerade');
  });

  it('drop, a firewall: dropped, nothing translated', () => {
    const text = renderPathRuleset({ verdict: 'drop' });
    expect(text.match(/ct state invalid counter drop/g)).toHaveLength(2);
    expect(text).not.toContain('masquerade');
  });

  it('refuses what would reach nft unchecked', () => {
    expect(() => renderPathRuleset({ verdict: 'accept' as 'drop' })).toThrow(InputError);
    expect(() => renderPathRuleset({ verdict: 'drop', masquerade: 'dps"; flush ruleset; "' })).toThrow(/masquerade needs an interface name/);
  });
});
