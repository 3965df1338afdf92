import { execa, type ResultPromise } from 'execa';
import { now } from '../core/clock.js';
import { InputError } from '../core/errors.js';
import type { Packet } from '../core/observation.js';
import type { HelperEvent } from '../core/protocol.js';
import type { Helper } from '../helper/client.js';
import { defaultSysctls } from '../model/features.js';
import type { KernelFeatures, TcpSysctls } from '../model/types.js';
import { type Middlebox, middleboxFamilyProblem, parseMiddlebox } from '../model/middlebox.js';
import { TCP_SYSCTL_NAMES } from '../model/types.js';
import { type ArmedFault, toPackets } from './capture.js';
import { type Fault, faults } from './faults.js';
import { runningKernel } from './kernel.js';
import { ProcessTree } from './process-tree.js';
import { type Artifacts, FOLDER_NAME_RULE, artifactFolder, artifactsFor, startRecorders } from './recorders.js';
import { PORT, Topology } from './topology.js';

/**
 * A peer that can vanish, for a real program: a server in its own network namespace and a client
 * namespace the program runs in, joined by a veth, with the recorders running (capture, sock_diag)
 * and the ways of vanishing installed up front (so vanishing is one rtnetlink message, never an
 * nft process in the middle of a timeline). `deadpeer exec` is built on it, and the vitest fixture
 * hands one to a test. Everything it made — namespaces, helpers, the programs it started and their
 * children, the server command — goes on dispose(), which is safe to call twice and is also what
 * `await using` calls.
 */
export type VanishKind = 'blackhole' | 'host-vanished' | 'peer-reset' | 'drop-syn';
export const VANISH_KINDS: readonly VanishKind[] = ['blackhole', 'host-vanished', 'peer-reset', 'drop-syn'];

const FAULT_OF: Record<VanishKind, () => Fault> = {
  blackhole: faults.blackhole,
  'host-vanished': faults.hostVanished,
  'peer-reset': faults.peerReset,
  'drop-syn': faults.dropSyn,
};

export interface PeerOptions {
  family?: 4 | 6;
  /** a shell command run in the server's namespace (it gets DEADPEER_LISTEN=host:port); absent = the builtin server */
  server?: string;
  /** the builtin server reads what arrives (default); false = it never reads, so its window closes */
  serverReads?: boolean;
  /** the builtin server's SO_RCVBUF (the kernel doubles it): small, so a few segments close its window */
  serverRcvbuf?: number;
  /** net.* sysctls of the client's namespace (full names), set before any program starts */
  sysctls?: Record<string, number>;
  /** the artifact folder's name in this run's results (default: peer-<n>) */
  name?: string;
  /**
   * a router between client and server running conntrack as this middlebox (harness/engine/router.ts):
   * the path forgets the idle connection instead of the peer vanishing — vanish() is not available
   */
  middlebox?: Middlebox;
  /** the builtin server sends back what it reads (what fits in its send buffer): a request gets an answer */
  serverEchoes?: boolean;
  /** net.* sysctls of the server's namespace (full names), set before the server starts (exec --role server) */
  serverSysctls?: Record<string, number>;
}

export interface ProgramLine {
  /** CLOCK_MONOTONIC seconds, when the line arrived */
  t: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface ProgramExit {
  t: number;
  exitCode: number | null;
  signal?: string;
}

/** A program started in the client's namespace. */
export interface PeerProgram {
  pid: number;
  /** every line it printed so far, stamped on arrival */
  readonly lines: ProgramLine[];
  /** set once it exited */
  readonly exit: ProgramExit | undefined;
  /** resolves when it exits */
  readonly exited: Promise<ProgramExit>;
}

export interface SpawnOptions {
  /** more environment (DEADPEER_SERVER, DEADPEER_HOST, DEADPEER_PORT are always set) */
  env?: Record<string, string>;
  /** each line as it is printed */
  onLine?: (line: ProgramLine) => void;
}

/** The program's connection to the server, as sock_diag and /proc show it. */
export interface PeerConnection {
  family: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  inode: number;
}

const PEER_OPTION_FIELDS: ReadonlyArray<keyof PeerOptions> = ['family', 'server', 'serverReads', 'serverRcvbuf', 'sysctls', 'name', 'middlebox', 'serverEchoes', 'serverSysctls'];

/**
 * What is wrong with PeerOptions, each problem naming the field, the value and what is allowed:
 * checked before any namespace exists (they also come from JavaScript and test.scoped()).
 */
export function peerOptionProblems(opts: PeerOptions): string[] {
  const show = (v: unknown) => JSON.stringify(v);
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) return [`expected an options object (${PEER_OPTION_FIELDS.join(', ')}), got ${show(opts)}`];
  const out: string[] = [];
  for (const k of Object.keys(opts)) if (!(PEER_OPTION_FIELDS as readonly string[]).includes(k)) out.push(`${k}: unknown option: allowed options are ${PEER_OPTION_FIELDS.join(', ')}`);
  if (opts.family !== undefined && opts.family !== 4 && opts.family !== 6) out.push(`family: ${show(opts.family)} is not allowed: 4 or 6`);
  if (opts.server !== undefined && (typeof opts.server !== 'string' || !opts.server.trim())) out.push(`server: ${show(opts.server)} is not allowed: a shell command`);
  if (opts.serverReads !== undefined && typeof opts.serverReads !== 'boolean') out.push(`serverReads: ${show(opts.serverReads)} is not allowed: true or false`);
  // SO_RCVBUF takes an int; the kernel doubles it, so half of INT_MAX is the most that means anything
  if (opts.serverRcvbuf !== undefined && !(Number.isInteger(opts.serverRcvbuf) && opts.serverRcvbuf > 0 && opts.serverRcvbuf <= 2 ** 30))
    out.push(`serverRcvbuf: ${show(opts.serverRcvbuf)} is not allowed: a whole number of bytes from 1 to ${2 ** 30}`);
  for (const field of ['sysctls', 'serverSysctls'] as const) {
    const m = opts[field];
    if (m === undefined) continue;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) out.push(`${field}: ${show(m)} is not allowed: a mapping of full net.* names to numbers`);
    else
      for (const [k, v] of Object.entries(m)) {
        // only net.* is per namespace: anything else would change the host
        if (!/^net\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(k)) out.push(`${field}.${k}: not allowed: a full net.* sysctl name (e.g. net.ipv4.tcp_retries2)`);
        else if (!Number.isInteger(v) || v < 0 || v >= 2 ** 31) out.push(`${field}.${k}: ${show(v)} is not allowed: a whole number ≥ 0`);
      }
  }
  if (opts.name !== undefined && (typeof opts.name !== 'string' || !artifactFolder(opts.name))) out.push(`name: ${show(opts.name)} is not allowed: ${FOLDER_NAME_RULE}`);
  if (opts.serverEchoes !== undefined && typeof opts.serverEchoes !== 'boolean') out.push(`serverEchoes: ${show(opts.serverEchoes)} is not allowed: true or false`);
  if (opts.serverEchoes && opts.serverReads === false) out.push('serverEchoes: a server that never reads has nothing to echo (serverReads: false)');
  if (opts.middlebox !== undefined) {
    // the same words as every --middlebox: the middlebox is checked through its own text
    const m = opts.middlebox as unknown;
    const parsed = m !== null && typeof m === 'object' && typeof (m as Middlebox).name === 'string' ? parseMiddlebox(canonical(m as Middlebox)) : { error: `${show(m)} is not allowed: a Middlebox (parseMiddlebox or MIDDLEBOX_PRESETS)` };
    if ('error' in parsed) out.push(`middlebox: ${parsed.error}`);
    else {
      const family = middleboxFamilyProblem({ ...parsed, name: (m as Middlebox).name }, opts.family ?? 4);
      if (family) out.push(`middlebox: ${family}`);
    }
  }
  return out;
}

/** A middlebox as idle-expiry text (a preset's numbers are its own), so one parser judges it. */
const canonical = (m: Middlebox) => `idle-expiry:${m.idleTimeoutS}s:${m.mode}:${m.kind}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hostPort = (addr: string, family: 4 | 6) => (family === 6 ? `[${addr}]:${PORT}` : `${addr}:${PORT}`);
let peers = 0;

export class VanishingPeer implements AsyncDisposable {
  readonly kernel: KernelFeatures;
  /** faults armed so far (when each took effect on each side) */
  readonly armed: ArmedFault[] = [];
  private readonly fault = new Map<VanishKind, Fault>();
  private readonly programs: Array<{ proc: ResultPromise; program: PeerProgram; tree: ProcessTree | undefined }> = [];
  private server?: ResultPromise;
  private serverTree?: ProcessTree;
  /** what the server command printed, stamped on arrival */
  readonly serverLines: ProgramLine[] = [];
  /** pids still running after dispose() ended everything it started (SIGTERM, a grace, SIGKILL): none expected */
  leftovers: number[] = [];
  private disposed = false;

  private constructor(
    /** @internal the namespaces and their helpers */
    readonly topo: Topology,
    readonly family: 4 | 6,
    readonly artifacts: Omit<Artifacts, 'json'>,
    /** the client namespace's TCP sysctls, read back */
    readonly sysctls: TcpSysctls,
    /** @internal the builtin server's listening socket */
    readonly listener: number | undefined,
  ) {
    this.kernel = runningKernel();
  }

  /** Throws an InputError (one line) for bad options, before any namespace exists. */
  static async start(opts: PeerOptions = {}): Promise<VanishingPeer> {
    const problems = peerOptionProblems(opts);
    if (problems.length) throw new InputError(`VanishingPeer: ${problems.join('; ')}`);
    const family = opts.family ?? 4;
    const topo = await Topology.create(opts.middlebox ? { path: { middlebox: opts.middlebox } } : {});
    try {
      const c = topo.client.helper;
      for (const [k, v] of Object.entries(opts.sysctls ?? {})) await c.sysctl(k, v);
      for (const [k, v] of Object.entries(opts.serverSysctls ?? {})) await topo.server.helper.sysctl(k, v);
      const sysctls = await readSysctls(c, runningKernel());
      const artifacts = artifactsFor(opts.name ?? `peer-${++peers}`, 'peer.json');
      await startRecorders(topo, artifacts.pcap);
      // behind a middlebox nobody vanishes: the path forgets (no fault rules, no nft spawns for them)
      const kinds = new Map(opts.middlebox ? [] : VANISH_KINDS.map((k) => [k, FAULT_OF[k]()]));
      if (kinds.size) await topo.install([...kinds.values()]);
      const listener = opts.server === undefined ? await builtinServer(topo.server.helper, topo.server.addr[family], family, opts) : undefined;
      const peer = new VanishingPeer(topo, family, { dir: artifacts.dir, pcap: artifacts.pcap }, sysctls, listener);
      for (const [k, f] of kinds) peer.fault.set(k, f);
      if (opts.server !== undefined) await peer.startServer(opts.server);
      return peer;
    } catch (e) {
      await topo.dispose();
      throw e;
    }
  }

  /** The server's address. */
  get host(): string {
    return this.topo.server.addr[this.family];
  }
  get port(): number {
    return PORT;
  }
  /** host:port ([host]:port for IPv6), what DEADPEER_SERVER holds */
  get address(): string {
    return hostPort(this.host, this.family);
  }
  /** what every program started here finds in its environment */
  get env(): Record<string, string> {
    return { DEADPEER_SERVER: this.address, DEADPEER_HOST: this.host, DEADPEER_PORT: String(PORT) };
  }

  private async startServer(command: string): Promise<void> {
    // its own process group, and its whole tree followed: everything it forks goes at dispose()
    const server = execa('ip', ['netns', 'exec', this.topo.server.netns, 'sh', '-c', command], {
      reject: false,
      env: { DEADPEER_LISTEN: this.address, DEADPEER_LISTEN_HOST: this.host, DEADPEER_PORT: String(PORT) },
      stdin: 'ignore',
      buffer: false,
      detached: true,
    });
    this.server = server;
    if (server.pid) this.serverTree = new ProcessTree(server.pid);
    collectLines(server, this.serverLines);
    let exited = false;
    void server.then(() => (exited = true));
    const deadline = now() + 10;
    while (now() < deadline) {
      const r = await execa('ip', ['netns', 'exec', this.topo.server.netns, 'ss', '-Hltn', `sport = :${PORT}`], { reject: false });
      if (String(r.stdout).trim()) return;
      if (exited) throw new Error(`the server command exited before listening on port ${PORT}`);
      await sleep(50);
    }
    throw new Error(`the server command did not listen on port ${PORT} within 10 s (it gets DEADPEER_LISTEN=host:port)`);
  }

  /**
   * Start a program in the client's namespace, in its own process group (it may fork, or run under
   * strace, and all of it must go at the end).
   */
  spawn(command: string[], opts: SpawnOptions = {}): PeerProgram {
    if (!command.length) throw new Error('spawn: an empty command');
    const proc = execa('ip', ['netns', 'exec', this.topo.client.netns, ...command], {
      reject: false,
      stdin: 'ignore',
      buffer: false,
      detached: true,
      env: { ...this.env, ...opts.env },
    });
    const lines: ProgramLine[] = [];
    let exit: ProgramExit | undefined;
    const exited = proc.then((r) => (exit = { t: now(), exitCode: r.exitCode ?? null, ...(r.signal ? { signal: r.signal } : {}) }));
    collectLines(proc, lines, opts.onLine);
    const program: PeerProgram = {
      pid: proc.pid ?? -1,
      lines,
      get exit() {
        return exit;
      },
      exited,
    };
    this.programs.push({ proc, program, tree: proc.pid ? new ProcessTree(proc.pid) : undefined });
    return program;
  }

  /** Remember what the programs and the server have forked by now (a fork whose parent exits before dispose() is still ended). */
  noteProcesses(): void {
    this.serverTree?.note();
    for (const p of this.programs) p.tree?.note();
  }

  /** The server command's process (its shell, or what the shell exec'd), when a --server command runs. */
  get serverPid(): number | undefined {
    return this.server?.pid;
  }

  /** The server namespace's TCP sysctls, read back. */
  async serverSysctlsRead(): Promise<TcpSysctls> {
    return readSysctls(this.serverHelper, this.kernel);
  }

  /**
   * The first connection to the server port that shows up in the client's namespace (polled through
   * sock_diag), now followed in both kernels' tables; undefined when `stop()` says to give up first
   * (the program exited) or after timeoutS.
   */
  async connection(timeoutS = 15, stop: () => boolean = () => false): Promise<PeerConnection | undefined> {
    const c = this.topo.client.helper;
    const deadline = now() + timeoutS;
    while (now() < deadline) {
      const r = await c.request({ cmd: 'discover', port: PORT });
      if ((r.count as number) > 0) {
        const conn: PeerConnection = { family: r.family as 4 | 6, src: String(r.src), sport: r.sport as number, dst: String(r.dst), dport: r.dport as number, inode: r.inode as number };
        await Promise.all([
          c.watch(conn.family, conn.src, conn.sport, conn.dst, conn.dport),
          // behind a NAT the server's kernel knows the router's address (masquerade keeps the port)
          this.topo.server.helper.watch(conn.family, conn.dst, conn.dport, this.topo.clientAsSeenByServer(conn.family), conn.sport),
          ...(this.topo.router ? [this.topo.router.watch(conn.family, conn.src, conn.sport, conn.dst, conn.dport)] : []),
        ]);
        return conn;
      }
      if (stop()) return undefined;
      await sleep(20);
    }
    return undefined;
  }

  /** Make the peer vanish (or stop, with 'drop-syn', answering SYNs); returns when it took effect on both sides. */
  async vanish(kind: VanishKind = 'blackhole'): Promise<number> {
    const fault = this.fault.get(kind);
    if (!fault && this.topo.router) throw new Error('vanish: behind a middlebox the path forgets the connection; the peer does not vanish');
    if (!fault) throw new Error(`vanish: unknown kind "${kind}": one of ${VANISH_KINDS.join(', ')}`);
    const at = await this.topo.arm(fault);
    const t = Math.max(at.client, at.server);
    this.armed.push({ t, at, fault });
    return t;
  }

  /**
   * The network heals: whatever vanish() armed is lifted — now, or at `due` (the run's clock), by
   * the helpers themselves; returns when it took effect on both sides.
   */
  async heal(due?: number): Promise<number> {
    const at = await this.topo.arm(null, due);
    const t = Math.max(at.client, at.server);
    this.armed.push({ t, at, fault: { name: 'healed', drops: [] } });
    return t;
  }

  /** When the kernel dropped the connection from its tables (it aborted it) at or after `since`, if it has. */
  abortedAt(conn: PeerConnection, since = -Infinity): number | undefined {
    return this.topo.client.helper.events.find((e) => e.ev === 'gone' && e.sport === conn.sport && e.t >= since)?.t;
  }

  /**
   * When the kernel dropped the connection from its tables, waiting for it up to `timeoutS`: the
   * helper's sock_diag poll (every 5 ms) reports it, and that report can reach this process after
   * the program's own words about the same abort — a program that printed ETIMEDOUT is no proof
   * the report is already here.
   */
  async whenAborted(conn: PeerConnection, since = -Infinity, timeoutS = 5): Promise<number> {
    const e = await this.topo.client.helper.waitFor((x) => x.ev === 'gone' && x.sport === conn.sport, timeoutS * 1000, `the connection :${conn.sport} to leave the kernel's tables`, since);
    return e.t;
  }

  /**
   * Every TCP packet on the wire so far, with sender, kind and whether a fault dropped it: the
   * client's tap (behind a middlebox, the client–router leg; serverLeg() is the other).
   */
  packets(): Packet[] {
    const server = this.topo.router ? [] : this.topo.server.helper.events;
    const events = [...this.topo.client.helper.events, ...server].sort((a, b) => a.t - b.t);
    return toPackets(events, [this.topo.client.addr[4], this.topo.client.addr[6]], this.armed);
  }

  /** Behind a middlebox: the router–server leg, captured at the server's end on the same clock ("client" is the client as the server sees it). */
  serverLeg(): Packet[] {
    if (!this.topo.router) return [];
    const seen = [this.topo.clientAsSeenByServer(4), this.topo.clientAsSeenByServer(6)];
    return toPackets(this.topo.server.helper.events.filter((e) => e.ev === 'packet'), seen, this.armed);
  }

  /** @internal the client namespace's helper (sock_diag events, sysctls, peeks into the program's socket) */
  get client(): Helper {
    return this.topo.client.helper;
  }

  /** @internal the server namespace's helper */
  get serverHelper(): Helper {
    return this.topo.server.helper;
  }

  /** The program's socket options and TCP_INFO, read through pidfd_getfd. */
  async peek(pid: number, fd: number): Promise<HelperEvent> {
    return this.client.request({ cmd: 'peeksock', pid, fd });
  }

  /**
   * End everything it started and wait until all of it is gone: each program's and the server's
   * whole process tree (SIGTERM to the group and to each process, 2 s / 5 s of grace, then SIGKILL),
   * then the namespaces. When it returns nothing it started still runs (what did not die even by
   * SIGKILL is in `leftovers`).
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const left = await Promise.all([
      ...this.programs.map((p) => (p.tree ? p.tree.end('SIGTERM', 2000) : [])),
      ...(this.serverTree ? [this.serverTree.end('SIGTERM', 5000)] : []),
    ]);
    this.leftovers = left.flat();
    await Promise.race([Promise.allSettled([...this.programs.map((p) => p.proc), ...(this.server ? [this.server] : [])]), sleep(3000)]);
    // flush the helpers' pipes so every packet seen so far is in the events
    await Promise.allSettled([this.client.request({ cmd: 'ping' })]);
    await this.topo.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Each line a process prints, stamped on arrival. */
function collectLines(proc: ResultPromise, lines: ProgramLine[], onLine?: (l: ProgramLine) => void): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    let rest = '';
    proc[stream]?.on('data', (d: Buffer) => {
      const t = now();
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const text of parts) {
        const line = { t, stream, text };
        lines.push(line);
        onLine?.(line);
      }
    });
  }
}

/** The builtin server: accepts, never writes (unless it echoes: serverEchoes); reads unless told not to (then its window closes). */
async function builtinServer(s: Helper, addr: string, family: 4 | 6, opts: PeerOptions): Promise<number> {
  const l = (await s.request({ cmd: 'socket', family })).sock as number;
  if (opts.serverRcvbuf !== undefined) await s.request({ cmd: 'setopt', sock: l, opt: 'SO_RCVBUF', value: opts.serverRcvbuf });
  await s.request({ cmd: 'bind', sock: l, addr, port: PORT });
  await s.request({ cmd: 'listen', sock: l });
  await s.request({ cmd: 'accept', sock: l });
  if (opts.serverReads !== false) {
    void s
      .waitFor((e) => e.ev === 'accepted' && e.sock === l, 600_000, 'accept')
      .then((e) => s.request({ cmd: 'read', sock: e.conn, on: true, ...(opts.serverEchoes ? { echo: true } : {}) }))
      .catch(() => undefined);
  }
  return l;
}

async function readSysctls(h: Helper, kernel: KernelFeatures): Promise<TcpSysctls> {
  const out = defaultSysctls(kernel) as unknown as Record<string, number>;
  for (const k of TCP_SYSCTL_NAMES) {
    const v = await h.sysctl(`net.ipv4.${k}`);
    if (v !== undefined) out[k] = Number(v);
  }
  return out as unknown as TcpSysctls;
}
