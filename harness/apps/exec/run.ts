import { readdirSync, readFileSync, readlinkSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { evidenceLevel } from '../../core/evidence.js';
import { join } from 'node:path';
import { now } from '../../core/clock.js';
import type { Packet } from '../../core/observation.js';
import type { HelperEvent } from '../../core/protocol.js';
import type { Helper } from '../../helper/client.js';
import { type PeerConnection, VanishingPeer, type VanishKind } from '../../engine/peer.js';
import { predictBusy, tailLossProbeMs } from '../../model/busy.js';
import { predictIdle } from '../../model/idle.js';
import { predictSynSent } from '../../model/syn-sent.js';
import type { Prediction, SocketSettings, TcpSysctls } from '../../model/types.js';
import { predictZeroWindow } from '../../model/zero-window.js';
import { predictBlip } from '../../model/blip.js';
import { type UserPhase, ZERO_WINDOW_RCVBUF } from '../../recipes/phases.js';
import { matchingPresets } from '../check/presets.js';
import { asUser, type ProgramUser } from './user.js';
import type { Middlebox } from '../../model/middlebox.js';
import { predictPath } from '../../model/path.js';
import { middleboxResult } from '../check/middlebox.js';
import { type AppPath, judgePath } from './path.js';
import { optionsOf, sameOptions, settingsFrom } from '../socket-read.js';

/**
 * A real program under test (`deadpeer exec`): it runs in the client's namespace and connects to
 * a server in the other one; the harness finds its connection through the kernel (sock_diag),
 * reads what the program really set on the socket (pidfd_getfd + getsockopt), makes the peer
 * vanish when the connection is in the phase asked for, and then records two moments: when the
 * KERNEL aborted the socket (it left the kernel's tables) and when the PROGRAM noticed (it exited,
 * closed the socket, or printed an error) — or that it never did.
 */
export type AppFault = 'blackhole' | 'host-vanished' | 'peer-reset';
export const APP_FAULTS: readonly AppFault[] = ['blackhole', 'host-vanished', 'peer-reset'];

export interface AppSpec {
  phase: UserPhase;
  family: 4 | 6;
  /** argv of the program */
  command: string[];
  /** a shell command for the server's namespace; absent = the builtin server */
  server?: string;
  fault: AppFault;
  /** a blip: the fault lifts this many seconds after it was armed */
  blipS?: number;
  /** the client namespace's net.* sysctls (full names), set before the program starts */
  sysctls: Record<string, number>;
  /** longest wait for the kernel to abort, from the phase's start (s); default from the model */
  timeoutS?: number;
  /** how long the program gets to notice once the kernel aborted (s) */
  graceS?: number;
  /** record the program's setsockopt calls with strace, when it is installed */
  strace?: boolean;
  /** run the program as this user, not as root */
  user?: ProgramUser;
  /** phase idle: nobody vanishes; a router on the path forgets the idle connection (harness/engine/router.ts) */
  middlebox?: Middlebox;
  /** with a middlebox: do not wait for its expiry, answer with the model for the program's socket (and say why) */
  predictOnly?: string;
  /** each line the program prints, as it prints it */
  echo?: (line: AppLine) => void;
  /** progress lines */
  say?: (text: string) => void;
}

export interface AppLine {
  t: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface AskedOption {
  opt: string;
  value: string;
  /** "0" or the errno the call failed with */
  result: string;
}

export interface AppReport {
  /** whose half is measured: the program is the client (default) or, with --role server, the server */
  role?: 'client' | 'server';
  /** --role server: the server's half (harness/apps/exec/server-role.ts) */
  serverSide?: ServerSide;
  phase: UserPhase;
  family: 4 | 6;
  fault: AppFault;
  command: string[];
  server: string;
  kernel: { release: string; hz: number };
  /** the program's connection, as sock_diag and /proc show it; uid: the real uid of the process holding it */
  connection?: { src: string; sport: number; dst: string; dport: number; inode: number; pid: number; fd: number; uid?: number };
  /** the user the program was started as (exec --user); absent = as deadpeer itself */
  user?: { name: string; uid: number };
  /** getsockopt on the program's socket (via pidfd_getfd) when the peer vanished */
  options?: Record<string, number>;
  /** the program's setsockopt calls (strace), in order; absent = not recorded */
  asked?: AskedOption[];
  /** presets the socket's read-back settings match */
  presets: string[];
  settings?: SocketSettings;
  sysctls?: TcpSysctls;
  /** the model's prediction for this socket and phase; times from t.origin */
  prediction?: Prediction;
  /** CLOCK_MONOTONIC seconds */
  t: {
    start: number;
    connected?: number;
    fault?: number;
    /** t = 0 of the phase (the model's origin): the first SYN, the last packet received, the first unacked data, the zero window */
    origin?: number;
    kernelAbort?: number;
    /** --role server: the server process let go of its accepted socket (no process holds its fd any more): the first poll that saw it */
    serverReleased?: number;
    /** … and the poll before it, which still saw it held: the server let go in (serverReleasedAfter, serverReleased] */
    serverReleasedAfter?: number;
    /** --role server with --released: the first release probe that exited 0 ended here */
    released?: number;
    /** … and the last probe that still failed had started here: the resource went in (releasedAfter, released] */
    releasedAfter?: number;
    appNoticed?: number;
    exit?: number;
    end: number;
  };
  /** how the kernel ended the connection, read from the wire */
  kernelHow?: string;
  /** the errno the model expects the program to get */
  expectedErrno?: string | null;
  app: {
    exitCode: number | null;
    signal?: string;
    noticedBy?: 'exit' | 'fd closed' | 'output';
    noticedLine?: string;
    /** the errno the program showed (its name printed, or recognised from the message text) */
    errno?: string;
    errnoFrom?: 'name' | 'message';
    output: AppLine[];
  };
  /** the kernel killed the socket but the program still holds it and has shown nothing */
  unnoticed: boolean;
  /** --fault blip:D: the outage's seconds, when it healed (t.healed), and the model's verdict for it */
  blip?: {
    seconds: number;
    /** when the helpers were to lift it (the run's clock): the fault's arming + seconds */
    due?: number;
    healed?: number;
    predicted?: 'survives' | 'dies' | 'uncertain';
    /** how late the heal could come without changing the model's verdict (ms); absent: any lateness */
    allowedLateMs?: number;
  };
  /** the heal came later than the model's verdict allows: the run says so and passes no judgement */
  cannotJudge?: string;
  /** --middlebox: what the path did (the router's table, its counters, both legs) beside the model's answer (harness/apps/exec/path.ts) */
  path?: AppPath;
  /** what went wrong with the experiment itself (never connected, never reached the phase, …) */
  problems: string[];
  packets: Packet[];
  artifacts: { dir: string; pcap: string; json: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** --role server: what is measured of the server's half, beside AppReport's times and settings. */
export interface ServerSide {
  /** the client: its shell command (--client), or 'builtin' (a helper socket that connects and reads, or stops reading for zero-window) */
  client: string;
  /** the --released command, polled in the server's namespace */
  released?: string;
  /** the process that held the accepted socket when the client vanished (a forked child, for a PostgreSQL backend) */
  holder?: { pid: number; fd: number; uid?: number; comm?: string };
  /** how the server let go: it closed the fd (the process lives on) or the process exited */
  releasedBy?: 'fd closed' | 'exit';
  /** the server closed the socket before the kernel aborted it (its own timeout): sock_diag showed it leave ESTABLISHED */
  closedFirst?: boolean;
  /** predicted, not run: why (the model's abort lies beyond the run's budget) */
  notRun?: string;
  /** the run's budget (s): --timeout, else 300 fast / 1200 faithful */
  budgetS: number;
  /** the kernel's abort against the model's window for the close */
  verdict: 'agree' | 'differ' | 'cannot judge' | 'not run';
  verdictWhy: string;
  /** the model's window for the close (s from t = 0) */
  window?: [number, number];
  /** how many times --released ran */
  releaseProbes: number;
  /** the --client program's lines (the server's are in app.output) */
  clientOutput: AppLine[];
}

/** Which process holds the socket with this inode, and as which fd. */
export function socketOwner(inode: number): { pid: number; fd: number } | undefined {
  return socketHolders(inode, true)[0];
}

/** Every process holding the socket with this inode (the first only, with `first`), and as which fd. */
export function socketHolders(inode: number, first = false): Array<{ pid: number; fd: number }> {
  const target = `socket:[${inode}]`;
  const out: Array<{ pid: number; fd: number }> = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === target) {
          out.push({ pid: Number(p), fd: Number(fd) });
          if (first) return out;
        }
      } catch {
        /* closed while we looked */
      }
    }
  }
  return out;
}

/** A process's real uid, from /proc/PID/status; undefined once it is gone. */
export function realUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export const holds = (pid: number, fd: number, inode: number) => {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
  } catch {
    return false;
  }
};

const ERRNO_NAMES = ['ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ECONNREFUSED', 'EPIPE', 'ENETUNREACH', 'ECONNABORTED'];
const ERRNO_MESSAGES: [RegExp, string][] = [
  [/connection timed out|timed out/i, 'ETIMEDOUT'],
  [/connection reset by peer|reset by peer/i, 'ECONNRESET'],
  [/no route to host|host is unreachable/i, 'EHOSTUNREACH'],
  [/connection refused/i, 'ECONNREFUSED'],
  [/broken pipe/i, 'EPIPE'],
];
/** A line that reads like the program reporting a failure. */
const LOOKS_LIKE_ERROR = /error|errno|timed? ?out|reset|refused|unreachable|closed|fail|broken|\bE[A-Z]{4,}\b/i;

/** The errno a line of output shows: its name, else recognised from the strerror() text. */
export function errnoIn(text: string): { errno: string; from: 'name' | 'message' } | undefined {
  const name = ERRNO_NAMES.find((n) => new RegExp(`\\b${n}\\b`).test(text));
  if (name) return { errno: name, from: 'name' };
  const m = ERRNO_MESSAGES.find(([re]) => re.test(text));
  return m ? { errno: m[1], from: 'message' } : undefined;
}

/** strace -e trace=setsockopt lines: `setsockopt(3, SOL_TCP, TCP_KEEPIDLE, [5], 4) = 0` or `= -1 EINVAL (…)`. */
export function parseStrace(text: string, fd?: number): AskedOption[] {
  const out: AskedOption[] = [];
  for (const line of text.split('\n')) {
    const m = /setsockopt\((\d+), (\w+), (\w+), \[?([^\],]*)\]?, \d+\) = (-?\d+)(?: (E\w+))?/.exec(line);
    if (!m) continue;
    if (fd !== undefined && Number(m[1]) !== fd) continue;
    out.push({ opt: m[3]!, value: m[4]!, result: m[5] === '0' ? '0' : (m[6] ?? m[5]!) });
  }
  return out;
}

export async function runApp(spec: AppSpec): Promise<AppReport> {
  const say = spec.say ?? (() => undefined);
  const peer = await VanishingPeer.start({
    family: spec.family,
    ...(spec.server !== undefined ? { server: spec.server } : {}),
    // the builtin server reads (idle) or not (busy: it makes no difference once the peer is gone;
    // zero-window: it must not, and its small receive buffer closes the window in a few segments)
    serverReads: spec.phase === 'idle',
    ...(spec.phase === 'zero-window' ? { serverRcvbuf: ZERO_WINDOW_RCVBUF } : {}),
    // behind a middlebox the program's request must be able to get an answer once it gets through
    ...(spec.middlebox ? { middlebox: spec.middlebox, serverEchoes: spec.server === undefined } : {}),
    sysctls: spec.sysctls,
    name: spec.middlebox ? `exec-idle-${spec.middlebox.kind}-${spec.middlebox.mode}-ipv${spec.family}` : `exec-${spec.phase}-${spec.fault}-ipv${spec.family}`,
  });
  const kernel = peer.kernel;
  const artifacts = { ...peer.artifacts, json: join(peer.artifacts.dir, 'exec.json') };
  const report: AppReport = {
    phase: spec.phase,
    family: spec.family,
    fault: spec.fault,
    command: spec.command,
    server: spec.server ?? 'builtin',
    kernel: { release: kernel.release, hz: kernel.hz },
    presets: [],
    t: { start: now(), end: 0 },
    app: { exitCode: null, output: [] },
    unnoticed: false,
    problems: [],
    packets: [],
    artifacts,
  };
  const straceFile = join(artifacts.dir, 'setsockopt.strace');
  let router: { conntrack: AppPath['conntrack']; counters: Record<string, number>; rtoMs: number; tlpMs: (bytes: number) => number | undefined } | undefined;
  try {
    const c = peer.client;
    const sysctls = peer.sysctls;
    report.sysctls = sysctls;
    let healing: Promise<void> | undefined;
    if (spec.blipS !== undefined) report.blip = { seconds: spec.blipS };
    const vanish = async (kind: VanishKind) => {
      report.t.fault ??= await peer.vanish(kind);
      say(`${kind} armed`);
      // a blip lifts on time, whatever the phase logic is waiting for meanwhile: the helpers flip
      // back at the planned moment themselves (a timer here would be as late as this process)
      if (spec.blipS !== undefined && !healing) {
        const due = report.t.fault + spec.blipS;
        report.blip!.due = due;
        healing = peer
          .heal(due)
          .then((t) => {
            report.blip!.healed = t;
            say('healed');
          })
          .catch(() => undefined); // the run ended before the heal was due
      }
    };
    // connect: a blackhole here is the server never seeing the SYNs
    if (spec.phase === 'connect') await vanish(spec.fault === 'blackhole' ? 'drop-syn' : spec.fault);

    // the program
    const strace = spec.strace !== false && existsSync('/usr/bin/strace');
    // strace outside setpriv: it stays root, follows the program across the change of user and writes its log
    const user = spec.user;
    const program$ = user ? [...asUser(user), ...spec.command] : spec.command;
    const argv = strace ? ['strace', '-f', '-qq', '-e', 'trace=setsockopt', '-e', 'signal=none', '-o', straceFile, '--', ...program$] : program$;
    if (user) report.user = { name: user.name, uid: user.uid };
    const userEnv: Record<string, string> = user ? { HOME: user.home, USER: user.name, LOGNAME: user.name } : {};
    const program = peer.spawn(argv, { env: { DEADPEER_PHASE: spec.phase, ...userEnv }, ...(spec.echo ? { onLine: spec.echo } : {}) });
    report.app.output = program.lines;
    void program.exited.then((x) => {
      report.t.exit = x.t;
      report.app.exitCode = x.exitCode;
      if (x.signal) report.app.signal = x.signal;
    });
    const isDone = () => program.exit !== undefined;

    // find its connection
    const found = await peer.connection(15, isDone);
    if (!found) {
      report.problems.push(isDone() ? 'the program exited without connecting to DEADPEER_SERVER' : 'the program did not connect to DEADPEER_SERVER within 15 s');
      return report;
    }
    const owner = socketOwner(found.inode);
    if (!owner) report.problems.push(`no process holds the connection's socket (inode ${found.inode}): its options cannot be read`);
    const uid = owner ? realUid(owner.pid) : undefined;
    const conn = { src: found.src, sport: found.sport, dst: found.dst, dport: found.dport, inode: found.inode, pid: owner?.pid ?? -1, fd: owner?.fd ?? -1, ...(uid !== undefined ? { uid } : {}) };
    report.connection = conn;
    say(`found the program's connection ${conn.src}:${conn.sport} → ${conn.dst}:${conn.dport} (pid ${conn.pid}, fd ${conn.fd})`);
    const peek = async () => (owner ? peer.peek(owner.pid, owner.fd) : undefined);
    const clientAddrs = [peer.topo.client.addr[4], peer.topo.client.addr[6]];
    const fromClient = (e: HelperEvent) => clientAddrs.includes(String(e.src));
    const isOurs = (e: HelperEvent) => e.ev === 'packet' && (e.sport === conn.sport || e.dport === conn.sport);

    // bring the connection to its phase, then make the peer vanish
    if (spec.phase !== 'connect') {
      const est = await c
        .waitFor((e) => (e.ev === 'timer' && e.sport === conn.sport && e.state === 'ESTABLISHED') || (e.ev === 'gone' && e.sport === conn.sport), 10_000, 'the connection to be established')
        .catch(() => undefined);
      if (!est || est.ev === 'gone') {
        report.problems.push('the connection was never established');
        return report;
      }
      report.t.connected = est.t;
    }
    let info: HelperEvent | undefined;
    if (spec.phase === 'idle' || spec.phase === 'busy') {
      const q = await quiet(c, peek, isOurs, isDone);
      if ('why' in q) {
        report.problems.push(q.why);
        return report;
      }
      info = q.info;
      if (!spec.middlebox) await vanish(spec.fault);
    } else if (spec.phase === 'zero-window') {
      const zw = await c.waitFor((e) => isOurs(e) && !fromClient(e) && e.win === 0, 15_000, 'a zero window from the server').catch(() => undefined);
      if (!zw) {
        report.problems.push('the window never closed: the program did not write enough to fill the server’s receive buffer within 15 s');
        return report;
      }
      report.t.origin = zw.t;
      let n = 0;
      const probe2 = await c
        .waitFor((e) => isOurs(e) && fromClient(e) && e.flags === '.' && e.len === 0 && ++n === 2, 10_000, 'window probe #2', zw.t)
        .catch(() => undefined);
      if (!probe2) {
        report.problems.push('no second window probe after the window closed');
        return report;
      }
      info = await peek();
      await vanish(spec.fault);
    } else {
      info = await peek();
    }
    report.options = optionsOf(info);
    report.settings = settingsFrom(report.options, sysctls);
    report.presets = matchingPresets(report.settings, { keepIdle: sysctls.tcp_keepalive_time, keepIntvl: sysctls.tcp_keepalive_intvl, keepCnt: sysctls.tcp_keepalive_probes }).map((p) => p.name);

    if (spec.middlebox) {
      // t = 0: the last packet through the router before the program went quiet (conntrack counts from it)
      report.t.origin = c.events.filter(isOurs).at(-1)?.t;
      const m = spec.middlebox;
      const input = { sysctls, socket: report.settings, features: kernel, rtoMs: ((info?.rto_us as number) ?? 204_000) / 1000 };
      const ifItWrites = middleboxResult(input, m, undefined);
      const now0 = predictPath({ ...input, middlebox: m });
      report.path = pendingPath(m, ifItWrites.firstWrite, now0, spec.predictOnly);
      report.expectedErrno = now0.outcome.errno ?? ifItWrites.firstWrite.errno;
      say(`quiet; the model says the mapping is ${now0.mapping.kept === 'yes' ? 'kept' : now0.mapping.kept === 'race' ? 'a race' : 'lost'}: ${now0.mapping.why}`);
      if (spec.predictOnly) {
        say(spec.predictOnly);
        return report;
      }
      const origin = report.t.origin!;
      // the program's next transmission is the trigger: from it, the longest chain the model knows plus a margin
      const chainS = Math.max(0, (ifItWrites.path.outcome.noticeAtS ?? 0) - ifItWrites.firstWrite.atS, (now0.outcome.noticeAtS ?? 0) - (now0.trigger?.atS ?? 0));
      const base = origin + (spec.timeoutS ?? m.idleTimeoutS + 30);
      const deadline = (): number => {
        if (spec.timeoutS !== undefined) return base;
        const sent = c.events.find((e) => isOurs(e) && fromClient(e) && e.t > origin + 0.001);
        return sent ? Math.max(base, sent.t + chainS * 1.25 + 10) : base;
      };
      // the write's tail loss probe, as busy's (the write's size is known once it left)
      const earlyRetrans = Number(await c.sysctl('net.ipv4.tcp_early_retrans'));
      const sack = Number(await c.sysctl('net.ipv4.tcp_sack')) === 1 && Number(await peer.serverHelper.sysctl('net.ipv4.tcp_sack')) === 1;
      const tlpMs = (bytes: number) =>
        info
          ? tailLossProbeMs({ hz: kernel.hz, srttUs: info.rtt_us as number, packetsOut: Math.ceil(bytes / (info.snd_mss as number)), rtoMs: input.rtoMs, rtoMinUs: sysctls.tcp_rto_min_us ?? 200_000, earlyRetrans, sack })
          : undefined;
      await watchBoth(report, { peer, found, owner, isDone, since: origin, deadline, graceS: spec.graceS ?? 5, say });
      const r = peer.topo.router!;
      await r.helper.request({ cmd: 'ping' }).catch(() => undefined);
      router = { conntrack: r.conntrack(), counters: await r.dropCounters().catch(() => ({})), rtoMs: input.rtoMs, tlpMs };
      return report;
    }

    // t = 0 of the phase
    if (spec.phase === 'connect') {
      report.t.origin = c.events.find((e) => isOurs(e) && fromClient(e) && e.flags === 'S')?.t;
    } else if (spec.phase === 'idle') {
      report.t.origin = c.events.filter((e) => isOurs(e) && !fromClient(e) && e.t <= report.t.fault!).at(-1)?.t;
    } else if (spec.phase === 'busy') {
      const data = await c.waitFor((e) => isOurs(e) && fromClient(e) && (e.len as number) > 0, (spec.timeoutS ?? 60) * 1000, 'the program to send data', report.t.fault).catch(() => undefined);
      if (!data) {
        report.problems.push('the program sent nothing after the peer vanished: the connection stayed idle, not busy (try --phase idle)');
        return report;
      }
      // the write can race the fault: data sent just before it, whose ACK was dropped, is the unacknowledged data
      const ackedUpTo = c.events.filter((e) => isOurs(e) && !fromClient(e) && e.t <= report.t.fault!).at(-1)?.ack as number | undefined;
      const unacked = c.events.find((e) => isOurs(e) && fromClient(e) && (e.len as number) > 0 && (ackedUpTo === undefined || (((e.seq as number) - ackedUpTo) | 0) >= 0));
      report.t.origin = Math.min(data.t, unacked?.t ?? data.t);
      const tlpMs = info
        ? tailLossProbeMs({
            hz: kernel.hz,
            srttUs: info.rtt_us as number,
            packetsOut: Math.ceil((data.len as number) / (info.snd_mss as number)),
            rtoMs: (info.rto_us as number) / 1000,
            rtoMinUs: sysctls.tcp_rto_min_us ?? 200_000,
            earlyRetrans: Number(await c.sysctl('net.ipv4.tcp_early_retrans')),
            sack: Number(await c.sysctl('net.ipv4.tcp_sack')) === 1 && Number(await peer.serverHelper.sysctl('net.ipv4.tcp_sack')) === 1,
          })
        : undefined;
      report.prediction = predictBusy({ sysctls, socket: report.settings, features: kernel, rtoMs: (info?.rto_us as number) / 1000, ...(tlpMs === undefined ? {} : { tlpMs }) });
    }
    if (spec.phase !== 'busy') {
      const input = { sysctls, socket: report.settings, features: kernel, rtoMs: ((info?.rto_us as number) ?? 204_000) / 1000 };
      const goneAtS = report.t.fault! - (report.t.origin ?? report.t.fault!);
      report.prediction =
        spec.phase === 'zero-window'
          ? predictZeroWindow({ ...input, peer: 'gone', peerInvalidRateLimitMs: Number(await peer.serverHelper.sysctl('net.ipv4.tcp_invalid_ratelimit')), peerGoneAtS: goneAtS })
          : spec.phase === 'idle'
            ? predictIdle(input)
            : predictSynSent(input);
    }
    if (spec.blipS !== undefined && report.prediction && report.t.fault !== undefined) {
      const origin0 = report.t.origin ?? report.t.fault;
      const b = predictBlip(report.prediction, report.t.fault + spec.blipS - origin0, kernel.hz);
      report.prediction = b.prediction;
      report.blip!.predicted = b.survives === 'uncertain' ? 'uncertain' : b.survives ? 'survives' : 'dies';
      if (Number.isFinite(b.lateAllowanceS)) report.blip!.allowedLateMs = Math.max(0, b.lateAllowanceS * 1000);
    }
    report.expectedErrno = spec.fault === 'peer-reset' ? (spec.phase === 'connect' ? 'ECONNREFUSED' : 'ECONNRESET') : (report.prediction?.errno ?? null);
    const origin = report.t.origin ?? report.t.fault ?? now();
    const closeAt = report.prediction?.closeAt;
    // a survived blip is watched past the heal and the recovery, for the grace a program gets to react
    const blipWatch = spec.blipS !== undefined ? Math.max(report.t.fault! + spec.blipS - origin, report.prediction?.watchUntil ?? 0) + (spec.graceS ?? 5) : undefined;
    const deadline = origin + (spec.timeoutS ?? (closeAt !== null && closeAt !== undefined ? closeAt * 1.25 + 10 : (blipWatch ?? 30)));
    say(`phase ${spec.phase} reached; the model says: ${closeAt === null || closeAt === undefined ? 'never noticed' : `${report.prediction!.errno} ${closeAt.toFixed(3)} s after t = 0`}`);
    await watchBoth(report, { peer, found, owner, isDone, since: report.t.fault ?? origin, deadline, graceS: spec.graceS ?? 5, say });
    const late = report.blip?.healed !== undefined && report.blip.due !== undefined ? (report.blip.healed - report.blip.due) * 1000 : 0;
    if (report.blip?.allowedLateMs !== undefined && late > report.blip.allowedLateMs)
      report.cannotJudge = `the heal came ${late.toFixed(1)} ms late (${report.blip.allowedLateMs.toFixed(1)} ms could not change the model's answer): the run cannot judge this blip`;
    return report;
  } finally {
    report.t.end = now();
    await peer.dispose();
    report.app.output = [...report.app.output];
    report.packets = peer.packets();
    report.kernelHow = kernelHow(report);
    if (router && report.path && report.t.origin !== undefined) {
      const gone = report.connection ? peer.client.events.find((e) => e.ev === 'gone' && e.sport === report.connection!.sport && e.t >= report.t.origin!) : undefined;
      const serverLast = peer.serverHelper.events.filter((e) => e.ev === 'timer' || e.ev === 'gone').at(-1);
      const input = { sysctls: report.sysctls!, socket: report.settings!, features: kernel, middlebox: spec.middlebox!, rtoMs: router.rtoMs };
      report.path = {
        ...report.path,
        ...judgePath({
          middlebox: spec.middlebox!,
          hz: kernel.hz,
          origin: report.t.origin,
          end: report.t.end,
          packets: report.packets,
          serverLeg: peer.serverLeg(),
          conntrack: router.conntrack,
          counters: router.counters,
          ...(gone ? { abort: { t: gone.t, ...(typeof gone.alive_t === 'number' ? { aliveT: gone.alive_t } : {}) } } : {}),
          ...(serverLast ? { serverState: serverLast.ev === 'gone' ? 'gone' : String(serverLast.state) } : {}),
          ...(report.app.errno ? { appErrno: report.app.errno } : {}),
          predict: (writeAtS) => {
            const data = report.packets.find((p) => p.from === 'client' && p.kind === 'DATA' && p.t > report.t.origin!);
            const tlpMs = data ? router!.tlpMs(data.len) : undefined;
            return predictPath({ ...input, ...(writeAtS === undefined ? {} : { writeAtS }), ...(tlpMs === undefined ? {} : { tlpMs }) });
          },
        }),
      };
      report.expectedErrno = report.path.predicted!.outcome.errno;
    }
    if (existsSync(straceFile)) report.asked = parseStrace(readFileSync(straceFile, 'utf8'));
    const summaryOnly = evidenceLevel() === 'summary';
    // the raw log can hold a setsockopt's key material (TCP_MD5SIG, kTLS): only the parse stays
    if (summaryOnly) rmSync(straceFile, { force: true });
    writeFileSync(artifacts.json, JSON.stringify(summaryOnly ? forTheSummary(report) : report, null, 1));
  }
}

/** The path's part of the report before anything was observed: the model's answers only. */
function pendingPath(middlebox: Middlebox, ifItWrites: AppPath['ifItWrites'], predicted: AppPath['predicted'], notRun: string | undefined): AppPath {
  return {
    middlebox,
    ...(notRun ? { notRun } : {}),
    predicted,
    ...(ifItWrites ? { ifItWrites } : {}),
    mapping: { refreshes: 0, atEnd: 'never seen', ...(predicted ? { model: predicted.mapping.kept } : {}), verdict: 'cannot judge' },
    counters: {},
    met: notRun ? 'not run' : 'not observed',
    notice: { modelAtS: predicted?.outcome.noticeAtS ?? null, modelErrno: predicted?.outcome.errno ?? null, verdict: 'cannot judge', why: notRun ?? 'not observed' },
    server: { state: 'never seen', line: notRun ? 'not run' : 'not observed' },
    conntrack: [],
    serverLeg: [],
  };
}

const LEFT_OUT = '(left out: DEADPEER_EVIDENCE=summary)';

/**
 * exec.json at DEADPEER_EVIDENCE=summary: what the verdict rests on (times, settings, packets,
 * errno) without what the program was given or said — its argv, a --server command, the lines it
 * printed, and any setsockopt value that is not a plain number. The report the caller gets back is
 * untouched: only the file, which CI uploads, is cut.
 */
export function forTheSummary(r: AppReport): AppReport & { evidence: 'summary'; leftOut: string[] } {
  const { noticedLine: _line, ...app } = r.app;
  // --role server: the client's and the probe's commands, and what the client printed, are the user's too
  const side = r.serverSide
    ? { serverSide: { ...r.serverSide, ...(r.serverSide.client !== 'builtin' ? { client: LEFT_OUT } : {}), ...(r.serverSide.released !== undefined ? { released: LEFT_OUT } : {}), clientOutput: [] } }
    : {};
  return {
    ...r,
    ...side,
    evidence: 'summary',
    leftOut: ['command', 'server', 'app.output', 'app.noticedLine', 'setsockopt.strace', ...(r.serverSide ? ['serverSide.client', 'serverSide.released', 'serverSide.clientOutput'] : [])],
    command: [LEFT_OUT],
    server: r.server === 'builtin' ? r.server : LEFT_OUT,
    app: { ...app, output: [] },
    ...(r.asked ? { asked: r.asked.map((a) => (/^-?\d+$/.test(a.value) ? a : { ...a, value: LEFT_OUT })) } : {}),
  };
}

/**
 * Watch the kernel and the program until both have spoken (or the program exited, or the grace
 * after the kernel's abort ran out, or the deadline passed), then settle when the program noticed:
 * its output reaches us through a pipe, a little after it closed its socket or exited, so of the
 * signs seen the earliest counts.
 */
async function watchBoth(
  report: AppReport,
  w: { peer: VanishingPeer; found: PeerConnection; owner: { pid: number; fd: number } | undefined; isDone: () => boolean; since: number; deadline: number | (() => number); graceS: number; say: (t: string) => void },
): Promise<void> {
  const { peer, found, owner, isDone, since } = w;
  let fdClosedAt: number | undefined;
  const errorLine = () => report.app.output.find((l) => l.t >= since && LOOKS_LIKE_ERROR.test(l.text));
  for (;;) {
    if (report.t.kernelAbort === undefined) {
      report.t.kernelAbort = peer.abortedAt(found, since - 1);
      if (report.t.kernelAbort !== undefined) w.say('the kernel aborted the socket');
    }
    if (report.t.appNoticed === undefined) {
      const line = errorLine();
      const fdGone = owner && !isDone() && !holds(owner.pid, owner.fd, found.inode);
      if (line) Object.assign(report.app, { noticedBy: 'output', noticedLine: line.text }), (report.t.appNoticed = line.t);
      else if (isDone()) (report.app.noticedBy = 'exit'), (report.t.appNoticed = report.t.exit);
      else if (fdGone) (report.app.noticedBy = 'fd closed'), (report.t.appNoticed = fdClosedAt = now());
    }
    const t = now();
    if (isDone()) break;
    // a program that closed its socket usually says so a moment later (pg's pool: 'error' just
    // after the close) — a moment that can be seconds on a loaded machine: past a closed fd, its own
    // line is waited for until the grace runs out
    const settled = report.app.noticedBy !== 'fd closed' || errorLine() !== undefined;
    if (report.t.kernelAbort !== undefined && report.t.appNoticed !== undefined && settled && t > Math.max(report.t.kernelAbort, report.t.appNoticed) + 0.5) break;
    if (report.t.kernelAbort !== undefined && t > report.t.kernelAbort + w.graceS) break;
    if (t > (typeof w.deadline === 'number' ? w.deadline : w.deadline())) break;
    await sleep(20);
  }
  if (report.t.kernelAbort === undefined) {
    // the program's exit can reach us before the helper's report of the same abort: one more
    // sock_diag poll (every 5 ms), then a round trip that brings every event the helper wrote before it
    await sleep(10);
    await peer.client.request({ cmd: 'ping' }).catch(() => undefined);
    report.t.kernelAbort = peer.abortedAt(found, since - 1);
  }
  if (report.t.kernelAbort !== undefined && report.t.appNoticed === undefined) report.unnoticed = true;
  const line = errorLine();
  const signs: [number | undefined, 'output' | 'fd closed' | 'exit'][] = [
    [line?.t, 'output'],
    [fdClosedAt, 'fd closed'],
    [report.t.exit !== undefined && report.t.exit >= since ? report.t.exit : undefined, 'exit'],
  ];
  const first = signs.filter((x): x is [number, 'output' | 'fd closed' | 'exit'] => x[0] !== undefined).sort((x, y) => x[0] - y[0])[0];
  if (first) {
    report.t.appNoticed = first[0];
    report.app.noticedBy = first[1];
    if (line) report.app.noticedLine = line.text;
  }
  for (const l of report.app.output.filter((x) => x.t >= since)) {
    const e = errnoIn(l.text);
    if (e) {
      report.app.errno = e.errno;
      report.app.errnoFrom = e.from;
      break;
    }
  }
}

/** How the wire says the connection ended: an RST from the peer, an RST of its own (keepalive abort), or silence. */
function kernelHow(r: AppReport): string | undefined {
  if (r.t.kernelAbort === undefined) return undefined;
  const after = r.packets.filter((p) => p.t >= (r.t.fault ?? r.t.start) && p.t <= r.t.kernelAbort! + 0.01);
  if (after.some((p) => p.from === 'server' && p.kind === 'RST')) return r.path ? 'the middlebox answered with a RST (in the server\'s name): reset' : 'the peer answered with an RST: reset';
  if (after.some((p) => p.from === 'client' && p.kind === 'RST')) return 'timed out (keepalive or user timeout) and sent an RST';
  if (r.phase === 'connect') return 'connect() gave up retransmitting SYNs';
  return 'timed out silently (retransmission / probe budget or user timeout)';
}

/**
 * Wait until nothing is in flight or waiting on the program's socket and the wire has been silent
 * 300 ms: the socket as read then, or why it never was (said in the run's problems).
 */
export async function quiet(
  h: Helper,
  peek: () => Promise<HelperEvent | undefined>,
  isOurs: (e: HelperEvent) => boolean,
  done: () => boolean,
): Promise<{ info: HelperEvent } | { why: string }> {
  const deadline = now() + QUIET_WAIT_S;
  let last: string | undefined;
  while (now() < deadline && !done()) {
    const wire = h.events.filter(isOurs).at(-1)?.t ?? 0;
    if (now() - wire >= 0.3) {
      const info = await peek();
      if (!info) return UNREADABLE;
      // a program may still be setting options right after connecting (Node applies setKeepAlive on
      // 'connect'): the options must also hold still for a moment
      await sleep(300);
      const again = await peek();
      if (!again) return UNREADABLE;
      const silent = now() - (h.events.filter(isOurs).at(-1)?.t ?? 0) >= 0.3;
      if (sameOptions(again, info) && again.unacked === 0 && again.notsent_bytes === 0 && silent) return { info: again };
      last = !sameOptions(again, info) ? 'its options were still changing' : !silent ? 'packets still crossed' : `${again.unacked} segment(s) in flight, ${again.notsent_bytes} byte(s) not yet sent`;
    }
    await sleep(50);
  }
  if (done()) return { why: 'the program exited before the connection went quiet' };
  return { why: `the connection never went quiet (nothing in flight, the wire silent 300 ms) within ${QUIET_WAIT_S} s${last ? `: at the last look ${last}` : ''}` };
}
const UNREADABLE = { why: 'its socket could not be read (no process holds it any more, or pidfd_getfd failed)' };
/** How long a connection gets to go quiet (idle, busy): a program that has just connected may still be talking. */
const QUIET_WAIT_S = 10;

