import { describe, expect, it } from 'vitest';
import { errnoIn, parseStrace } from '../../harness/apps/exec/run.js';
import { settingsFrom } from '../../harness/apps/socket-read.js';
import { parseExecArgs, execSysctls } from '../../cli/exec.js';
import { drops, faults, nftRulesFor } from '../../harness/engine/faults.js';
import { defaultSysctls, featuresForRelease } from '../../harness/model/features.js';
import { renderRuleset } from '../../netns/nftables.js';

describe('failure modes for programs under test', () => {
  it('host vanished: TCP blackholed, and ARP + neighbour discovery unanswered on both sides', () => {
    const r = nftRulesFor(faults.hostVanished(), 1);
    expect(r.server).toEqual([
      { match: '', comment: 'host vanished: all from client', group: 1 },
      { match: '', comment: 'arp from client', table: 'arp', group: 1 },
      { match: 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }', comment: 'host vanished: neighbour from client', anyProtocol: true, group: 1 },
    ]);
    const text = renderRuleset(r.client);
    expect(text).toContain('table arp deadpeer {');
    expect(text).toContain('    meta iifgroup 1 counter drop comment "arp from server"');
    expect(text).toContain('    meta iifgroup 1 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } counter drop comment "host vanished: neighbour from server"');
    // TCP packets are never neighbour discovery
    expect(drops(faults.hostVanished(), 'client', 'S')).toBe(true);
  });

  it('peer reset: the server namespace answers the client’s TCP with an RST', () => {
    const r = nftRulesFor(faults.peerReset(), 2);
    expect(r.client).toEqual([]);
    expect(renderRuleset(r.server)).toContain('meta iifgroup 2 meta l4proto tcp counter reject with tcp reset comment "peer reset: all from client"');
  });

  it('no arp table unless a fault drops ARP (creating one costs an nft transaction for nothing)', () => {
    const text = renderRuleset(nftRulesFor(faults.blackhole(), 1).server);
    expect(text).not.toContain('arp deadpeer');
  });
});

describe('what a program shows and asks for', () => {
  it('errno from its name, or from the strerror text only', () => {
    expect(errnoIn('error: ETIMEDOUT: read ETIMEDOUT')).toEqual({ errno: 'ETIMEDOUT', from: 'name' });
    expect(errnoIn('psql: error: connection to server lost: Connection timed out')).toEqual({ errno: 'ETIMEDOUT', from: 'message' });
    expect(errnoIn('Connection reset by peer')).toEqual({ errno: 'ECONNRESET', from: 'message' });
    expect(errnoIn('request failed')).toBeUndefined();
  });

  it('strace setsockopt lines, failed calls included, filtered by fd', () => {
    const text = [
      '4258  setsockopt(20, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0',
      '4258  setsockopt(20, SOL_TCP, TCP_KEEPIDLE, [0], 4) = -1 EINVAL (Invalid argument)',
      '4258  setsockopt(19, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0',
    ].join('\n');
    expect(parseStrace(text, 20)).toEqual([
      { opt: 'SO_KEEPALIVE', value: '1', result: '0' },
      { opt: 'TCP_KEEPIDLE', value: '0', result: 'EINVAL' },
    ]);
  });

  it('read-back values become the model’s settings; TCP_SYNCNT equal to the sysctl means unset', () => {
    const sysctls = defaultSysctls(featuresForRelease('6.18.0', 250));
    expect(settingsFrom({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 10, TCP_USER_TIMEOUT: 0, TCP_SYNCNT: 6 }, sysctls)).toMatchObject({
      keepalive: true,
      keepIdle: 5,
      keepIntvl: 1,
      keepCnt: 10,
      userTimeoutMs: 0,
      synCnt: 0,
    });
  });
});

describe('deadpeer exec arguments', () => {
  it('the command after --, defaults: blackhole, IPv4, fast, builtin server', () => {
    const r = parseExecArgs(['--phase', 'busy', '--', 'node', 'client.js', '--flag']);
    expect(r).toEqual({ kind: 'args', args: { phase: 'busy', fault: 'blackhole', family: 4, profile: 'fast', graceS: 5, json: false, strace: true, command: ['node', 'client.js', '--flag'] } });
  });

  it.each([
    [['--phase', 'nap', '--', 'x'], '--phase: unknown phase "nap": expected connect, idle, busy, zero-window'],
    [['--', 'x'], '--phase is required: one of connect, idle, busy, zero-window'],
    [['--phase', 'idle'], 'no client command: put it after --, e.g. deadpeer exec --phase idle -- node client.js'],
    [['--phase', 'idle', 'node', '--', 'x'], 'unexpected argument "node": put the client command after --'],
    [['--phase', 'idle', '--family', '5', '--', 'x'], '--family: "5" is not allowed: expected 4 or 6'],
    // a negative value is a value, judged as one — not node's "argument is ambiguous"
    [['--phase', 'idle', '--timeout', '-5', '--', 'x'], '--timeout: "-5" is not allowed: expected a duration such as 30s, 1500ms or 2m'],
    [['--phase', 'idle', '--grace', '-1s', '--', 'x'], '--grace: "-1s" is not allowed: expected a duration such as 30s, 1500ms or 2m'],
    // a wait of 0 ends before anything could happen; a program with no name cannot be run
    [['--phase', 'idle', '--timeout', '0', '--', 'x'], '--timeout: "0" is not allowed: expected a duration above 0 and at most 1440m (a day), e.g. 60s (the default: the model\'s time + 25% + 10 s)'],
    [['--phase', 'idle', '--timeout', '0ms', '--', 'x'], '--timeout: "0ms" is not allowed: expected a duration above 0 and at most 1440m (a day), e.g. 60s (the default: the model\'s time + 25% + 10 s)'],
    [['--phase', 'idle', '--', ''], 'the client command has an empty program name: put it after --, e.g. deadpeer exec --phase idle -- node client.js'],
    [['--phase', 'idle', '--', ' ', 'x'], 'the client command has an empty program name: put it after --, e.g. deadpeer exec --phase idle -- node client.js'],
  ])('%j → %s', (argv, message) => {
    expect(parseExecArgs(argv)).toEqual({ kind: 'error', message });
  });

  it('host vanished in the fast profile shortens the neighbour timers of the client’s namespace', () => {
    expect(execSysctls({ profile: 'fast', fault: 'host-vanished', family: 6 })).toMatchObject({ 'net.ipv6.neigh.dp0.base_reachable_time_ms': 1000 });
    expect(execSysctls({ profile: 'faithful', fault: 'host-vanished', family: 6 })).toEqual({});
  });
});

describe('deadpeer exec --max-notice: the gate', () => {
  it('is parsed as a duration and changes the exit code', async () => {
    const r = parseExecArgs(['--phase', 'idle', '--max-notice', '20s', '--', 'x']);
    expect(r.kind === 'args' && r.args.maxNoticeS).toBe(20);
    const { toExecReport } = await import('../../harness/apps/exec/exec.js');
    const base = { problems: [], unnoticed: false, packets: [], t: { start: 0, origin: 10, appNoticed: 25, end: 40 } } as never;
    expect(toExecReport(base).exitCode).toBe(0);
    expect(toExecReport(base, 14)).toMatchObject({ exitCode: 1, overBudget: true, budgetS: 14 }); // noticed 15 s after t = 0
    expect(toExecReport(base, 15.5)).toMatchObject({ exitCode: 0, overBudget: false });
  });
});
