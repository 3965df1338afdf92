import { readFileSync } from 'node:fs';

/**
 * Who may audit what, said plainly before anything is read. Listing a process's descriptors is
 * reading /proc/PID/fd, a directory only its owner may read (mode 0500: CAP_DAC_READ_SEARCH for
 * anyone else); resolving each one and opening its namespace are ptrace reads, and reading a
 * socket's options is pidfd_getfd, a ptrace attach (CAP_SYS_PTRACE for another user's process);
 * entering another network namespace (its sysctls, its sockets' sock_diag) is setns, CAP_SYS_ADMIN's.
 * sock_diag's dump itself is open to everyone: CAP_NET_ADMIN plays no part (measured by
 * test/audit-rootless.test.ts). A normal user reads its own processes where Yama
 * (kernel.yama.ptrace_scope) lets a process attach to a non-descendant — deadpeer's reader is a
 * child of deadpeer, never an ancestor of the programs it audits.
 */

export const CAP_DAC_READ_SEARCH = 2;
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;

/** What reads every socket of every namespace without root: the deployments of docs/audit grant exactly these. */
export const READER_CAPABILITIES = ['CAP_SYS_PTRACE', 'CAP_DAC_READ_SEARCH', 'CAP_SYS_ADMIN'] as const;

export interface AuditorFacts {
  uid: number;
  /** the effective capability set (/proc/self/status CapEff) */
  caps: bigint;
  /** kernel.yama.ptrace_scope; undefined = no Yama */
  yama?: number;
}

export const hasCap = (f: Pick<AuditorFacts, 'caps'>, cap: number): boolean => ((f.caps >> BigInt(cap)) & 1n) === 1n;

/** This process's facts. */
export function auditorFacts(): AuditorFacts {
  const status = readFileSync('/proc/self/status', 'utf8');
  const caps = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? process.getuid?.() ?? 0);
  let yama: number | undefined;
  try {
    yama = Number(readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim());
  } catch {
    yama = undefined;
  }
  return { uid, caps, ...(yama !== undefined ? { yama } : {}) };
}

/** What reads everyone's sockets, in the words every refusal ends with. */
export const AS_ROOT = 'run it as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (+ CAP_SYS_ADMIN for sockets in other network namespaces)';

/** Why this auditor can read no socket at all, in one line naming the setting; undefined when it can read some. */
export function privilegeProblem(f: AuditorFacts): string | undefined {
  if (f.yama === 3) return 'kernel.yama.ptrace_scope = 3: no process may read another\'s sockets (pidfd_getfd is a ptrace attach), not even root — only a reboot lowers it';
  if (hasCap(f, CAP_SYS_PTRACE)) return undefined;
  if (f.yama === 2) return `kernel.yama.ptrace_scope = 2: only CAP_SYS_PTRACE may read another process's sockets — ${AS_ROOT}`;
  if (f.yama === 1)
    return `kernel.yama.ptrace_scope = 1: a normal user may read only the sockets of its own descendants, and deadpeer's reader is none of the audited programs' ancestor — ${AS_ROOT}, or set kernel.yama.ptrace_scope = 0`;
  return undefined;
}

/** The one line for a named process whose sockets could not be listed or whose namespace could not be entered. */
export function deniedLine(d: { pid: number; what: string; errno: string }, f: AuditorFacts, owner: number | undefined): string {
  const whose = owner === undefined ? '' : ` (uid ${owner})`;
  if (d.what === 'setns') return `pid ${d.pid}${whose} lives in another network namespace, which it takes CAP_SYS_ADMIN to enter (setns: ${d.errno}) — ${AS_ROOT}`;
  const [ptrace, dac] = [hasCap(f, CAP_SYS_PTRACE), hasCap(f, CAP_DAC_READ_SEARCH)];
  const yama = f.yama === undefined ? 'no Yama' : `kernel.yama.ptrace_scope = ${f.yama}`;
  const reason =
    owner === f.uid && !ptrace
      ? `it is yours, but not readable to you (${yama}; a process that made itself non-dumpable, or changed its credentials, takes CAP_SYS_PTRACE)`
      : !ptrace && !dac
        ? `without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only your own processes' sockets can be read (${yama})`
        : !dac
          ? "listing another user's descriptors (/proc/PID/fd, mode 0500) takes CAP_DAC_READ_SEARCH besides CAP_SYS_PTRACE"
          : !ptrace
            ? `resolving another user's descriptors and reading its sockets take CAP_SYS_PTRACE besides CAP_DAC_READ_SEARCH (${yama})`
            : `the capabilities here do not reach it (${yama}; a process of a parent user namespace)`;
  const where = d.what === 'fd-dir' ? `/proc/${d.pid}/fd` : d.what === 'ns' ? `/proc/${d.pid}/ns/net` : d.what;
  return `pid ${d.pid}${whose}: its sockets cannot be read (${where}: ${d.errno}): ${reason} — ${AS_ROOT}`;
}
