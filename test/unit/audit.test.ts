import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseAuditArgs, renderAudit } from '../../cli/audit.js';
import { auditArgsFromOptions } from '../../harness/apps/audit/args.js';
import { Audit } from '../../harness/apps/audit/audit.js';
import { audited, FEATURES, FIXTURE, ROOTISH } from './audit-fixture.js';
import { directionOf, phaseNow, verdictOf } from '../../harness/apps/audit/connection.js';
import { isAnswer, type PhaseAnswer } from '../../harness/apps/audit/model.js';
import { CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_SYS_PTRACE, deniedLine, privilegeProblem, READER_CAPABILITIES } from '../../harness/apps/audit/privileges.js';
import { type DoneLine, parseReaderLine, ReaderProtocolError, type ReaderLine } from '../../harness/apps/audit/reader-events.js';
import { readerArgs } from '../../harness/apps/audit/reader.js';
import type { AuditReport } from '../../harness/apps/audit/report.js';
import { ROOT } from '../../harness/core/paths.js';
import { predictBusy } from '../../harness/model/busy.js';
import { predictIdle } from '../../harness/model/idle.js';
import { predictSynSent } from '../../harness/model/syn-sent.js';
import { predictionWindows } from '../../harness/model/windows.js';
import { defaultSysctls } from '../../harness/model/features.js';

/**
 * deadpeer audit from a recorded reader output (test/fixtures/audit/reader.jsonl: the lines of the
 * helper's audit mode, one per socket): parsing, the phase each connection is in now, the model's
 * answers against the model asked directly, grouping and its words, the JSON shape, the gate.
 */
const features = FEATURES;

const byPid = (r: AuditReport, pid: number) => r.connections.filter((c) => c.pid === pid);
const answer = (v: unknown) => v as PhaseAnswer;

describe('the reader’s lines', () => {
  it('every line of the fixture parses; the options and TCP_INFO stay on the socket line', () => {
    const parsed = FIXTURE.map(parseReaderLine);
    expect(parsed.map((l) => l!.ev)).toEqual(['netns', 'netns', ...Array(parsed.length - 4).fill(expect.any(String)), 'denied', 'done']);
    const sock = parsed.find((l) => l?.ev === 'sock' && l.pid === 919);
    expect(sock).toMatchObject({ unreadable: { what: 'pidfd_getfd', errno: 'EPERM' }, listening: true, timer: 'keepalive' });
  });

  it('a line this side cannot take is the reader’s bug, said as such; an event it does not know is skipped', () => {
    expect(() => parseReaderLine('not json')).toThrow(ReaderProtocolError);
    expect(() => parseReaderLine('{"ev":"proc","pid":"1"}')).toThrow(/"pid" is "1", not a number/);
    expect(() => parseReaderLine('{"ev":"sock","pid":1,"fd":3,"netns":1,"inode":2,"family":5}')).toThrow(/not 4 or 6/);
    expect(() => parseReaderLine('{"t":1}')).toThrow(/without "ev"/);
    expect(parseReaderLine('{"ev":"later","t":1}')).toBeUndefined();
    // a sysctl the reader could not read comes as NAME_error; a namespace it could not enter as error + what
    expect(parseReaderLine('{"ev":"netns","netns":5,"tcp_retries2_error":"EACCES","tcp_keepalive_time":7200}')).toMatchObject({ sysctlErrors: { tcp_retries2: 'EACCES' }, sysctls: { tcp_keepalive_time: 7200 } });
    expect(parseReaderLine('{"ev":"netns","netns":5,"error":"EPERM","what":"setns"}')).toEqual({ ev: 'netns', netns: 5, unread: { what: 'setns', errno: 'EPERM' } });
  });

  it('the real reader’s output (recorded from the helper’s audit mode on four clients of the acceptance test) is taken whole', () => {
    const recorded = readFileSync(join(ROOT, 'test', 'fixtures', 'audit', 'recorded.jsonl'), 'utf8').trim().split('\n');
    const r = audited({}, recorded);
    expect(r.connections.map((c) => [c.options!.SO_KEEPALIVE, c.options!.TCP_USER_TIMEOUT, c.verdict, (c.phases.idle as PhaseAnswer).closeAt])).toEqual([
      [1, 0, 'notices', 15],
      [1, 0, 'notices', 14],
      [0, 0, 'never', null],
      [0, 4000, 'never', null],
    ]);
    expect(r.namespaces).toMatchObject([{ sysctls: { tcp_retries2: 5, tcp_syn_retries: 3 } }]);
    expect(r.reader).toMatchObject({ procs: 4, sockets: 4, listeners: 0, unreadable: 0 });
  });

  it('the reader is asked once for all targets: every pid, --all, --netns as arguments, never through a shell', () => {
    expect(readerArgs({ pids: [913, 914], all: false })).toEqual(['audit', '--pid', '913', '--pid', '914']);
    expect(readerArgs({ pids: [], all: true, netns: '/run/netns/dp-x' })).toEqual(['audit', '--all', '--netns', '/run/netns/dp-x']);
  });
});

describe('the phase a connection is in now', () => {
  it.each([
    ['SYN-SENT', 'retransmit', 1, 'connect'],
    ['ESTABLISHED', 'off', 0, 'idle'],
    ['ESTABLISHED', 'keepalive', 0, 'idle'],
    ['ESTABLISHED', 'off', 2, 'busy'],
    ['ESTABLISHED', 'retransmit', 0, 'busy'],
    ['ESTABLISHED', 'zero-window-probe', 0, 'zero-window'],
    ['CLOSE-WAIT', 'off', 0, 'idle'],
    ['FIN-WAIT-1', 'retransmit', 1, null],
    ['TIME-WAIT', 'time-wait', 0, null],
  ] as const)('%s, timer %s, %i unacknowledged → %s', (state, timer, unacked, phase) => {
    expect(phaseNow(state, timer, { unacked })).toBe(phase);
  });

  it('an unreadable socket is placed by sock_diag’s timer alone', () => {
    expect(phaseNow('ESTABLISHED', 'retransmit', undefined)).toBe('busy');
    expect(phaseNow('ESTABLISHED', 'keepalive', undefined)).toBe('idle');
  });

  it('direction: the reader’s word first; else a non-ephemeral local port shared, or facing an ephemeral client port, is a service’s', () => {
    expect(directionOf({ sport: 40000, dport: 5432, listening: true }, false)).toBe('inbound');
    expect(directionOf({ sport: 5432, dport: 40000, listening: false }, true)).toBe('outbound');
    expect(directionOf({ sport: 5432, dport: 40000 }, false)).toBe('inbound');
    expect(directionOf({ sport: 6000, dport: 10000 }, true)).toBe('inbound');
    expect(directionOf({ sport: 40000, dport: 5432 }, false)).toBe('outbound');
    // Linux gives one ephemeral port to connections to different destinations: a client's, shared
    expect(directionOf({ sport: 40000, dport: 5001 }, true)).toBe('outbound');
  });
});

describe('the model for each connection', () => {
  const r = audited();
  const ns1 = { ...defaultSysctls(features), tcp_rto_min_us: 200_000 };

  it('keepalive off: idle never; busy and zero-window at its own RTO and its namespace’s tcp_retries2', () => {
    const [c] = byPid(r, 913);
    expect(c!.phaseNow).toBe('idle');
    expect(answer(c!.phases.idle)).toEqual({ closeAt: null, closeWindow: null, errno: null });
    const socket = { keepalive: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9, userTimeoutMs: 0, synCnt: 0, rtoMaxMs: 120000 };
    // SACK on, tcp_early_retrans 3: a one-segment write's tail loss probe at 2·srtt + rto_min, capped by the RTO
    const busy = predictBusy({ sysctls: ns1, socket, features, rtoMs: 204, tlpMs: 204 });
    expect(answer(c!.phases.busy).closeAt).toBe(busy.closeAt);
    expect(answer(c!.phases.busy).closeWindow).toEqual(predictionWindows(busy, 250).close!.window);
    expect(c!.verdict).toBe('never');
  });

  it('python 5/3/3: idle at 14 s (ETIMEDOUT); the window is the timer wheel’s', () => {
    const [c] = byPid(r, 914);
    const idle = predictIdle({ sysctls: ns1, socket: { keepalive: true, keepIdle: 5, keepIntvl: 3, keepCnt: 3, userTimeoutMs: 0, synCnt: 0 }, features });
    expect(answer(c!.phases.idle)).toEqual({ closeAt: 14, closeWindow: predictionWindows(idle, 250).close!.window, errno: 'ETIMEDOUT' });
    expect(c!.verdict).toBe('notices');
  });

  it('busy now with the RTO backed off once: the model starts from the RTO halved back (408 → 204 ms); U decides', () => {
    const [c] = byPid(r, 915);
    expect(c!.phaseNow).toBe('busy');
    expect(c!.tcpInfo).toMatchObject({ rtoMs: 408, backoff: 1, unacked: 1 });
    const busy = predictBusy({ sysctls: ns1, socket: { keepalive: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9, userTimeoutMs: 4000, synCnt: 0, rtoMaxMs: 120000 }, features, rtoMs: 204, tlpMs: 204 });
    expect(answer(c!.phases.busy).closeAt).toBe(busy.closeAt);
    expect(busy.closeAt).toBeGreaterThan(4);
    expect(busy.closeAt).toBeLessThan(4.5);
  });

  it('SYN-SENT: the connect phase only, at ITS namespace’s tcp_syn_retries (3, not the host’s 6)', () => {
    const [c] = byPid(r, 916);
    expect(Object.keys(c!.phases)).toEqual(['connect']);
    const syn = predictSynSent({ sysctls: { ...ns1, tcp_syn_retries: 3, tcp_retries2: 5 }, socket: { keepalive: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9, userTimeoutMs: 0, synCnt: 0, rtoMaxMs: 120000 }, features });
    expect(answer(c!.phases.connect)).toMatchObject({ closeAt: syn.closeAt, errno: 'ETIMEDOUT' });
  });

  it('tcp_early_retrans not read: busy spans with and without a tail loss probe, and says so', () => {
    const [c] = byPid(r, 917);
    expect(c!.phaseNow).toBe('zero-window');
    expect(c!.local).toBe('[2001:2::1]:45000');
    const b = answer(c!.phases.busy);
    expect(b.spans).toBe('with or without a tail loss probe (tcp_early_retrans not read)');
    const socket = { keepalive: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9, userTimeoutMs: 0, synCnt: 0, rtoMaxMs: 120000 };
    const sysctls = { ...ns1, tcp_retries2: 5, tcp_syn_retries: 3 };
    const none = predictionWindows(predictBusy({ sysctls, socket, features, rtoMs: 204 }), 250).close!.window;
    const latest = predictionWindows(predictBusy({ sysctls, socket, features, rtoMs: 204, tlpMs: 204 }), 250).close!.window;
    expect(b.closeWindow).toEqual([none[0], latest[1]]);
    expect(isAnswer(c!.phases['zero-window'])).toBe(true);
  });

  it('a sysctl its kernel has but the reader did not give: the phases that rest on it say unknown, the rest is answered (advice too)', () => {
    const lines = FIXTURE.map((l) => (l.includes('"ev":"netns"') ? l.replace(/,"tcp_syn_linear_timeouts":4/, '') : l));
    const r = audited({}, lines);
    expect(byPid(r, 916)[0]).toMatchObject({ phases: { connect: { unknown: 'tcp_syn_linear_timeouts not read' } }, verdict: 'unknown', why: 'connect: tcp_syn_linear_timeouts not read' });
    const node = r.groups.find((g) => g.pid === 913)!.findings[0]!;
    expect(node.verdict).toBe('never');
    // check's advice, but for the connect line it would have needed the unread sysctl for
    expect(node.advice.map((a) => a.split(':')[0])).toEqual(['keepalive is off', 'no TCP_USER_TIMEOUT']);
    expect(audited().groups.find((g) => g.pid === 913)!.findings[0]!.advice.map((a) => a.split(' ')[0])).toEqual(['keepalive', 'no', 'connect()']);
  });

  it('unreadable: what sock_diag shows, no options, no phases, no verdict guessed', () => {
    const [c] = byPid(r, 919);
    expect(c).toMatchObject({ verdict: 'unreadable', unreadable: { what: 'pidfd_getfd', errno: 'EPERM' }, phases: {}, state: 'ESTABLISHED', timer: { kind: 'keepalive', expiresMs: 7100000 }, phaseNow: 'idle', direction: 'inbound' });
    expect(c!.options).toBeUndefined();
  });

  it('a closing state: no phase applies', () => {
    expect(byPid(r, 920)[0]).toMatchObject({ verdict: 'closing', phases: {}, phaseNow: null });
  });

  it('each distinct configuration is computed once per phase, not per socket', () => {
    // three identical node sockets and two identical postgres ones cost one computation per phase each
    const phasesAnswered = r.connections.reduce((n, c) => n + Object.values(c.phases).filter(isAnswer).length, 0);
    expect(r.modelComputations).toBeLessThan(phasesAnswered);
    const again = audited({}, [...FIXTURE.slice(0, -1), ...FIXTURE.filter((l) => l.includes('"pid":913,"fd"')).map((l) => l.replace('"fd":20', '"fd":99')), FIXTURE.at(-1)!]);
    expect(again.modelComputations).toBe(r.modelComputations);
  });

  it('verdictOf: never beats slow beats unknown; the gate reads the window’s late end', () => {
    const a = (closeAt: number | null, hi = closeAt): PhaseAnswer => ({ closeAt, closeWindow: hi === null ? null : [closeAt!, hi], errno: closeAt === null ? null : 'ETIMEDOUT' });
    expect(verdictOf({ idle: a(null), busy: { unknown: 'x' } }, 30).verdict).toBe('never');
    expect(verdictOf({ idle: a(29, 30.2) }, 30).verdict).toBe('slow');
    expect(verdictOf({ idle: a(29, 30.2) }, undefined).verdict).toBe('notices');
    expect(verdictOf({ idle: a(10), busy: { unknown: 'tcp_retries2 not read' } }, 30)).toEqual({ verdict: 'unknown', why: 'busy: tcp_retries2 not read' });
  });
});

describe('the summary', () => {
  it('groups by program, pid and remote endpoint (or the program’s own port when it accepted), worst first, in words that name the setting', () => {
    const r = audited();
    const first = r.groups[0]!;
    expect(first).toMatchObject({ program: 'node', pid: 913, direction: 'outbound', remoteAddress: '198.18.0.2', remotePort: 5432, connections: 3, verdicts: { never: 3 } });
    expect(first.findings).toHaveLength(1);
    expect(first.findings[0]!.line).toMatch(/^an idle dead peer is never noticed — SO_KEEPALIVE off; busy 15 min \d+ s, zero-window \d+ min \d+ s$/);
    expect(first.findings[0]!.advice[0]).toMatch(/^keepalive is off/);
    expect(first.findings[0]!.phaseNow).toEqual({ idle: 3 });
    const pg = r.groups.find((g) => g.program === 'postgres')!;
    expect(pg).toMatchObject({ direction: 'inbound', localPort: 5432, connections: 2 });
    expect(pg.remoteAddress).toBeUndefined();
    // an accepted connection never connect()s: no advice speaks of connect (the node pool's does)
    expect(pg.findings.flatMap((f) => f.advice).some((a) => a.startsWith('connect()'))).toBe(false);
    expect(first.findings[0]!.advice.some((a) => a.startsWith('connect()'))).toBe(true);
    const text = renderAudit(r);
    expect(text).toContain('3 connections of node (pid 913) to 198.18.0.2:5432: an idle dead peer is never noticed — SO_KEEPALIVE off');
    expect(text).toContain('2 connections accepted by postgres (pid 921) on port 5432:');
    expect(text).toContain('1 connection of python3 (pid 914) to 198.18.0.2:4242: notices a vanished peer in every phase: idle 14 s');
    expect(text).toContain('1 connection of curl (pid 916) to 198.18.0.3:443: notices a vanished peer in every phase: connect ');
    expect(text).toContain('1 connection of uploader (pid 917) to [2001:2::2]:8080');
    expect(text).toMatch(/1 connection of sshd \(pid 919\)|accepted by sshd \(pid 919\) on port 22: options unreadable \(pidfd_getfd: EPERM\) — sock_diag shows ESTABLISHED, timer keepalive; no verdict/);
    expect(text).toContain('1 process not read');
    expect(text).toMatch(/^verdicts: 5 never, 6 notices, 1 unreadable, 1 closing/m);
    // a comm's line feed is shown, not obeyed: every group stays one line
    expect(text).toContain('1 connection of we"ird\\na\\nme (pid 918) to 198.18.0.2:4242: notices a vanished peer in every phase: idle 15 s');
    expect(text).toContain('1 connection of uploader (pid 917) to [2001:2::2]:8080: an idle dead peer is never noticed — SO_KEEPALIVE off; busy ≈');
    expect(text).toMatch(/! network namespace 4026532002: tcp_early_retrans could not be read: the answers that rest on them span/);
  });

  it('--max-detect 30s: the gate fails, naming each group that would notice later or never', () => {
    const r = audited({ maxDetectS: 30 });
    expect(r.exitCode).toBe(1);
    expect(r.gate!.failed[0]).toMatch(/^3 connections of node \(pid 913\) to 198\.18\.0\.2:5432: an idle dead peer is never noticed — SO_KEEPALIVE off/);
    // busy at tcp_retries2 15 is over 30 s: slow, with the setting to change
    expect(r.gate!.failed.join('\n')).toMatch(/a dead peer with data unacknowledged is noticed only after up to .* over 30 s — no TCP_USER_TIMEOUT, tcp_retries2 15/);
    expect(r.gate!.failed.join('\n')).toContain('options unreadable');
    // closing is not a failure: it is already going away
    expect(r.gate!.failed.join('\n')).not.toContain('FIN-WAIT-1');
  });

  it('--max-detect passes when every connection notices in time', () => {
    // the reference's settings: keepalive 5/3/3 and TCP_USER_TIMEOUT 14 s, both namespaces
    const keep = FIXTURE.filter((l) => !l.includes('"ev":"sock"') || l.includes('"pid":923,'));
    const r = audited({ maxDetectS: 30 }, keep);
    expect(r.verdicts.notices).toBe(1);
    expect(r.groups[0]!.findings[0]!.line).toMatch(/^notices a vanished peer in every phase: idle 14 s, busy 14\.\d+ s, zero-window 14\.\d+ s$/);
    expect(r.exitCode).toBe(0);
    expect(renderAudit(r)).toMatch(/gate --max-detect 30 s: passed/);
    expect(audited({ maxDetectS: 14 }, keep).exitCode).toBe(1);
  });

  it('the JSON: each connection with pid, fd, local, remote, state, options (exec’s names), phases with closeAt and closeWindow', () => {
    const r = JSON.parse(JSON.stringify(audited())) as AuditReport;
    const c = r.connections.find((x) => x.pid === 914)!;
    expect(Object.keys(c)).toEqual(expect.arrayContaining(['pid', 'fd', 'local', 'remote', 'state', 'options', 'phases', 'phaseNow', 'verdict', 'program', 'timer', 'tcpInfo']));
    expect(c).toMatchObject({ pid: 914, fd: 3, local: '198.18.0.1:42000', remote: '198.18.0.2:4242', state: 'ESTABLISHED', options: { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3 } });
    expect(Object.keys(c.phases)).toEqual(['idle', 'busy', 'zero-window']);
    for (const p of Object.values(c.phases)) expect(Object.keys(p)).toEqual(['closeAt', 'closeWindow', 'errno']);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['kernel', 'targets', 'namespaces', 'connections', 'groups', 'verdicts', 'denied', 'reader', 'exitCode']));
    expect(r.verdicts).toEqual({ never: 5, slow: 0, notices: 6, unreadable: 1, unknown: 0, closing: 1 });
    expect(r.namespaces.map((n) => n.unreadSysctls)).toEqual([undefined, ['tcp_early_retrans']]);
  });

  it('a process named by pid that could not be read is a refusal in one line', () => {
    const lines = FIXTURE.map((l) => l);
    const audit = new Audit({ pids: [922], all: false, output: 'text' }, features);
    for (const text of lines.slice(0, -1)) audit.take(parseReaderLine(text) as ReaderLine);
    expect(() => audit.report(parseReaderLine(lines.at(-1)!) as DoneLine, { uid: 1000, caps: 0n }, 1, () => 0)).toThrow(
      /^pid 922 \(uid 0\): its sockets cannot be read \(\/proc\/922\/fd: EACCES\): without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only your own processes' sockets can be read \(no Yama\) — run it as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH/,
    );
  });
});

describe('privileges', () => {
  const cap = (...caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const user = { uid: 1000, caps: 0n };
  const ptrace = { uid: 1000, caps: cap(CAP_SYS_PTRACE) };
  it('root or CAP_SYS_PTRACE reads; a normal user where Yama lets it; one line naming the setting where it does not', () => {
    expect(privilegeProblem(ROOTISH)).toBeUndefined();
    expect(privilegeProblem(ptrace)).toBeUndefined();
    expect(privilegeProblem({ ...ptrace, yama: 2 })).toBeUndefined();
    expect(privilegeProblem(user)).toBeUndefined();
    expect(privilegeProblem({ ...user, yama: 0 })).toBeUndefined();
    expect(privilegeProblem({ ...user, yama: 1 })).toMatch(/^kernel\.yama\.ptrace_scope = 1: a normal user may read only the sockets of its own descendants/);
    expect(privilegeProblem({ ...user, yama: 2 })).toMatch(/^kernel\.yama\.ptrace_scope = 2: only CAP_SYS_PTRACE/);
    expect(privilegeProblem({ ...ROOTISH, yama: 3 })).toMatch(/^kernel\.yama\.ptrace_scope = 3: .*not even root/);
    for (const f of [{ ...user, yama: 1 }, { ...user, yama: 2 }, { ...ROOTISH, yama: 3 }]) expect(privilegeProblem(f)!.split('\n')).toHaveLength(1);
  });

  it('a named process it cannot read: whose it is and what would read it', () => {
    expect(deniedLine({ pid: 7, what: 'setns', errno: 'EPERM' }, user, 1000)).toMatch(/^pid 7 \(uid 1000\) lives in another network namespace, which it takes CAP_SYS_ADMIN to enter/);
    expect(deniedLine({ pid: 7, what: 'fd-dir', errno: 'EACCES' }, { ...user, yama: 0 }, 1000)).toMatch(/it is yours, but not readable to you \(kernel\.yama\.ptrace_scope = 0;/);
    expect(deniedLine({ pid: 7, what: 'fd-dir', errno: 'EACCES' }, ptrace, 0)).toMatch(/: listing another user's descriptors \(\/proc\/PID\/fd, mode 0500\) takes CAP_DAC_READ_SEARCH besides CAP_SYS_PTRACE — /);
    expect(deniedLine({ pid: 7, what: 'fd-dir', errno: 'EACCES' }, { uid: 0, caps: cap(CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN) }, 0)).toMatch(/the capabilities here do not reach it \(no Yama; a process of a parent user namespace\)/);
  });
});

describe('the deployments of docs/audit', () => {
  const file = (name: string) => readFileSync(join(ROOT, 'docs', 'audit', name), 'utf8');
  it('the DaemonSet: hostPID, exactly the capabilities the reader needs, the metrics written then renamed into place', () => {
    const ds = parse(file('daemonset.yaml'));
    const pod = ds.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    const c = pod.containers[0];
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: READER_CAPABILITIES.map((x) => x.replace(/^CAP_/, '')) });
    expect(c.args[0]).toMatch(/deadpeer audit --all --openmetrics > \/textfile\/deadpeer\.prom\.tmp &&\s+mv \/textfile\/deadpeer\.prom\.tmp \/textfile\/deadpeer\.prom/);
  });

  it('the systemd service: the same write-then-rename; a service user’s capabilities are the same three', () => {
    const unit = file('deadpeer-audit.service');
    expect(unit).toMatch(/^ExecStart=\/bin\/sh -c 'deadpeer audit --all --openmetrics > "\$TEXTFILE_DIR\/deadpeer\.prom\.tmp" && mv "\$TEXTFILE_DIR\/deadpeer\.prom\.tmp" "\$TEXTFILE_DIR\/deadpeer\.prom"'$/m);
    expect(unit).toContain(`#AmbientCapabilities=${READER_CAPABILITIES.join(' ')}`);
    expect(file('deadpeer-audit.timer')).toMatch(/^OnUnitActiveSec=5min$/m);
  });
});

describe('deadpeer audit arguments', () => {
  it('pids, --all, --netns, --max-detect, one output', () => {
    expect(parseAuditArgs(['913', '914'])).toEqual({ kind: 'args', args: { pids: [913, 914], all: false, output: 'text' } });
    expect(parseAuditArgs(['--all', '--max-detect', '30s', '--json'])).toEqual({ kind: 'args', args: { pids: [], all: true, maxDetectS: 30, output: 'json' } });
    expect(parseAuditArgs(['--netns', '/proc/self/ns/net', '--openmetrics'])).toEqual({ kind: 'args', args: { pids: [], all: false, netns: '/proc/self/ns/net', output: 'openmetrics' } });
    expect(parseAuditArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it('audit() options: the same rules in the API’s words', () => {
    expect(auditArgsFromOptions({ pids: [913], maxDetect: '30s' })).toEqual({ pids: [913], all: false, maxDetectS: 30, output: 'json' });
    expect(() => auditArgsFromOptions({ pid: 913 } as never)).toThrow(/^audit\(\): unknown option "pid": allowed options are pids, all, netns, maxDetect$/);
    expect(() => auditArgsFromOptions({ pids: 913 } as never)).toThrow(/^audit\(\): pids: 913 is not allowed: expected an array of process ids$/);
    expect(() => auditArgsFromOptions({ pids: [913, 913] })).toThrow(/^audit\(\): pids: pid 913 is given twice: keep one$/);
    expect(() => auditArgsFromOptions({ all: true, pids: [1] })).toThrow(/^audit\(\): all audits every process/);
    expect(() => auditArgsFromOptions({})).toThrow(/^name what to audit: process ids, audit\(\): all/);
  });

  it.each([
    [[], /^name what to audit: process ids, --all \(every process\) or --netns PATH/],
    [['913', '913'], /^PID: pid 913 is given twice: keep one$/],
    [['--all', '913'], /^--all audits every process: give --all or the pids, not both$/],
    [['0'], /^PID: "0" is not a process id/],
    [['1;rm'], /^PID: "1;rm" is not a process id/],
    [['--json', '--openmetrics', '--all'], /^--json and --openmetrics: choose one output$/],
    [['--all', '--max-detect', 'soon'], /^--max-detect: "soon" is not allowed/],
    [['--all', '--max-detect', '0'], /^--max-detect: "0" is not allowed: expected a duration above 0/],
    [['--netns', '/no/such/ns'], /^--netns: no such file "\/no\/such\/ns"/],
    [['--all', '--frob'], /^unknown option "--frob": allowed options are --all --netns --max-detect --json --openmetrics --help$/],
  ])('%j: one line', (argv, message) => {
    const r = parseAuditArgs(argv as string[]);
    expect(r.kind).toBe('error');
    expect((r as { message: string }).message).toMatch(message);
  });
});
