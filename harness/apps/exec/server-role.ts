import { readFileSync, writeFileSync } from 'node:fs';
import { exiting } from '../../engine/process-tree.js';
import { join } from 'node:path';
import { execa } from 'execa';
import { now } from '../../core/clock.js';
import type { HelperEvent } from '../../core/protocol.js';
import type { TestSocket } from '../../helper/client.js';
import { VanishingPeer } from '../../engine/peer.js';
import { PORT } from '../../engine/topology.js';
import { windows } from '../../judge/verdict.js';
import { predictBusy, tailLossProbeMs } from '../../model/busy.js';
import { predictIdle } from '../../model/idle.js';
import type { Prediction } from '../../model/types.js';
import { predictZeroWindow } from '../../model/zero-window.js';
import { ZERO_WINDOW_RCVBUF } from '../../recipes/phases.js';
import { humanDuration } from '../check/advice.js';
import { matchingPresets } from '../check/presets.js';
import { evidenceLevel } from '../../core/evidence.js';
import { type AppLine, type AppReport, forTheSummary, holds, quiet, realUid, socketHolders } from './run.js';
import { optionsOf, settingsFrom } from '../socket-read.js';

/**
 * `exec --role server`: the program under test is the SERVER. It runs in the server's namespace
 * (DEADPEER_LISTEN, as --server does); a client — the builtin one, a helper socket, or the user's
 * `--client CMD` in the client's namespace — connects, brings the connection to its phase, and
 * vanishes. Measured on the one clock: the accepted socket's options as the server's process holds
 * them (found by the client's port in the server's namespace, read through pidfd_getfd in whichever
 * process holds it — a forked child, for a PostgreSQL backend), the kernel's abort of that socket
 * (it left the server namespace's tables, sock_diag), the server's release of it (no process holds
 * its fd any more), and with `--released CMD` when the resource the client held was free.
 */
export type ServerPhase = 'idle' | 'busy' | 'zero-window';
export const SERVER_PHASES: readonly ServerPhase[] = ['idle', 'busy', 'zero-window'];
export type ServerFault = 'blackhole' | 'host-vanished';
export const SERVER_FAULTS: readonly ServerFault[] = ['blackhole', 'host-vanished'];

export interface ServerAppSpec {
  phase: ServerPhase;
  family: 4 | 6;
  /** argv of the server (run through a shell, each word quoted) */
  command: string[];
  /** a shell command for the client's namespace (DEADPEER_SERVER, …); absent = the builtin client */
  client?: string;
  /** a shell command for the server's namespace: exit 0 = the resource the client held is free */
  released?: string;
  fault: ServerFault;
  /** the server namespace's net.* sysctls (full names), set before the server starts */
  serverSysctls: Record<string, number>;
  /** --timeout: the longest wait after t = 0; given, the run also watches a server the kernel would never free */
  timeoutS?: number;
  /** the run's budget when no --timeout (300 s fast, 1200 s faithful) */
  budgetS: number;
  graceS?: number;
  echo?: (line: AppLine) => void;
  say?: (text: string) => void;
}

/** How often --released is run (ms between the starts of two probes). */
export const RELEASE_PROBE_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** argv → one shell command, each word single-quoted (a lone word is taken as a shell command as it is). */
export function shellCommand(argv: string[]): string {
  if (argv.length === 1) return argv[0]!;
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

export async function runServerApp(spec: ServerAppSpec): Promise<AppReport> {
  const say = spec.say ?? (() => undefined);
  const server = shellCommand(spec.command);
  const peer = await VanishingPeer.start({
    family: spec.family,
    server,
    serverSysctls: spec.serverSysctls,
    name: `exec-server-${spec.phase}-${spec.fault}-ipv${spec.family}`,
  });
  const kernel = peer.kernel;
  const artifacts = { ...peer.artifacts, json: join(peer.artifacts.dir, 'exec.json') };
  const side: NonNullable<AppReport['serverSide']> = {
    client: spec.client ?? 'builtin',
    ...(spec.released !== undefined ? { released: spec.released } : {}),
    budgetS: spec.timeoutS ?? spec.budgetS,
    verdict: 'cannot judge',
    verdictWhy: 'not observed',
    releaseProbes: 0,
    clientOutput: [],
  };
  const report: AppReport = {
    role: 'server',
    serverSide: side,
    phase: spec.phase,
    family: spec.family,
    fault: spec.fault,
    command: spec.command,
    server,
    kernel: { release: kernel.release, hz: kernel.hz },
    presets: [],
    t: { start: now(), end: 0 },
    app: { exitCode: null, output: peer.serverLines },
    unnoticed: false,
    problems: [],
    packets: [],
    artifacts,
  };
  let probing: Promise<void> | undefined;
  let stopProbing = false;
  try {
    const c = peer.client;
    const s = peer.serverHelper;
    const sysctls = await peer.serverSysctlsRead();
    report.sysctls = sysctls;

    // the client
    let program: ReturnType<VanishingPeer['spawn']> | undefined;
    let sock: TestSocket | undefined;
    if (spec.client !== undefined) {
      program = peer.spawn(['sh', '-c', spec.client], { env: { DEADPEER_PHASE: spec.phase }, ...(spec.echo ? { onLine: spec.echo } : {}) });
      side.clientOutput = program.lines;
    } else {
      sock = await c.socket(spec.family);
      // zero-window: a small receive buffer that is never read closes the window in a few segments
      if (spec.phase === 'zero-window') await sock.set('SO_RCVBUF', ZERO_WINDOW_RCVBUF);
      await sock.connect(peer.host, PORT);
      if (spec.phase !== 'zero-window') await sock.read(true);
    }
    const isDone = () => program?.exit !== undefined;
    const found = await peer.connection(15, isDone);
    if (!found) {
      report.problems.push(program ? (isDone() ? 'the client exited without connecting to DEADPEER_SERVER' : 'the client did not connect to DEADPEER_SERVER within 15 s') : 'the builtin client did not connect within 15 s');
      return report;
    }
    // the accepted socket: in the server's namespace, the connection whose remote port is the client's
    const d = await acceptedSocket(s, found.sport, isDone);
    if (typeof d === 'string') {
      report.problems.push(d);
      return report;
    }
    const inode = d.inode as number;
    const est = await s.waitFor((e) => (e.ev === 'timer' && e.dport === found.sport && e.state === 'ESTABLISHED') || (e.ev === 'gone' && e.dport === found.sport), 10_000, 'the accepted connection').catch(() => undefined);
    if (!est || est.ev === 'gone') {
      report.problems.push('the server never held the connection established');
      return report;
    }
    report.t.connected = est.t;
    peer.noteProcesses();
    // the resource must be held before the client goes, or its release means nothing; the client
    // takes it at its own pace once connected (psql connects, then sends its LOCK)
    if (spec.released !== undefined) {
      const held = await untilHeld(peer, spec.released, side, isDone);
      if (held === undefined) {
        report.problems.push(
          isDone()
            ? 'the client exited while --released still succeeded: the resource was never held, so its release cannot be measured'
            : `--released still succeeds ${HOLD_WAIT_S} s after the client connected: the resource is not held, so its release cannot be measured`,
        );
        return report;
      }
      report.t.releasedAfter = held;
    }
    // a forking server: the parent accepts, the child inherits, the parent closes its copy — the
    // holder is the process still holding it a moment later, the newest one when several do
    const holderNow = () => socketHolders(inode).sort((a, b) => b.pid - a.pid)[0];
    let holder = holderNow();
    // a holder can let go between the scan and the read (the parent's close after its fork, when
    // the scan ran before the child was in /proc): a failed read is a reason to look again
    let peekError: string | undefined;
    const peek = async () => {
      for (let attempt = 0; attempt < PEEK_ATTEMPTS; attempt++) {
        if (attempt) await sleep(20);
        holder = holderNow() ?? holder;
        if (!holder) {
          peekError = 'no process holds it';
          continue;
        }
        const { pid, fd } = holder;
        const info = await s.request({ cmd: 'peeksock', pid, fd }).catch((e: Error) => {
          peekError = `pid ${pid} fd ${fd}: ${e.message}`;
          return undefined;
        });
        if (info) return info;
      }
      return undefined;
    };
    const clientAddrs = [peer.topo.client.addr[4], peer.topo.client.addr[6]];
    const fromClient = (e: HelperEvent) => clientAddrs.includes(String(e.src));
    const isOurs = (e: HelperEvent) => e.ev === 'packet' && (e.sport === found.sport || e.dport === found.sport);
    const serverData = (e: HelperEvent) => isOurs(e) && !fromClient(e) && (e.len as number) > 0;

    // bring the connection to its phase (the fault is armed below, once the model has answered)
    let info: HelperEvent | undefined;
    if (spec.phase === 'idle') {
      const q = await quiet(c, peek, isOurs, isDone);
      if ('why' in q) {
        report.problems.push(peekError ? `${q.why} — ${peekError}` : q.why);
        return report;
      }
      info = q.info;
    } else {
      const first = await c.waitFor(serverData, 15_000, 'the server to send', report.t.connected).catch(() => undefined);
      if (!first) {
        report.problems.push(`the server sent nothing within 15 s: phase ${spec.phase} needs a server that sends (a --client that asks for a stream, or a server that sends on its own)`);
        return report;
      }
      if (spec.phase === 'zero-window') {
        // the client stays alive but stops reading: the builtin never read; a --client is stopped
        if (program) process.kill(-program.pid, 'SIGSTOP');
        const zw = await c.waitFor((e) => isOurs(e) && fromClient(e) && e.win === 0, 15_000, 'a zero window from the client').catch(() => undefined);
        if (!zw) {
          report.problems.push('the window never closed: the server did not send enough to fill the client’s receive buffer within 15 s');
          return report;
        }
        report.t.origin = zw.t;
        let n = 0;
        const probe2 = await c.waitFor((e) => isOurs(e) && !fromClient(e) && e.flags === '.' && e.len === 0 && ++n === 2, 10_000, 'window probe #2', zw.t).catch(() => undefined);
        if (!probe2) {
          report.problems.push('the server sent no second window probe after the window closed');
          return report;
        }
      }
      info = await peek();
    }
    if (!holder) {
      report.problems.push(`no process holds the accepted socket (inode ${inode}): its options cannot be read`);
      return report;
    }
    const uid = realUid(holder.pid);
    const name = comm(holder.pid);
    side.holder = { ...holder, ...(uid !== undefined ? { uid } : {}), ...(name ? { comm: name } : {}) };
    report.connection = { src: String(d.src), sport: d.sport as number, dst: String(d.dst), dport: d.dport as number, inode, pid: holder.pid, fd: holder.fd, ...(uid !== undefined ? { uid } : {}) };
    say(`found the server's accepted socket ${report.connection.src}:${report.connection.sport} ← ${report.connection.dst}:${report.connection.dport} (pid ${holder.pid}${name ? ` ${name}` : ''}, fd ${holder.fd})`);
    report.options = optionsOf(info);
    report.settings = settingsFrom(report.options, sysctls);
    report.presets = matchingPresets(report.settings, { keepIdle: sysctls.tcp_keepalive_time, keepIntvl: sysctls.tcp_keepalive_intvl, keepCnt: sysctls.tcp_keepalive_probes }).map((p) => p.name);

    const rtoMs = ((info?.rto_us as number) ?? 204_000) / 1000;
    const input = { sysctls, socket: report.settings, features: kernel, rtoMs };
    const early = async () => ({
      earlyRetrans: Number(await s.sysctl('net.ipv4.tcp_early_retrans')),
      sack: Number(await s.sysctl('net.ipv4.tcp_sack')) === 1 && Number(await c.sysctl('net.ipv4.tcp_sack')) === 1,
    });
    // the model's answer before anything is armed: beyond the budget it is predicted, not run
    const tlp = async (bytes: number) => {
      if (!info) return undefined;
      const e = await early();
      return tailLossProbeMs({ hz: kernel.hz, srttUs: info.rtt_us as number, packetsOut: Math.max(1, Math.ceil(bytes / (info.snd_mss as number))), rtoMs, rtoMinUs: sysctls.tcp_rto_min_us ?? 200_000, ...e });
    };
    const predict = async (bytes: number, goneAtS = 0): Promise<Prediction> => {
      if (spec.phase === 'idle') return predictIdle(input);
      if (spec.phase === 'busy') {
        const tlpMs = await tlp(bytes);
        return predictBusy({ ...input, ...(tlpMs === undefined ? {} : { tlpMs }) });
      }
      return predictZeroWindow({ ...input, peer: 'gone', peerInvalidRateLimitMs: Number(await c.sysctl('net.ipv4.tcp_invalid_ratelimit')), peerGoneAtS: goneAtS });
    };
    report.prediction = await predict(Number(info?.snd_mss ?? 1448));
    const closeAt = report.prediction.closeAt;
    if ((closeAt === null || closeAt > side.budgetS) && spec.timeoutS === undefined) {
      side.notRun =
        closeAt === null
          ? `the kernel would never abort the accepted socket with these settings (${report.prediction.errno ?? 'no timer'}): predicted, not run (--timeout D watches the server's own release for D)`
          : `the kernel would abort the accepted socket ≈ ${humanDuration(closeAt)} after t = 0, beyond the run's budget ${humanDuration(side.budgetS)}: predicted, not run (--timeout sets the budget)`;
      side.verdict = 'not run';
      side.verdictWhy = side.notRun;
      report.expectedErrno = report.prediction.errno;
      say(side.notRun);
      return report;
    }

    // the client vanishes
    report.t.fault = await peer.vanish(spec.fault);
    say(`the client vanished (${spec.fault})`);
    if (spec.phase === 'idle') {
      report.t.origin = c.events.filter((e) => isOurs(e) && fromClient(e) && e.t <= report.t.fault!).at(-1)?.t;
    } else if (spec.phase === 'busy') {
      const data = await c.waitFor(serverData, (spec.timeoutS ?? 60) * 1000, 'the server to send', report.t.fault).catch(() => undefined);
      if (!data) {
        report.problems.push('the server sent nothing after the client vanished: the connection stayed idle, not busy (try --phase idle)');
        return report;
      }
      // data sent just before the fault, whose ACK was dropped, is the unacknowledged data
      const ackedUpTo = c.events.filter((e) => isOurs(e) && fromClient(e) && e.t <= report.t.fault!).at(-1)?.ack as number | undefined;
      const unacked = c.events.find((e) => serverData(e) && (ackedUpTo === undefined || (((e.seq as number) - ackedUpTo) | 0) >= 0));
      report.t.origin = Math.min(data.t, unacked?.t ?? data.t);
      report.prediction = await predict((unacked ?? data).len as number);
    } else {
      report.prediction = await predict(0, report.t.fault - report.t.origin!);
    }
    report.expectedErrno = report.prediction.errno;
    const origin = report.t.origin ?? report.t.fault;
    const close = report.prediction.closeAt;
    const deadline = origin + (spec.timeoutS ?? (close !== null ? close * 1.25 + 10 : 30));
    say(`phase ${spec.phase} reached; the model says: ${close === null ? 'never aborted' : `${report.prediction.errno} ${close.toFixed(3)} s after t = 0`}`);

    // --released, polled: one probe at a time, a new one every RELEASE_PROBE_MS
    if (spec.released !== undefined) {
      const cmd = spec.released;
      probing = (async () => {
        const free = (r: Probe) => {
          if (!r.ok) report.t.releasedAfter = r.start;
          return r.ok;
        };
        const got = await probeEvery(peer, cmd, side, free, () => stopProbing);
        if (got) report.t.released = got.end;
      })();
    }
    const graceS = spec.graceS ?? 5;
    const gone = () => s.events.find((e) => e.ev === 'gone' && e.dport === found.sport && e.t >= report.t.fault! - 1)?.t;
    for (;;) {
      report.t.kernelAbort ??= gone();
      // a poll is stamped before it looks: "still held" as of then, "let go" by the time it is stamped
      const polled = now();
      if (report.t.serverReleased === undefined && holds(holder.pid, holder.fd, inode)) report.t.serverReleasedAfter = polled;
      else if (report.t.serverReleased === undefined) {
        const other = holderNow();
        if (other) holder = other;
        else {
          // a poll that comes late (this process preempted) widens the interval, it does not move it
          report.t.serverReleased = now();
          side.releasedBy = exiting(holder.pid) ? 'exit' : 'fd closed';
          say(`the server let go of the socket (${side.releasedBy})`);
        }
      }
      const t = now();
      const releasedKnown = spec.released === undefined || report.t.released !== undefined;
      const last = Math.max(report.t.kernelAbort ?? 0, report.t.serverReleased ?? 0, report.t.released ?? 0);
      if (report.t.kernelAbort !== undefined && report.t.serverReleased !== undefined && releasedKnown && t > last + 0.3) break;
      if (report.t.kernelAbort === undefined && report.t.serverReleased !== undefined && releasedKnown && t > last + graceS) break;
      if (report.t.kernelAbort !== undefined && t > report.t.kernelAbort + graceS) break;
      if (t > deadline) break;
      await sleep(20);
    }
    stopProbing = true;
    await probing;
    if (report.t.kernelAbort === undefined) {
      await s.request({ cmd: 'ping' }).catch(() => undefined);
      report.t.kernelAbort = gone();
    }
    // the server closed first: its socket left ESTABLISHED (FIN-WAIT-1) before any abort
    const left = s.events.find((e) => e.ev === 'timer' && e.dport === found.sport && e.t >= report.t.fault! && e.state !== 'ESTABLISHED');
    if (left && (report.t.kernelAbort === undefined || left.t < report.t.kernelAbort)) side.closedFirst = true;
    judge(report, origin);
    return report;
  } finally {
    stopProbing = true;
    await probing?.catch(() => undefined);
    report.t.end = now();
    await peer.dispose();
    if (peer.leftovers.length) report.problems.push(`processes still running after SIGKILL: ${peer.leftovers.join(', ')}`);
    report.app.output = [...peer.serverLines];
    side.clientOutput = [...side.clientOutput];
    report.packets = peer.packets();
    if (report.t.kernelAbort !== undefined) report.kernelHow = side.closedFirst ? 'the server closed it first; the kernel then gave up on the orphan' : report.packets.some((p) => p.from === 'server' && p.kind === 'RST' && p.t <= report.t.kernelAbort! + 0.01 && p.t >= report.t.fault!) ? 'timed out (keepalive or user timeout) and sent an RST' : 'timed out silently (retransmission / probe budget or user timeout)';
    // DEADPEER_EVIDENCE=summary: the file CI uploads keeps the times and settings, not the commands or what they printed
    writeFileSync(artifacts.json, JSON.stringify(evidenceLevel() === 'summary' ? forTheSummary(report) : report, null, 1));
  }
}

/** How long the server gets to accept() the client's connection (it waits in the listen queue until then). */
export const ACCEPT_WAIT_S = 10;

/**
 * The server's end of the client's connection, once the server has accepted it. In the listen
 * queue it is already ESTABLISHED but belongs to no file — sock_diag gives inode 0 — and no process
 * can be found holding it; a loaded server takes its time to accept().
 */
async function acceptedSocket(s: VanishingPeer['serverHelper'], port: number, isDone: () => boolean): Promise<HelperEvent | string> {
  const deadline = now() + ACCEPT_WAIT_S;
  for (;;) {
    const d = await s.request({ cmd: 'discover', port });
    const seen = (d.count as number) > 0;
    if (seen && (d.inode as number) > 0) return d;
    // no inode and no longer ESTABLISHED: accepted, then closed by the server (a refusal: its output says why)
    if (seen && d.state !== 'ESTABLISHED') return `the server closed the client's connection at once (its end is ${String(d.state)}): see the client's and the server's output`;
    if (isDone() || now() > deadline) {
      return seen
        ? `the server did not accept() the client's connection within ${ACCEPT_WAIT_S} s (it waits in the listen queue)`
        : `the server's namespace shows no connection from the client's port ${port}`;
    }
    await sleep(50);
  }
}

/** Reads of the accepted socket tried, 20 ms apart, each after a fresh scan for its holder. */
const PEEK_ATTEMPTS = 5;

/** How long the client gets, once connected, to take the resource --released tests (a probe every RELEASE_PROBE_MS). */
export const HOLD_WAIT_S = 15;

/**
 * --released, one run at a time, a new one every RELEASE_PROBE_MS, each counted, until `done(probe)`
 * or `stop()`: the probe that ended it, or undefined.
 */
async function probeEvery(peer: VanishingPeer, cmd: string, side: { releaseProbes: number }, done: (r: Probe) => boolean, stop: () => boolean): Promise<Probe | undefined> {
  for (;;) {
    const r = await probe(peer, cmd);
    side.releaseProbes++;
    if (done(r)) return r;
    if (stop()) return undefined;
    await sleep(Math.max(0, RELEASE_PROBE_MS - (r.end - r.start) * 1000));
  }
}

/** --released run until it fails (the resource is held), for up to HOLD_WAIT_S: the start of that probe, or undefined if it never was (or the client exited first). */
async function untilHeld(peer: VanishingPeer, cmd: string, side: { releaseProbes: number }, isDone: () => boolean): Promise<number | undefined> {
  const deadline = now() + HOLD_WAIT_S;
  return (await probeEvery(peer, cmd, side, (r) => !r.ok, () => isDone() || now() > deadline))?.start;
}

/** One run of --released in the server's namespace: bounded (5 s), its output discarded. */
interface Probe {
  ok: boolean;
  start: number;
  end: number;
}
async function probe(peer: VanishingPeer, cmd: string): Promise<Probe> {
  const start = now();
  const r = await execa('ip', ['netns', 'exec', peer.topo.server.netns, 'sh', '-c', cmd], { reject: false, stdin: 'ignore', timeout: 5000, env: { DEADPEER_LISTEN: peer.address, DEADPEER_LISTEN_HOST: peer.host, DEADPEER_PORT: String(PORT) } });
  return { ok: r.exitCode === 0, start, end: now() };
}

/** The kernel's abort of the accepted socket against the model's window for the close. */
function judge(r: AppReport, origin: number): void {
  const side = r.serverSide!;
  const p = r.prediction;
  if (r.problems.length || !p) return;
  const w = windows(p, r.kernel.hz).close;
  if (w) side.window = w;
  if (side.closedFirst) {
    side.verdict = 'cannot judge';
    side.verdictWhy = 'the server closed the socket before the kernel aborted it: its own timeout, not the kernel’s';
    return;
  }
  if (r.t.kernelAbort === undefined) {
    const watched = r.t.end - origin;
    side.verdict = w === null || w[0] > watched ? 'agree' : 'differ';
    side.verdictWhy = w === null ? 'the model says never, and the kernel did not abort it' : w[0] > watched ? `not aborted within ${humanDuration(watched)}, and the model says not before ${humanDuration(w[0])}` : `not aborted within ${humanDuration(watched)}, the model said by ${humanDuration(w[1])}`;
    return;
  }
  const at = r.t.kernelAbort - origin;
  if (!w) {
    side.verdict = 'differ';
    side.verdictWhy = `aborted at ${at.toFixed(3)} s; the model says never`;
    return;
  }
  side.verdict = at >= w[0] && at <= w[1] ? 'agree' : 'differ';
  side.verdictWhy = `aborted at ${at.toFixed(3)} s after t = 0; the model: ${p.errno} at ${p.closeAt!.toFixed(3)} s, window [${w[0].toFixed(3)}, ${w[1].toFixed(3)}]`;
}
