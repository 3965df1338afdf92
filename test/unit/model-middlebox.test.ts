import { describe, expect, it } from 'vitest';
import { MIDDLEBOX_PRESETS, middleboxFamilyProblem, parseMiddlebox, predictBusy, predictIdle, predictPath } from '../../harness/model/index.js';
import type { Middlebox, PathInput } from '../../harness/model/index.js';
import { inputFor } from './model-fixtures.js';

const mb = (text: string): Middlebox => {
  const m = parseMiddlebox(text);
  if ('error' in m) throw new Error(m.error);
  return m;
};
const errorOf = (text: string) => (parseMiddlebox(text) as { error: string }).error;

describe('middlebox vocabulary', () => {
  it('the presets carry the numbers of ../shared/FIELD-NOTES.md and a source each', () => {
    const table = Object.fromEntries(Object.values(MIDDLEBOX_PRESETS).map((p) => [p.name, [p.idleTimeoutS, p.mode, p.kind]]));
    expect(table).toEqual({
      'aws-nat-gateway': [350, 'reset', 'nat'],
      'aws-nlb': [350, 'reset', 'firewall'],
      'azure-lb': [240, 'drop', 'firewall'],
      'gcp-vpc-firewall': [600, 'drop', 'firewall'],
      'gcp-cloud-nat': [1200, 'drop', 'nat'],
      'linux-conntrack': [432_000, 'drop', 'firewall'],
    });
    for (const [name, p] of Object.entries(MIDDLEBOX_PRESETS)) {
      expect(p.name).toBe(name);
      expect(p.source.length).toBeGreaterThan(20);
    }
    expect(MIDDLEBOX_PRESETS['aws-nlb']!.note).toMatch(/60 to 6000 s: .*idle-expiry/);
    expect(MIDDLEBOX_PRESETS['azure-lb']!.note).toMatch(/TCP reset on idle/);
    expect(MIDDLEBOX_PRESETS['linux-conntrack']!.note).toMatch(/ct state invalid drop/);
    expect(parseMiddlebox('aws-nat-gateway')).toEqual(MIDDLEBOX_PRESETS['aws-nat-gateway']);
  });

  it('idle-expiry:DURATION:MODE[:KIND]: the CLI durations, whole seconds, firewall by default, a canonical name', () => {
    expect(parseMiddlebox('idle-expiry:6s:reset')).toEqual({ name: 'idle-expiry:6s:reset:firewall', idleTimeoutS: 6, mode: 'reset', kind: 'firewall' });
    expect(parseMiddlebox('idle-expiry:4m:drop:nat')).toEqual({ name: 'idle-expiry:240s:drop:nat', idleTimeoutS: 240, mode: 'drop', kind: 'nat' });
    expect(mb('idle-expiry:350:reset').idleTimeoutS).toBe(350);
    expect(mb('idle-expiry:2000ms:drop').idleTimeoutS).toBe(2);
  });

  it('refusals, in one line that says what is allowed', () => {
    expect(errorOf('idle-expiry:1.5s:reset')).toBe(
      '"idle-expiry:1.5s:reset": the idle timeout must be whole seconds from 1 to 2147483 (conntrack\'s nf_conntrack_tcp_timeout_established counts whole seconds), not 1.5 s',
    );
    expect(errorOf('idle-expiry:0s:drop')).toMatch(/whole seconds from 1 to 2147483 .*not 0 s$/);
    expect(errorOf('idle-expiry:2147484s:drop')).toMatch(/not 2147484 s$/);
    expect(errorOf('idle-expiry:soon:drop')).toBe('"idle-expiry:soon:drop": the idle timeout "soon" is not allowed: expected a duration such as 30s, 1500ms or 2m');
    expect(errorOf('idle-expiry:6s:ignore')).toBe('"idle-expiry:6s:ignore": "ignore" is not allowed: expected drop (silently) or reset (answers with a RST)');
    expect(errorOf('idle-expiry:6s:drop:proxy')).toBe('"idle-expiry:6s:drop:proxy": "proxy" is not allowed: expected nat (masquerade, IPv4) or firewall (tracked, IPv4 and IPv6)');
    expect(errorOf('idle-expiry:6s')).toBe('"idle-expiry:6s" is not allowed: expected idle-expiry:DURATION:drop|reset[:nat|firewall], e.g. idle-expiry:350s:reset');
    expect(errorOf('aws-nat')).toBe(
      'unknown middlebox "aws-nat": expected a preset or idle-expiry:DURATION:drop|reset[:nat|firewall]; presets: aws-nat-gateway, aws-nlb, azure-lb, gcp-vpc-firewall, gcp-cloud-nat, linux-conntrack',
    );
    expect(errorOf('toString')).toMatch(/^unknown middlebox "toString"/);
    for (const e of ['idle-expiry:1.5s:reset', 'aws-nat', 'idle-expiry:6s']) expect(errorOf(e)).not.toMatch(/\n/);
  });

  it('a NAT is IPv4 only: the helper says what to use instead', () => {
    expect(middleboxFamilyProblem(mb('aws-nat-gateway'), 6)).toBe('aws-nat-gateway is a NAT (IPv4 only): use IPv4, or idle-expiry:350s:reset:firewall for IPv6');
    expect(middleboxFamilyProblem(mb('aws-nat-gateway'), 4)).toBeUndefined();
    expect(middleboxFamilyProblem(mb('aws-nlb'), 6)).toBeUndefined();
    expect(middleboxFamilyProblem(mb('idle-expiry:9s:drop:nat'), 6)).toBe('idle-expiry:9s:drop:nat is a NAT (IPv4 only): use IPv4, or idle-expiry:9s:drop:firewall for IPv6');
  });
});

const RTO = 204;
const TLP = 204;
const path = (middlebox: string, o: { keepalive?: [number, number, number]; writeAtS?: number; peerKeepalive?: PathInput['peerKeepalive']; hz?: number } = {}) => {
  const base = inputFor('6.18', { hz: o.hz ?? 250, ...(o.keepalive ? { socket: { keepalive: true, keepIdle: o.keepalive[0], keepIntvl: o.keepalive[1], keepCnt: o.keepalive[2] } } : {}) });
  const input: PathInput = { ...base, middlebox: mb(middlebox), rtoMs: RTO, tlpMs: TLP, ...(o.writeAtS !== undefined ? { writeAtS: o.writeAtS } : {}), ...(o.peerKeepalive ? { peerKeepalive: o.peerKeepalive } : {}) };
  return { input, p: predictPath(input) };
};

describe('predictPath', () => {
  it('no keepalive, a write at 9 s through a 6 s reset box: forgotten at 6 s, ECONNRESET at the write', () => {
    const { p } = path('idle-expiry:6s:reset', { writeAtS: 9 });
    expect(p.mapping.kept).toBe('no');
    expect(p.mapping.forgottenAtS).toBe(6);
    expect(p.trigger).toEqual({ by: 'write', atS: 9 });
    expect(p.outcome).toEqual({
      noticeAtS: 9,
      errno: 'ECONNRESET',
      line: 'the write at 9 s fails after ~0 s with ECONNRESET (write() itself returns success — its data was only queued; the next call on the socket sees it)',
    });
    expect(p.client.events.map((e) => e.packet)).toEqual(['DATA']);
    expect(p.clientOriginS).toBe(9);
    expect(p.server.closeAtS).toBeNull();
    expect(p.server.line).toMatch(/^stays ESTABLISHED for ever, holding whatever it holds/);
    expect(p.notes.join('\n')).toMatch(/nf_ct_refresh_acct.*nf_conntrack_proto_tcp\.c/);
    expect(p.notes.join('\n')).toMatch(/nf_ct_is_expired.*nf_conntrack_core\.c/);
  });

  it('the same through a drop box: the write is the busy chain, unchanged, from the write', () => {
    const { input, p } = path('idle-expiry:6s:drop', { writeAtS: 9 });
    const busy = predictBusy({ ...input, peer: 'gone' });
    expect(busy.closeAt).toBeGreaterThan(900); // tcp_retries2 15: ≈ 924.6 s on a tiny RTT
    expect(p.client).toEqual(busy);
    expect(p.outcome.noticeAtS).toBeCloseTo(9 + busy.closeAt!, 6);
    expect(p.outcome.errno).toBe('ETIMEDOUT');
    expect(p.outcome.line).toBe(`the write at 9 s hangs ${busy.closeAt} s, then ETIMEDOUT (at ${p.outcome.noticeAtS} s): its retransmissions meet the forgotten mapping and are dropped`);
  });

  it('keepalive 2/1/3 under a 6 s timeout keeps the mapping: the write after a long idle is acknowledged', () => {
    for (const box of ['idle-expiry:6s:drop', 'idle-expiry:6s:reset']) {
      const { p } = path(box, { keepalive: [2, 1, 3], writeAtS: 60 });
      expect(p.mapping.kept).toBe('yes');
      expect(p.mapping.forgottenAtS).toBeNull();
      expect(p.mapping.why).toMatch(/the client's keepalive probes every 2 s/);
      expect(p.trigger).toBeNull();
      expect(p.outcome).toEqual({ noticeAtS: null, errno: null, line: 'the write at 60 s is acknowledged: the mapping was kept' });
      expect(p.client.closeAt).toBeNull();
    }
    // without a write: the probes go on, answered
    const { p } = path('idle-expiry:6s:drop', { keepalive: [2, 1, 3] });
    expect(p.client.events.filter((e) => e.packet === 'KEEPALIVE').map((e) => e.t)).toEqual([2, 4, 6]);
  });

  it('keepalive 8/1/3 over a 6 s timeout: the first probe meets the forgotten mapping', () => {
    const reset = path('idle-expiry:6s:reset', { keepalive: [8, 1, 3] }).p;
    expect(reset.mapping).toMatchObject({ kept: 'no', forgottenAtS: 6 });
    expect(reset.trigger).toEqual({ by: 'keepalive', atS: 8 });
    expect(reset.outcome.noticeAtS).toBe(8);
    expect(reset.outcome.errno).toBe('ECONNRESET');

    const { input, p: drop } = path('idle-expiry:6s:drop', { keepalive: [8, 1, 3] });
    expect(drop.outcome.noticeAtS).toBe(8 + 3 * 1);
    expect(drop.outcome.errno).toBe('ETIMEDOUT');
    expect(drop.client).toEqual(predictIdle({ ...input, peer: 'gone' }));
    expect(drop.clientOriginS).toBe(0);
  });

  it('a write after the expiry but before the first probe is the trigger; a probe before the write is', () => {
    expect(path('idle-expiry:6s:reset', { keepalive: [8, 1, 3], writeAtS: 7 }).p.trigger).toEqual({ by: 'write', atS: 7 });
    expect(path('idle-expiry:6s:reset', { keepalive: [8, 1, 3], writeAtS: 20 }).p.trigger).toEqual({ by: 'keepalive', atS: 8 });
    // a write before the expiry refreshes the entry
    const early = path('idle-expiry:6s:drop', { writeAtS: 5 }).p;
    expect(early.mapping.kept).toBe('yes');
    expect(early.outcome.line).toBe('the write at 5 s is acknowledged: the mapping was kept');
  });

  it('TCP_KEEPIDLE within the timer wheel\'s lateness of the timeout: a race, and it says which timers race', () => {
    const { p } = path('idle-expiry:6s:drop', { keepalive: [6, 1, 3] });
    expect(p.mapping.kept).toBe('race');
    expect(p.mapping.why).toMatch(/keepalive timer \(6 s, which the timer wheel fires up to 0\.26 s late.*races the entry's expiry \(6 s after the last crossing, exact to the jiffy\)/);
    expect(p.outcome.line).toMatch(/^if the expiry wins the race, /);
    // 5 s fires at most 0.26 s late (level 2 at HZ 250: 64 jiffies + 1), + 0.1 s: inside 6 s
    expect(path('idle-expiry:6s:drop', { keepalive: [5, 1, 3] }).p.mapping.kept).toBe('yes');
    expect(path('idle-expiry:6s:drop', { keepalive: [7, 1, 3] }).p.mapping.kept).toBe('no');
  });

  it('a TCP_KEEPINTVL above the timeout: the first probe refreshes, the next comes too late', () => {
    const { p } = path('idle-expiry:6s:reset', { keepalive: [2, 10, 3] });
    expect(p.mapping).toMatchObject({ kept: 'no', forgottenAtS: 8 });
    expect(p.trigger).toEqual({ by: 'keepalive', atS: 12 });
    expect(p.outcome.noticeAtS).toBe(12);
  });

  it('the server: ESTABLISHED for ever without keepalive; its own probe meets the forgotten mapping with one above the timeout; below, it keeps the mapping for both', () => {
    const reset = path('idle-expiry:6s:reset', { peerKeepalive: { idleS: 8, intvlS: 1, cnt: 3 } }).p;
    expect(reset.server).toEqual({ closeAtS: 8, errno: 'ECONNRESET', line: "its keepalive probe at 8 s meets the forgotten mapping: the router's RST → ECONNRESET at 8 s" });
    expect(reset.outcome.noticeAtS).toBeNull();
    expect(reset.outcome.line).toMatch(/^never notices/);
    const nat = path('idle-expiry:6s:reset:nat', { peerKeepalive: { idleS: 8, intvlS: 1, cnt: 3 } }).p;
    expect(nat.server.line).toMatch(/NAT's public address/);
    const drop = path('idle-expiry:6s:drop', { peerKeepalive: { idleS: 8, intvlS: 2, cnt: 4 }, writeAtS: 9 }).p;
    expect(drop.server).toMatchObject({ closeAtS: 8 + 4 * 2, errno: 'ETIMEDOUT' });
    const keeps = path('idle-expiry:6s:drop', { peerKeepalive: { idleS: 2, intvlS: 1, cnt: 3 }, writeAtS: 60 }).p;
    expect(keeps.mapping.kept).toBe('yes');
    expect(keeps.mapping.why).toMatch(/the server's keepalive/);
    expect(keeps.server.line).toBe('its keepalive (2 s) keeps the mapping for both: stays ESTABLISHED');
    expect(keeps.outcome.line).toBe('the write at 60 s is acknowledged: the mapping was kept');
  });

  it('a 350 s box: the note on the other conntrack timeouts, which cut in only while data is unacknowledged', () => {
    const { p } = path('aws-nat-gateway', { writeAtS: 351 });
    expect(p.notes.join('\n')).toMatch(/nf_conntrack_tcp_timeout_unacknowledged \(300 s\)/);
    expect(path('idle-expiry:6s:drop', { writeAtS: 9 }).p.notes.join('\n')).not.toMatch(/unacknowledged \(300 s\)/);
  });
});
