import { readFileSync } from 'node:fs';

/**
 * Who may audit what, said plainly before anything is read. Reading a socket's options is
 * pidfd_getfd, a ptrace attach (PTRACE_MODE_ATTACH_REALCREDS); listing a process's descriptors
 * (/proc/PID/fd) and opening its namespace are ptrace reads; entering another network namespace
 * (its sysctls, its sockets' sock_diag) is setns, which wants CAP_SYS_ADMIN. So: root, or
 * CAP_SYS_PTRACE (+ CAP_SYS_ADMIN for other namespaces); a normal user reads its own processes
 * where Yama (kernel.yama.ptrace_scope) lets a process attach to a non-descendant — deadpeer's
 * reader is a child of deadpeer, never an ancestor of the programs it audits.
 */

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;

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

const AS_ROOT = 'run it as root, or with CAP_SYS_PTRACE (+ CAP_SYS_ADMIN for sockets in other network namespaces)';

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
  const own = owner === f.uid && !hasCap(f, CAP_SYS_PTRACE);
  const yama = f.yama === undefined ? 'no Yama' : `kernel.yama.ptrace_scope = ${f.yama}`;
  const reason = own
    ? `it is yours, but not readable to you (${yama}; a process that made itself non-dumpable, or changed its credentials, takes CAP_SYS_PTRACE)`
    : hasCap(f, CAP_SYS_PTRACE)
      ? `CAP_SYS_PTRACE here does not reach it (${yama}; a process of a parent user namespace)`
      : `without CAP_SYS_PTRACE only your own processes' sockets can be read (${yama})`;
  return `pid ${d.pid}${whose}: its sockets cannot be read (${d.what === 'fd-dir' ? `/proc/${d.pid}/fd` : d.what}: ${d.errno}): ${reason} — ${AS_ROOT}`;
}
