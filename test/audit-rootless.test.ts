import { chmodSync, existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../harness/apps/audit/report.js';
import { ROOT } from '../harness/core/paths.js';
import { helperPath } from '../harness/helper/build.js';
import { type PeerProgram, VanishingPeer } from '../harness/engine/peer.js';
import { kernelCases, timeoutFor } from '../harness/vitest/cases.js';
import { inUserNamespace } from '../netns/userns.js';

/**
 * Who may audit what, on the kernel. A normal user audits its own processes — here a shell's
 * children, all of that user, and the auditor beside them in their network namespace — with no
 * capability at all; a process that is not its own is refused in one line that says what would
 * read it. As root, the same user given exactly CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH reads
 * anyone's sockets in its own namespace — CAP_SYS_PTRACE alone cannot list another user's
 * /proc/PID/fd — and needs CAP_SYS_ADMIN besides to enter another namespace (setns); CAP_NET_ADMIN
 * plays no part: sock_diag's dump is open to everyone. Rootless (CI's pass as uid 65534), the run is uid 0
 * of deadpeer's user namespace: its own children are read as root's are, and a process outside
 * (the host's pid 1) is refused.
 */
const built = existsSync(join(ROOT, 'dist', 'cli', 'audit.js'));
const CLIENT = join(ROOT, 'test', 'fixtures', 'audit', 'client.py');
const rootless = inUserNamespace();
const folders: string[] = [];
// rmdir, not rm -r, for the view: an empty mount point outside its own mount namespace
afterAll(() => folders.forEach((d) => (d === VIEW ? rmdirSync(d) : rmSync(d, { recursive: true, force: true }))));

/**
 * Where uid 65534 finds the checkout: a fresh clone often lies under a directory only root may enter
 * (a mkdtemp, /root), so as root the command runs in a mount namespace of its own (private: the
 * host's mounts are untouched) where the checkout is bind-mounted on a directory anyone may enter.
 */
const VIEW = rootless ? ROOT : mkdtempSync(join(tmpdir(), 'dp-audit-view-'));
if (!rootless) {
  chmodSync(VIEW, 0o755);
  folders.push(VIEW);
}
const BIN = join(VIEW, 'bin', 'deadpeer.js');

/** uid 65534 with only these capabilities (none: a normal user), or as it is when rootless (only uid 0 exists there). */
const as = (caps: string[] = []) =>
  rootless
    ? []
    : [
        ...['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', ROOT, VIEW],
        ...['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...(caps.length ? [`--inh-caps=${caps.map((c) => `+${c}`).join(',')}`, `--ambient-caps=${caps.map((c) => `+${c}`).join(',')}`] : []), '--'],
      ];

/** A program's whole output once it exited (peer.spawn collects it). */
async function finished(p: PeerProgram): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const x = await p.exited;
  const text = (s: 'stdout' | 'stderr') => p.lines.filter((l) => l.stream === s).map((l) => l.text).join('\n');
  return { code: x.exitCode, stdout: text('stdout'), stderr: text('stderr') };
}

describe.runIf(built)('deadpeer audit: privileges', () => {
  kernelCases('a normal user audits its own processes; what is not its own is refused in one line', () => {
    it('its own children, no capability: options read, judged; another user’s process: one line, exit 2', { timeout: timeoutFor(10) }, async () => {
      const peer = await VanishingPeer.start({ family: 4, name: 'audit-rootless' });
      const dir = mkdtempSync(join(tmpdir(), 'dp-audit-'));
      folders.push(dir);
      chmodSync(dir, 0o777);
      try {
        // the shell and everything it starts run as the same normal user, in the clients' namespace
        const script = [
          `python3 ${join(VIEW, CLIENT.slice(ROOT.length))} keepalive > ${dir}/a 2>&1 & a=$!`,
          `python3 ${join(VIEW, CLIENT.slice(ROOT.length))} plain > ${dir}/b 2>&1 & b=$!`,
          `for i in $(seq 100); do grep -q connected ${dir}/a && grep -q connected ${dir}/b && break; sleep 0.1; done`,
          `"$0" ${BIN} audit "$a" "$b" --json; st=$?`,
          'kill "$a" "$b"; wait; exit $st',
        ].join('\n');
        const own = await finished(peer.spawn([...as(), 'sh', '-c', script, process.execPath], { env: helperEnv() }));
        expect(own.stderr).toBe('');
        expect(own.code).toBe(0);
        const r = JSON.parse(own.stdout) as AuditReport;
        expect(r.connections.map((c) => [c.program, c.verdict, c.options?.SO_KEEPALIVE])).toEqual(
          expect.arrayContaining([
            ['python3', 'notices', 1],
            ['python3', 'never', 0],
          ]),
        );
        expect(r.connections).toHaveLength(2);
        expect(r.connections.every((c) => c.remote === peer.address && !c.unreadable)).toBe(true);

        // not its own: as root, a client of root's; rootless, the host's init, outside the run's user namespace
        const theirs = rootless ? undefined : peer.spawn(['python3', CLIENT, 'plain']);
        if (theirs) await waitFor(() => theirs.lines.some((l) => l.text === 'connected'));
        const target = theirs?.pid ?? 1;
        const refused = await finished(peer.spawn([...as(), process.execPath, BIN, 'audit', String(target)], { env: helperEnv() }));
        expect(refused.code).toBe(2);
        expect(refused.stdout).toBe('');
        expect(refused.stderr.split('\n')).toHaveLength(1);
        expect(refused.stderr).toMatch(new RegExp(`^deadpeer audit: pid ${target} \\(uid \\d+\\): its sockets cannot be read \\(/proc/${target}/fd: EACCES\\): .* — run it as root, or with CAP_SYS_PTRACE`));
      } finally {
        await peer.dispose();
      }
    });

    it.runIf(!rootless)('CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH read root’s sockets in their own namespace; another namespace takes CAP_SYS_ADMIN too; CAP_NET_ADMIN is not needed', { timeout: timeoutFor(10) }, async () => {
      const peer = await VanishingPeer.start({ family: 4, name: 'audit-caps' });
      try {
        const client = peer.spawn(['python3', CLIENT, 'keepalive']);
        await waitFor(() => client.lines.some((l) => l.text === 'connected'));
        const auditAs = async (caps: string[], inside: boolean) => {
          const cmd = [...as(caps), process.execPath, BIN, 'audit', String(client.pid), '--json'];
          // inside: beside it, in its namespace; else from the host's, where its sockets are a setns away
          return inside ? finished(peer.spawn(cmd, { env: helperEnv() })) : execa(...argv(cmd), { reject: false, env: helperEnv() }).then((r) => ({ code: r.exitCode ?? null, stdout: r.stdout, stderr: r.stderr }));
        };
        const read = (r: { stdout: string }) => (JSON.parse(r.stdout) as AuditReport).connections;
        const refusal = (what: string) => new RegExp(`^deadpeer audit: pid ${client.pid} \\(uid 0\\)${what}`);

        // /proc/PID/fd is root's, mode 0500: CAP_SYS_PTRACE alone cannot list it, nor can CAP_NET_ADMIN help
        for (const caps of [['sys_ptrace'], ['sys_ptrace', 'net_admin'], ['dac_read_search']]) {
          const r = await auditAs(caps, true);
          expect(r.code, caps.join('+')).toBe(2);
          expect(r.stderr).toMatch(refusal(': its sockets cannot be read \\(/proc/\\d+/fd: EACCES\\)'));
        }
        const both = await auditAs(['sys_ptrace', 'dac_read_search'], true);
        expect(both.stderr).toBe('');
        expect(read(both)).toMatchObject([{ pid: client.pid, options: { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5 }, verdict: 'notices' }]);
        // from outside its namespace, entering it is setns: CAP_SYS_ADMIN's
        const outside = await auditAs(['sys_ptrace', 'dac_read_search'], false);
        expect(outside.code).toBe(2);
        expect(outside.stderr).toMatch(refusal(' lives in another network namespace, which it takes CAP_SYS_ADMIN to enter \\(setns: EPERM\\)'));
        const all = await auditAs(['sys_ptrace', 'dac_read_search', 'sys_admin'], false);
        expect(all.stderr).toBe('');
        expect(read(all)).toMatchObject([{ pid: client.pid, verdict: 'notices' }]);
      } finally {
        await peer.dispose();
      }
    });
  });
});

const argv = (a: string[]): [string, string[]] => [a[0]!, a.slice(1)];

/**
 * The helper this run uses: a normal user cannot write beside a root-owned checkout's sources, and
 * would otherwise compile its own copy into its cache (helper/build.ts).
 */
const helperEnv = () => {
  const p = process.env.DEADPEER_HELPER ?? helperPath();
  return { DEADPEER_HELPER: p.startsWith(`${ROOT}/`) ? join(VIEW, p.slice(ROOT.length)) : p };
};

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!ok()) throw new Error('the client did not connect within 15 s');
}
