/**
 * The lines of the helper's `audit` mode (docs/DESIGN.md, "Audit"; the contract both sides were
 * written against): one flat JSON object a line — a network namespace's sysctls before any socket
 * in it, each audited process, each TCP socket with what sock_diag shows and, when pidfd_getfd and
 * getsockopt worked, its options and TCP_INFO; a process that could not even be listed; the totals.
 * Parsed and checked here, so the rest of audit works on typed values.
 */

/** The sysctls a `netns` line can carry (absent = the kernel has no such sysctl). */
export const NETNS_SYSCTLS = [
  'tcp_keepalive_time',
  'tcp_keepalive_intvl',
  'tcp_keepalive_probes',
  'tcp_retries1',
  'tcp_retries2',
  'tcp_syn_retries',
  'tcp_synack_retries',
  'tcp_orphan_retries',
  'tcp_fin_timeout',
  'tcp_syn_linear_timeouts',
  'tcp_rto_min_us',
  'tcp_rto_max_ms',
  'tcp_early_retrans',
] as const;
export type NetnsSysctl = (typeof NETNS_SYSCTLS)[number];

/** A network namespace met: its own sysctls, or why they could not be read. */
export interface NetnsLine {
  ev: 'netns';
  netns: number;
  sysctls?: Partial<Record<NetnsSysctl, number>>;
  /** sysctls the kernel has but the reader could not read, with the errno (`tcp_retries2_error`) */
  sysctlErrors?: Partial<Record<NetnsSysctl, string>>;
  /** it could not be entered: no sysctls */
  unread?: { what: string; errno: string };
  /** its sockets could not be dumped (sock_diag): none of them is reported */
  dumpError?: string;
}

export interface ProcLine {
  ev: 'proc';
  pid: number;
  comm: string;
  uid: number;
  netns: number;
}

/** sock_diag's pending timer (idiag_timer), by the reader's names ("unknown" for a value it has no name for). */
export type TimerKind = 'off' | 'retransmit' | 'keepalive' | 'time-wait' | 'zero-window-probe' | 'unknown';
const TIMERS: readonly TimerKind[] = ['off', 'retransmit', 'keepalive', 'time-wait', 'zero-window-probe', 'unknown'];

export interface SockLine {
  ev: 'sock';
  pid: number;
  fd: number;
  netns: number;
  inode: number;
  family: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  state: string;
  timer: TimerKind;
  expiresMs: number;
  retrans: number;
  /** a LISTEN socket in its namespace has its local port: it was accepted (absent = the reader did not say) */
  listening?: boolean;
  /** the whole line: the options and TCP_INFO keys as the reader names them (socket-read.ts reads them) */
  read: Record<string, unknown>;
  /** pidfd_open / pidfd_getfd failed: nothing but what sock_diag shows */
  unreadable?: { what: string; errno: string };
}

export interface DeniedLine {
  ev: 'denied';
  pid: number;
  what: string;
  errno: string;
}

export interface DoneLine {
  ev: 'done';
  procs: number;
  sockets: number;
  listeners: number;
  unreadable: number;
  elapsedMs: number;
}

export type ReaderLine = NetnsLine | ProcLine | SockLine | DeniedLine | DoneLine;

/** The reader said something this side cannot take: a bug on one side of the contract, never the user's. */
export class ReaderProtocolError extends Error {
  override name = 'ReaderProtocolError';
}

const num = (o: Record<string, unknown>, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ReaderProtocolError(`"${k}" is ${JSON.stringify(v)}, not a number`);
  return v;
};
const str = (o: Record<string, unknown>, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string') throw new ReaderProtocolError(`"${k}" is ${JSON.stringify(v)}, not a string`);
  return v;
};

/** One line of the reader's output; undefined for an event this version does not know (a newer reader may add some). */
export function parseReaderLine(line: string): ReaderLine | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new ReaderProtocolError(`not a JSON line: ${line.slice(0, 120)}`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ReaderProtocolError(`not a JSON object: ${line.slice(0, 120)}`);
  switch (o.ev) {
    case 'netns': {
      if (typeof o.error === 'string') return { ev: 'netns', netns: num(o, 'netns'), unread: { what: typeof o.what === 'string' ? o.what : 'setns', errno: o.error } };
      const sysctls: Partial<Record<NetnsSysctl, number>> = {};
      const sysctlErrors: Partial<Record<NetnsSysctl, string>> = {};
      for (const k of NETNS_SYSCTLS) {
        if (o[k] !== undefined) sysctls[k] = num(o, k);
        if (typeof o[`${k}_error`] === 'string') sysctlErrors[k] = o[`${k}_error`] as string;
      }
      return {
        ev: 'netns',
        netns: num(o, 'netns'),
        sysctls,
        ...(Object.keys(sysctlErrors).length ? { sysctlErrors } : {}),
        ...(typeof o.dump_error === 'string' ? { dumpError: o.dump_error } : {}),
      };
    }
    case 'proc':
      return { ev: 'proc', pid: num(o, 'pid'), comm: str(o, 'comm'), uid: num(o, 'uid'), netns: num(o, 'netns') };
    case 'sock': {
      const family = num(o, 'family');
      if (family !== 4 && family !== 6) throw new ReaderProtocolError(`"family" is ${family}, not 4 or 6`);
      const timer = str(o, 'timer');
      if (!(TIMERS as readonly string[]).includes(timer)) throw new ReaderProtocolError(`"timer" is ${JSON.stringify(timer)}: expected ${TIMERS.join(', ')}`);
      return {
        ev: 'sock',
        pid: num(o, 'pid'),
        fd: num(o, 'fd'),
        netns: num(o, 'netns'),
        inode: num(o, 'inode'),
        family,
        src: str(o, 'src'),
        sport: num(o, 'sport'),
        dst: str(o, 'dst'),
        dport: num(o, 'dport'),
        state: str(o, 'state'),
        timer: timer as TimerKind,
        expiresMs: num(o, 'expires_ms'),
        retrans: num(o, 'retrans'),
        ...(typeof o.listening === 'number' ? { listening: o.listening === 1 } : {}),
        read: o,
        ...(typeof o.read_error === 'string' ? { unreadable: { what: typeof o.read_what === 'string' ? o.read_what : 'pidfd_getfd', errno: o.read_error } } : {}),
      };
    }
    case 'denied':
      return { ev: 'denied', pid: num(o, 'pid'), what: str(o, 'what'), errno: str(o, 'error') };
    case 'done':
      return { ev: 'done', procs: num(o, 'procs'), sockets: num(o, 'sockets'), listeners: num(o, 'listeners'), unreadable: num(o, 'unreadable'), elapsedMs: num(o, 'elapsed_ms') };
    default:
      if (typeof o.ev !== 'string') throw new ReaderProtocolError(`a line without "ev": ${line.slice(0, 120)}`);
      return undefined;
  }
}
