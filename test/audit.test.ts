import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { execSysctls } from '../harness/apps/exec/args.js';
import { isAnswer, type PhaseAnswer } from '../harness/apps/audit/model.js';
import type { AuditConnection, AuditReport } from '../harness/apps/audit/report.js';
import { ROOT } from '../harness/core/paths.js';
import { FAST_SYSCTLS } from '../harness/core/profile.js';
import type { HelperEvent } from '../harness/core/protocol.js';
import { type PeerProgram, VanishingPeer } from '../harness/engine/peer.js';
import { CAPTURE_SLACK, USERSPACE_SLACK } from '../harness/judge/verdict.js';
import { kernelCases, timeoutFor } from '../harness/vitest/cases.js';

/**
 * `deadpeer audit` against the kernel: real clients nobody in deadpeer configured — Node with
 * setKeepAlive(true, 5000), Python with keepalive 5/3/3, a plain socket, one with only
 * TCP_USER_TIMEOUT — connected to a VanishingPeer, audited while their peer is alive, then the
 * peer vanishes (a blackhole) and each socket's close, taken from the kernel (sock_diag: the
 * helper's watch reports the moment the connection left the tables), must land inside the window
 * the audit predicted for the phase the connection was in: idle for three of them, busy for the
 * one whose program writes once the peer is gone. The plain socket's idle phase: never — it must
 * still be open at the end. The fast profile's sysctls are in the clients' namespace (tcp_retries2
 * 5): the audit must judge with those, not the host's.
 */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'audit.js'));
const CLIENT = join(ROOT, 'test', 'fixtures', 'audit', 'client.py');

async function audit(args: string[]) {
  const r = await execa('node', [BIN, 'audit', ...args], { reject: false });
  return { ...r, report: args.includes('--json') && r.exitCode !== 2 ? (JSON.parse(r.stdout) as AuditReport) : undefined };
}

/** Started and connected: its "connected" line (Node's example prints "connected from …"). */
async function connected(p: PeerProgram, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (p.lines.some((l) => /^connected/.test(l.text))) return;
    if (p.exit) throw new Error(`${what} exited before connecting: ${p.lines.map((l) => l.text).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not connect within 15 s`);
}

const sportOf = (c: AuditConnection) => Number(c.local.slice(c.local.lastIndexOf(':') + 1));

/**
 * The close as the kernel shows it against the audit's window for the phase: the window is the
 * timer wheel's (model/windows.ts); measuring adds the capture's stamp at t = 0 and the helper's
 * sock_diag poll (every 5 ms) plus its wake-up after the abort — the verdict's own slacks.
 */
function expectInside(what: string, measured: number, a: PhaseAnswer): void {
  const [lo, hi] = a.closeWindow!;
  expect(measured, `${what}: closed ${measured.toFixed(3)} s after t = 0; the audit said ${lo.toFixed(3)} … ${hi.toFixed(3)} s`).toBeGreaterThanOrEqual(lo - CAPTURE_SLACK);
  expect(measured, `${what}: closed ${measured.toFixed(3)} s after t = 0; the audit said ${lo.toFixed(3)} … ${hi.toFixed(3)} s`).toBeLessThanOrEqual(hi + USERSPACE_SLACK);
}

describe.runIf(built)('deadpeer audit', () => {
  kernelCases('running clients, audited, then their peer vanishes (fast profile)', () => {
    it('each connection closes inside the window the audit predicted for its phase; --max-detect gates; --openmetrics passes promtool', { timeout: timeoutFor(25) }, async () => {
      const peer = await VanishingPeer.start({ family: 4, sysctls: execSysctls({ profile: 'fast', fault: 'blackhole', family: 4 }), name: 'audit-acceptance' });
      try {
        await acceptance(peer);
      } finally {
        await peer.dispose();
        expect(peer.leftovers).toEqual([]);
      }
    });
  });
});

async function acceptance(peer: VanishingPeer): Promise<void> {
  const programs = {
    node: peer.spawn(['node', join(ROOT, 'examples', 'node-client.mjs'), 'idle']),
    keepalive: peer.spawn(['python3', CLIENT, 'keepalive']),
    plain: peer.spawn(['python3', CLIENT, 'plain']),
    userTimeout: peer.spawn(['python3', CLIENT, 'user-timeout']),
  };
  await Promise.all(Object.entries(programs).map(([what, p]) => connected(p, what)));
  // Node applies setKeepAlive on 'connect', after its line: let the options settle
  await new Promise((r) => setTimeout(r, 300));
  const pids = Object.values(programs).map((p) => String(p.pid));

  const { report: r, exitCode, stderr } = await audit([...pids, '--json']);
  expect(stderr).toBe('');
  expect(exitCode).toBe(0);
  const of = (p: PeerProgram) => {
    const cs = r!.connections.filter((c) => c.pid === p.pid);
    expect(cs, `pid ${p.pid}`).toHaveLength(1);
    return cs[0]!;
  };
  const [node, keepalive, plain, ut] = [of(programs.node), of(programs.keepalive), of(programs.plain), of(programs.userTimeout)];
  for (const c of [node, keepalive, plain, ut]) expect(c).toMatchObject({ state: 'ESTABLISHED', remote: peer.address, phaseNow: 'idle', direction: 'outbound' });
  // the sysctls of the clients' namespace, not the auditor's
  const ns = r!.namespaces.find((n) => n.netns === node.netns)!;
  expect(ns.sysctls).toMatchObject({ tcp_retries2: FAST_SYSCTLS.tcp_retries2, tcp_syn_retries: FAST_SYSCTLS.tcp_syn_retries });
  expect(node.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 10, TCP_USER_TIMEOUT: 0 });
  expect(keepalive.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3, TCP_USER_TIMEOUT: 0 });
  expect(plain.options).toMatchObject({ SO_KEEPALIVE: 0, TCP_USER_TIMEOUT: 0 });
  expect(ut.options).toMatchObject({ SO_KEEPALIVE: 0, TCP_USER_TIMEOUT: 4000 });
  const phase = (c: AuditConnection, p: 'idle' | 'busy') => {
    expect(isAnswer(c.phases[p]), `${c.program} ${p}: ${JSON.stringify(c.phases[p])}`).toBe(true);
    return c.phases[p] as PhaseAnswer;
  };
  expect(phase(node, 'idle')).toMatchObject({ closeAt: 15, errno: 'ETIMEDOUT' });
  expect(phase(keepalive, 'idle')).toMatchObject({ closeAt: 14, errno: 'ETIMEDOUT' });
  expect(phase(plain, 'idle')).toEqual({ closeAt: null, closeWindow: null, errno: null });
  expect(plain.verdict).toBe('never');
  expect(phase(ut, 'idle').closeAt).toBeNull();
  expect(phase(ut, 'busy').closeAt).toBeGreaterThan(4);
  expect(phase(ut, 'busy').closeAt).toBeLessThan(5);

  // the gate: a socket without keepalive fails it, named; keepalive in a tcp_retries2 = 5 namespace passes it
  const gate = await audit([String(programs.plain.pid), '--max-detect', '30s']);
  expect(gate.exitCode).toBe(1);
  expect(gate.stdout).toMatch(new RegExp(`gate --max-detect 30 s: FAILED —\\n  - 1 connection of python3 \\(pid ${programs.plain.pid}\\) to ${peer.address.replace(/\./g, '\\.')}: an idle dead peer is never noticed — SO_KEEPALIVE off`));
  const pass = await audit([String(programs.node.pid), String(programs.keepalive.pid), '--max-detect', '30s']);
  expect(pass.stdout).toMatch(/gate --max-detect 30 s: passed/);
  expect(pass.exitCode).toBe(0);

  // the metrics of these very sockets, as Prometheus reads them (promtool: setup.sh installs it)
  const om = await audit([...pids, '--openmetrics']);
  expect(om.exitCode).toBe(0);
  expect(om.stdout).toContain(`deadpeer_audit_detection_seconds{program="python3",direction="outbound",remote_address="${peer.host}",remote_port="${peer.port}",phase="idle"} +Inf`);
  if (existsSync('/usr/bin/promtool') || process.env.CI === 'true') {
    // execa strips the last line feed: the exposition ends with one
    const check = spawnSync('promtool', ['check', 'metrics'], { input: `${om.stdout}\n`, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  }

  // the kernel's word on each connection from here on, then the peer goes; the busy one writes into the void
  const c = peer.client;
  for (const x of [node, keepalive, plain, ut]) await c.watch(4, x.local.split(':')[0]!, sportOf(x), peer.host, peer.port);
  const vanished = await peer.vanish('blackhole');
  process.kill(programs.userTimeout.pid, 'SIGUSR1');
  const gone = (x: AuditConnection) => c.waitFor((e) => e.ev === 'gone' && e.sport === sportOf(x), 25_000, `${x.program}'s connection to close`, vanished);
  const [nodeGone, keepaliveGone, utGone] = await Promise.all([gone(node), gone(keepalive), gone(ut)]);

  const packets = c.events.filter((e) => e.ev === 'packet');
  // idle: t = 0 is the last packet from the peer before it vanished
  const lastFromPeer = (x: AuditConnection) => packets.filter((e: HelperEvent) => e.dport === sportOf(x) && e.t <= vanished).at(-1)!.t;
  expectInside('node, idle', nodeGone.t - lastFromPeer(node), phase(node, 'idle'));
  expectInside('python 5/3/3, idle', keepaliveGone.t - lastFromPeer(keepalive), phase(keepalive, 'idle'));
  // busy: t = 0 is the first transmission of the data written after the peer vanished
  const write = packets.find((e) => e.sport === sportOf(ut) && (e.len as number) > 0 && e.t >= vanished)!;
  expectInside('TCP_USER_TIMEOUT only, busy', utGone.t - write.t, phase(ut, 'busy'));

  // the plain socket: the audit said never, and the kernel still holds it, established
  expect(c.events.some((e) => e.ev === 'gone' && e.sport === sportOf(plain))).toBe(false);
  const after = await audit([String(programs.plain.pid), '--json']);
  expect(after.report!.connections).toMatchObject([{ local: plain.local, state: 'ESTABLISHED', verdict: 'never' }]);
}
