import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureHelper, helperPath } from '../harness/helper/build.js';
import { PORT, Topology } from '../harness/engine/topology.js';
import { kernelCases } from '../harness/vitest/cases.js';
import { inUserNamespace } from '../netns/userns.js';
import type { TestSocket } from '../harness/helper/client.js';

/**
 * `deadpeer-helper audit` on real sockets: the helpers of a topology are the audited processes (a
 * client socket with options set, the server's listener and accepted socket), each in its own
 * namespace with its own keepalive sysctl. The contract is docs/DESIGN.md's "audit".
 */
type Line = Record<string, unknown> & { ev: string };

async function audit(args: string[], wrap: string[] = []): Promise<{ lines: Line[]; exitCode: number; stderr: string }> {
  const cmd = [...wrap, helperPath(), 'audit', ...args];
  const r = await execa(cmd[0]!, cmd.slice(1), { reject: false, timeout: 20_000 });
  const lines = String(r.stdout).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  return { lines, exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
}

const nsInode = (name: string) => statSync(`/run/netns/${name}`).ino;
const built = !ensureHelper();
// an auditor without CAP_SYS_PTRACE whose real uid is not the targets': it may list the
// descriptors of a process whose capabilities are a subset of its own (the fs uid, 0, matches), but
// pidfd_getfd checks the real uid and then needs CAP_SYS_PTRACE (kernel/ptrace.c, __ptrace_may_access)
const WEAK_AUDITOR = ['setpriv', '--ruid=65534', '--bounding-set=-sys_ptrace'];
// root without CAP_SYS_ADMIN: it may read a process with no more capabilities than itself, but not enter its namespace (setns)
const NO_SETNS_AUDITOR = ['setpriv', '--bounding-set=-sys_ptrace,-sys_admin'];
const TARGET = ['setpriv', '--bounding-set=-sys_ptrace,-sys_admin'];

kernelCases('helper audit mode', () => {
  let topo: Topology;
  let client: TestSocket;
  let client6: TestSocket;
  const options = { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 7, TCP_KEEPINTVL: 2, TCP_KEEPCNT: 4, TCP_USER_TIMEOUT: 9000 } as const;

  beforeAll(async () => {
    topo = await Topology.create();
    // distinct per namespace, and unlike any default: each socket must get its own namespace's
    await topo.client.helper.sysctl('net.ipv4.tcp_keepalive_time', 4321);
    await topo.server.helper.sysctl('net.ipv4.tcp_keepalive_time', 5678);
    const listener = await topo.server.helper.socket(4);
    await listener.bind(topo.server.addr[4], PORT);
    await listener.listen();
    const accepted = listener.accept(10_000);
    client = await topo.client.helper.socket(4);
    for (const [opt, v] of Object.entries(options)) await client.set(opt as keyof typeof options, v);
    await client.connect(topo.server.addr[4], PORT);
    await client.whenConnected(10_000);
    await accepted;
    // and one over IPv6, to the same port, never accepted: established all the same (the backlog holds it)
    const listener6 = await topo.server.helper.socket(6);
    await listener6.bind(topo.server.addr[6], PORT);
    await listener6.listen();
    client6 = await topo.client.helper.socket(6);
    await client6.set('TCP_KEEPCNT', 3);
    await client6.connect(topo.server.addr[6], PORT);
    await client6.whenConnected(10_000);
  }, 60_000);
  afterAll(() => topo?.dispose());

  it.runIf(built)('reads what each socket holds and the sysctls of the namespace it lives in; listeners are counted, not reported', async () => {
    const { lines, exitCode } = await audit(['--pid', String(topo.client.helper.pid), '--pid', String(topo.server.helper.pid)]);
    expect(exitCode).toBe(0);
    const [cns, sns] = [nsInode(topo.client.netns), nsInode(topo.server.netns)];
    const netns = lines.filter((l) => l.ev === 'netns');
    expect(netns.map((l) => l.netns).sort()).toEqual([cns, sns].sort());
    expect(netns.find((l) => l.netns === cns)?.tcp_keepalive_time).toBe(4321);
    expect(netns.find((l) => l.netns === sns)?.tcp_keepalive_time).toBe(5678);
    for (const k of ['tcp_keepalive_intvl', 'tcp_keepalive_probes', 'tcp_retries2', 'tcp_syn_retries', 'tcp_fin_timeout', 'tcp_syn_linear_timeouts', 'tcp_early_retrans']) expect(netns[0]).toHaveProperty(k);
    // every netns line comes before any socket
    const lastNetns = lines.map((l) => l.ev).lastIndexOf('netns');
    expect(lastNetns).toBeLessThan(lines.findIndex((l) => l.ev === 'sock'));

    const socks = lines.filter((l) => l.ev === 'sock');
    const mine = socks.find((l) => l.pid === topo.client.helper.pid && l.family === 4);
    // listening 0: no listener holds its local port, it was connect()ed; sack 1: negotiated in the handshake
    expect(mine).toMatchObject({ netns: cns, family: 4, src: topo.client.addr[4], dst: topo.server.addr[4], dport: PORT, state: 'ESTABLISHED', timer: 'keepalive', listening: 0, sack: 1, ...options });
    expect(mine?.rto_us).toBeGreaterThan(0);
    expect(mine).not.toHaveProperty('read_error');
    expect(socks.find((l) => l.pid === topo.client.helper.pid && l.family === 6)).toMatchObject({ src: topo.client.addr[6], dst: topo.server.addr[6], dport: PORT, state: 'ESTABLISHED', SO_KEEPALIVE: 0, TCP_KEEPCNT: 3 });
    // the server holds its listeners and the accepted socket: only the latter is reported, with the server's namespace
    const theirs = socks.filter((l) => l.pid === topo.server.helper.pid);
    expect(theirs).toHaveLength(1);
    // listening 1: the server's listener holds its local port — an accepted connection
    expect(theirs[0]).toMatchObject({ netns: sns, sport: PORT, dst: topo.client.addr[4], dport: mine?.sport, state: 'ESTABLISHED', listening: 1, SO_KEEPALIVE: 0, TCP_KEEPIDLE: 5678 });
    expect(lines.filter((l) => l.ev === 'proc').map((l) => [l.pid, l.netns])).toEqual(
      expect.arrayContaining([
        [topo.client.helper.pid, cns],
        [topo.server.helper.pid, sns],
      ]),
    );
    expect(lines.at(-1)).toMatchObject({ ev: 'done', procs: 2, sockets: 3, listeners: 2, unreadable: 0 });
  });

  it.runIf(built)('--netns keeps the sockets living in that namespace only', async () => {
    const { lines, exitCode } = await audit(['--netns', `/run/netns/${topo.server.netns}`]);
    expect(exitCode).toBe(0);
    expect(lines.filter((l) => l.ev === 'netns').map((l) => l.netns)).toEqual([nsInode(topo.server.netns)]);
    const socks = lines.filter((l) => l.ev === 'sock');
    expect(socks.map((l) => l.pid)).toEqual([topo.server.helper.pid]);
    expect(lines.at(-1)).toMatchObject({ ev: 'done', sockets: 1, listeners: 2 });
  });

  // setpriv to another real uid needs the host's user namespace (rootless mode maps one uid only)
  it.runIf(built && !inUserNamespace())('what it may not read is said, never guessed: a process it may not list, a socket it may not duplicate, a namespace it may not enter', async () => {
    // a target without CAP_SYS_PTRACE and CAP_SYS_ADMIN either, in the client's namespace, connected to the server's listener
    const script = `import socket,os,signal\nc=socket.create_connection(('${topo.server.addr[4]}',${PORT}))\nc.setsockopt(socket.SOL_SOCKET,socket.SO_KEEPALIVE,1)\nprint(os.getpid(),flush=True)\nsignal.pause()`;
    const target = spawn('nsenter', [`--net=/run/netns/${topo.client.netns}`, ...TARGET, 'python3', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = Number(await new Promise<string>((resolve, reject) => {
        createInterface({ input: target.stdout }).once('line', resolve);
        target.once('exit', (code) => reject(new Error(`the target exited (${code}) before it connected`)));
      }));
      const { lines, exitCode } = await audit(['--pid', String(pid), '--pid', String(topo.client.helper.pid)], WEAK_AUDITOR);
      expect(exitCode).toBe(0);
      // the helper keeps CAP_SYS_PTRACE, which the auditor lacks: its descriptors cannot even be listed
      expect(lines).toContainEqual(expect.objectContaining({ ev: 'denied', pid: topo.client.helper.pid, what: 'fd-dir', error: 'EACCES' }));
      expect(lines.some((l) => l.ev === 'sock' && l.pid === topo.client.helper.pid)).toBe(false);
      // the target's socket: what sock_diag shows, and why its options are missing
      const sock = lines.find((l) => l.ev === 'sock' && l.pid === pid);
      expect(sock).toMatchObject({ state: 'ESTABLISHED', timer: 'keepalive', dport: PORT, read_error: 'EPERM', read_what: 'pidfd_getfd' });
      expect(sock).not.toHaveProperty('SO_KEEPALIVE');
      expect(lines.at(-1)).toMatchObject({ ev: 'done', sockets: 1, unreadable: 1 });

      // it may read the target, but not enter the namespace its sockets live in: said, sysctls and all
      const outside = await audit(['--pid', String(pid)], NO_SETNS_AUDITOR);
      expect(outside.exitCode).toBe(0);
      expect(outside.lines.slice(0, 2)).toEqual([
        expect.objectContaining({ ev: 'netns', netns: nsInode(topo.client.netns), error: 'EPERM', what: 'setns' }),
        expect.objectContaining({ ev: 'denied', pid, what: 'setns', error: 'EPERM' }),
      ]);
      expect(outside.lines[0]).not.toHaveProperty('tcp_keepalive_time');
      expect(outside.lines.at(-1)).toMatchObject({ ev: 'done', procs: 0, sockets: 0 });
    } finally {
      // by its pid (nsenter exec'd setpriv, which exec'd python), and waited for
      const gone = new Promise((resolve) => (target.exitCode !== null || target.signalCode !== null ? resolve(undefined) : target.once('exit', resolve)));
      target.kill('SIGTERM');
      await gone;
    }
  });

  it.runIf(built)('refuses bad arguments in one line, exit 2, before reading anything', async () => {
    const pid = String(topo.client.helper.pid);
    for (const [args, why] of [
      [['--pid', pid, '--pid', pid], /--pid \d+ given twice: name each process once/],
      [['--frobnicate'], /unknown argument "--frobnicate" \(usage: deadpeer-helper audit/],
      [[], /name what to audit: --pid N/],
      [['--pid', 'x1'], /--pid takes a process id/],
      [['--all', '--pid', pid], /give --all or the --pid list, not both/],
      [['--netns', '/proc/self/ns/uts'], /is not a network namespace/],
      [['--netns', '/dev/null'], /is not a network namespace/],
      [['--pid', '4194304'], /no process 4194304/],
    ] as const) {
      const r = await audit([...args]);
      expect(r.exitCode).toBe(2);
      expect(r.lines).toEqual([]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(why);
    }
  });
});
