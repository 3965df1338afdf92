import type { UserPhase } from '../../recipes/phases.js';
import type { TcpInfoRead } from '../socket-read.js';
import type { PhaseVerdict } from './model.js';

/**
 * What `deadpeer audit --json` prints and `audit()` returns (docs/API.md, "audit"). Times are
 * seconds from each phase's t = 0 (PHASE_ORIGIN: idle — the last packet from the peer; busy — the
 * first transmission of the unacknowledged data; zero-window — the peer's zero window; connect —
 * the first SYN), as in `check` and `exec`.
 */

/**
 * A connection's verdict, over every phase that applies to it:
 * - `never`: in some phase a vanished peer is never noticed (an idle connection without SO_KEEPALIVE);
 * - `slow`: every phase notices, one later than --max-detect (the window's late end);
 * - `notices`: every phase notices (within --max-detect, when given);
 * - `unreadable`: its options could not be read (pidfd_getfd): what sock_diag shows, no verdict;
 * - `unknown`: an input the model needs was not read (a sysctl of its namespace, its TCP_INFO);
 * - `closing`: a state the phases do not cover (FIN-WAIT, LAST-ACK, …): it is already going away.
 */
export type AuditVerdict = 'never' | 'slow' | 'notices' | 'unreadable' | 'unknown' | 'closing';
export const AUDIT_VERDICTS: readonly AuditVerdict[] = ['never', 'slow', 'notices', 'unreadable', 'unknown', 'closing'];

/** outbound: the program connected (the remote end is the service); inbound: it accepted (its own port is). */
export type Direction = 'outbound' | 'inbound';

export interface AuditConnection {
  pid: number;
  fd: number;
  /** the process's comm (/proc/PID/comm) */
  program: string;
  /** the inode of its network namespace */
  netns: number;
  inode: number;
  family: 4 | 6;
  /** "198.18.0.1:40312", "[2001:2::1]:40312" */
  local: string;
  remote: string;
  /** sock_diag's state: ESTABLISHED, SYN-SENT, CLOSE-WAIT, … */
  state: string;
  direction: Direction;
  /** the kernel's pending timer (sock_diag): its kind, when it fires (ms from the read), retransmissions / probes so far */
  timer: { kind: string; expiresMs: number; retrans: number };
  /** the options the socket really holds, named as exec's report names them; absent when unreadable */
  options?: Record<string, number>;
  /** its TCP_INFO (rto, rtt, what is in flight or waiting) */
  tcpInfo?: TcpInfoRead;
  /** why its options could not be read: the call and the errno */
  unreadable?: { what: string; errno: string };
  /** the phase it is in now (from sock_diag's timer and TCP_INFO); null for a state no phase covers */
  phaseNow: UserPhase | null;
  /** per phase that applies to its state (idle, busy, zero-window; connect for SYN-SENT): the model's answer, or why it has none */
  phases: Partial<Record<UserPhase, PhaseVerdict>>;
  verdict: AuditVerdict;
  /** unknown / closing / unreadable: why there is no verdict */
  why?: string;
}

/** One line of the summary: connections of a group that share a verdict and what the model says of them. */
export interface AuditFinding {
  connections: number;
  verdict: AuditVerdict;
  /** the sentence after the group's name: "an idle dead peer is never noticed — SO_KEEPALIVE off; …" */
  line: string;
  /** per phase, as for one of its connections */
  phases: Partial<Record<UserPhase, PhaseVerdict>>;
  /** the lines `deadpeer check` gives for this configuration */
  advice: string[];
  /** how many of them are in each phase now */
  phaseNow: Partial<Record<UserPhase | 'none', number>>;
}

/** Connections of one program (pid) to one remote endpoint (outbound), or accepted on one of its ports (inbound). */
export interface AuditGroup {
  program: string;
  pid: number;
  direction: Direction;
  /** outbound: the remote address and port */
  remoteAddress?: string;
  remotePort?: number;
  /** inbound: the program's own port (the clients' ephemeral ports are not a group) */
  localPort?: number;
  connections: number;
  verdicts: Partial<Record<AuditVerdict, number>>;
  findings: AuditFinding[];
}

export interface AuditNamespace {
  netns: number;
  /** the sysctls read inside it */
  sysctls?: Record<string, number>;
  /** sysctls its kernel has that could not be read */
  unreadSysctls?: string[];
  /** it could not be entered (setns) or dumped (sock_diag): the call and the errno */
  unread?: { what: string; errno: string };
}

export interface AuditReport {
  kernel: { release: string; hz: number };
  /** what was audited: the pids, or every process (all), optionally only sockets in one namespace */
  targets: { pids: number[]; all: boolean; netns?: string };
  /** --max-detect, s */
  maxDetectS?: number;
  namespaces: AuditNamespace[];
  connections: AuditConnection[];
  groups: AuditGroup[];
  verdicts: Record<AuditVerdict, number>;
  /** processes whose sockets could not even be listed: the call and the errno (--all as a normal user: other users' processes) */
  denied: Array<{ pid: number; what: string; errno: string }>;
  /** the reader's totals: processes reported, sockets, LISTEN sockets (counted, not judged), unreadable sockets, its own time */
  reader: { procs: number; sockets: number; listeners: number; unreadable: number; elapsedMs: number };
  /** how many phase answers the model really computed (the rest came from its memo) */
  modelComputations: number;
  /** --max-detect: the groups that fail it, in words (empty: it passed) */
  gate?: { maxDetectS: number; failed: string[] };
  /** the whole audit, reading and judging, ms */
  elapsedMs: number;
  /** 0, or 1 when --max-detect failed */
  exitCode: 0 | 1;
}
