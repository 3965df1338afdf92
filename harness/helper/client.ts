import { createInterface } from 'node:readline';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { EnvironmentError } from '../core/errors.js';
import { now } from '../core/clock.js';
import { ensureHelper, helperPath } from './build.js';
import type { HelperEvent, SockOpt, TcpInfo } from '../core/protocol.js';
import type { HelperRole as Side } from '../core/side.js';

/** The helper refused a command; the message names the command and the reason. */
export class HelperError extends Error {
  constructor(
    readonly side: Side,
    readonly command: Record<string, unknown>,
    readonly event: HelperEvent,
  ) {
    super(`helper (${side}) ${JSON.stringify(command)}: ${String(event.error)}`);
    this.name = 'HelperError';
  }
}

type Listener = (e: HelperEvent) => void;

const REQUEST_TIMEOUT_MS = 30_000;

/** What the helper's reader takes (protocol.h: struct field; helper.c: LINE_MAX_LEN); checked before sending, so a request it would refuse never leaves. */
export const PROTOCOL_LIMITS = { line: 4095, fields: 16, key: 31, value: 255 } as const;

/** Why the helper could not read this command, if it could not: said here in one line, naming the field. */
export function protocolProblem(full: Record<string, unknown>): string | undefined {
  const entries = Object.entries(full);
  if (entries.length > PROTOCOL_LIMITS.fields) return `${entries.length} fields; the helper reads at most ${PROTOCOL_LIMITS.fields}`;
  for (const [k, v] of entries) {
    if (Buffer.byteLength(k) > PROTOCOL_LIMITS.key) return `field name "${k.slice(0, 40)}" is longer than ${PROTOCOL_LIMITS.key} bytes`;
    if (typeof v === 'number' && !Number.isFinite(v)) return `"${k}" is ${v}, not a finite number`;
    if (typeof v === 'string' && Buffer.byteLength(v) > PROTOCOL_LIMITS.value)
      return `"${k}" is ${Buffer.byteLength(v)} bytes long; the helper takes at most ${PROTOCOL_LIMITS.value}${k === 'pcap' ? ' (a shorter results folder: DEADPEER_RESULTS)' : ''}`;
    if (typeof v === 'string' && /[\u0000-\u001f]/.test(v)) return `"${k}" holds a control character`;
    if (v !== null && typeof v === 'object') return `"${k}" is not a plain value`;
  }
  if (Buffer.byteLength(JSON.stringify(full)) > PROTOCOL_LIMITS.line) return `the command is longer than ${PROTOCOL_LIMITS.line} bytes`;
  return undefined;
}


/**
 * One helper process inside one namespace. Requests are matched to replies by id; every other
 * event (connected, closed, packet, timer…) is recorded and can be awaited.
 */
export class Helper {
  readonly events: HelperEvent[] = [];
  private nextId = 1;
  private pending = new Map<number, { cmd: Record<string, unknown>; resolve: (e: HelperEvent) => void; reject: (e: Error) => void }>();
  private listeners = new Set<Listener>();
  /** waitFor()s in progress: they fail when the helper exits instead of holding a timer for nothing */
  private waiters = new Set<(e: Error) => void>();
  private exited = false;
  private stderr = '';
  private readonly gone: Promise<void>;

  private constructor(
    readonly side: Side,
    readonly netns: string,
    private readonly proc: ChildProcessWithoutNullStreams,
    readonly pid: number,
  ) {
    // 'close': the exit, and every line the helper printed before it has been read
    this.gone = new Promise((resolve) => {
      proc.on('error', (e) => (this.stderr ||= e.message)); // could not be started (or killed)
      proc.once('close', (code, signal) => {
        this.onExit(code ?? signal ?? undefined);
        resolve();
      });
    });
  }

  /**
   * Start a helper in namespace `netns` ('' = stay where we are). With `create`, the helper makes
   * the namespace itself (as `ip netns add` would) and removes it when it exits.
   */
  static async start(side: Side, netns: string, opts: { create?: boolean; realtime?: boolean } = {}): Promise<Helper> {
    const problem = ensureHelper();
    if (problem) throw new EnvironmentError(problem);
    const args = netns ? [opts.create ? '--create-netns' : '--netns', netns] : [];
    // node's own spawn, not execa: a topology starts two helpers, and execa's per-process
    // machinery cost more than the helper's whole start (~1 ms each, on the critical path)
    const proc = spawn(helperPath(), args, { stdio: 'pipe', ...(opts.realtime === false ? { env: { ...process.env, DEADPEER_HELPER_RT: '0' } } : {}) });
    const helper = new Helper(side, netns, proc, proc.pid ?? -1);
    // a guard, not a measurement: on a loaded machine a process start can take seconds
    const hello = helper.waitFor((e) => e.ev === 'hello', 20_000, 'the helper to start');
    createInterface({ input: proc.stdout }).on('line', (line) => helper.onLine(line));
    proc.stderr.on('data', (d: Buffer) => (helper.stderr += d.toString()));
    proc.stdin.on('error', () => {}); // EPIPE from a helper that died: reported by its exit instead
    await hello;
    return helper;
  }

  private onLine(line: string): void {
    let e: HelperEvent;
    try {
      e = { ...(JSON.parse(line) as Omit<HelperEvent, 'side'>), side: this.side } as HelperEvent;
    } catch {
      return;
    }
    this.events.push(e);
    if (e.re !== undefined) {
      const p = this.pending.get(e.re);
      if (p) {
        this.pending.delete(e.re);
        if (e.ev === 'error') p.reject(new HelperError(this.side, p.cmd, e));
        else p.resolve(e);
      }
    }
    for (const l of this.listeners) l(e);
  }

  private onExit(code: number | string | undefined): void {
    this.exited = true;
    const why = `helper (${this.side}) exited with code ${code}${this.stderr ? `: ${this.stderr.trim().split('\n')[0]}` : ''}`;
    for (const p of this.pending.values()) p.reject(new Error(why));
    this.pending.clear();
    for (const w of [...this.waiters]) w(new Error(why));
  }

  /**
   * Send a command and wait for its reply; an error reply becomes a HelperError. With `at` (a time
   * on the run's clock, CLOCK_MONOTONIC), the helper performs it at that moment — the way anything
   * whose lateness changes the kernel's answer is timed — and the reply's `due` says when it was
   * meant to happen. Every request settles: a reply, the helper's exit, or a timeout.
   */
  request(cmd: Record<string, unknown>, opts: { at?: number; timeoutMs?: number } = {}): Promise<HelperEvent> {
    if (this.exited) return Promise.reject(new Error(`helper (${this.side}) is not running`));
    const id = this.nextId++;
    const full = { ...cmd, id, ...(opts.at !== undefined ? { at: opts.at } : {}) };
    const problem = protocolProblem(full);
    if (problem) return Promise.reject(new Error(`helper (${this.side}) ${String(cmd.cmd)}: ${problem}`));
    // a guard, not a measurement: no command takes more than a few ms, but a loaded machine can
    // delay a process by seconds; a scheduled one also waits for its moment
    const timeoutMs = (opts.timeoutMs ?? REQUEST_TIMEOUT_MS) + Math.max(0, ((opts.at ?? 0) - now()) * 1000);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`helper (${this.side}) in ${this.netns || 'this namespace'} gave no answer to "${String(cmd.cmd)}" within ${timeoutMs < 1000 ? `${Math.round(timeoutMs)} ms` : `${Math.round(timeoutMs / 1000)} s`}`));
      }, timeoutMs);
      timer.unref();
      const settle = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.pending.set(id, { cmd, resolve: settle(resolve), reject: settle(reject) });
      this.proc.stdin.write(JSON.stringify(full) + '\n');
    });
  }

  /** Cancel every command still waiting for its moment (each rejects: "cancelled before it was due"). */
  async unschedule(): Promise<void> {
    if (!this.exited) await this.request({ cmd: 'unschedule' });
  }

  /** Send a raw line (for protocol tests); resolves with the next error or reply event. */
  sendRaw(line: string): Promise<HelperEvent> {
    // only what comes after this line: earlier errors (a cancelled request's) are not its answer
    const p = this.waitFor((e) => e.ev === 'error' || e.re !== undefined, 2000, 'a reply to a raw line', now());
    this.proc.stdin.write(line + '\n');
    return p;
  }

  on(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Resolve with the first event (already seen after `since`, or future) matching `pred`. */
  waitFor(pred: (e: HelperEvent) => boolean, timeoutMs: number, what: string, since = -Infinity): Promise<HelperEvent> {
    const seen = this.events.find((e) => e.t >= since && pred(e));
    if (seen) return Promise.resolve(seen);
    if (this.exited) return Promise.reject(new Error(`helper (${this.side}) is not running: no ${what}`));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
        this.waiters.delete(fail);
      };
      const fail = (e: Error) => {
        done();
        reject(e);
      };
      const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (helper ${this.side} in ${this.netns})`)), timeoutMs);
      this.waiters.add(fail);
      const off = this.on((e) => {
        if (pred(e)) {
          done();
          resolve(e);
        }
      });
    });
  }

  /** Whether it runs SCHED_FIFO, and if not why (its hello says: never in a user namespace). */
  get realtime(): { on: boolean; off?: string } {
    const hello = this.events.find((e) => e.ev === 'hello');
    return hello?.rt === true ? { on: true } : { on: false, off: String(hello?.rt_off ?? 'unknown') };
  }

  async socket(family: 4 | 6): Promise<TestSocket> {
    const r = await this.request({ cmd: 'socket', family });
    return new TestSocket(this, r.sock as number, family);
  }

  /** Follow one connection's state and timer through sock_diag (what `ss -tno` shows), by 4-tuple. */
  async watch(family: 4 | 6, src: string, sport: number, dst: string, dport: number): Promise<void> {
    await this.request({ cmd: 'watch', family, src, sport, dst, dport });
  }

  /** Write a net.* sysctl inside this helper's namespace; returns the value read back. */
  async sysctl(name: string, value?: number | string): Promise<string | undefined> {
    const r = await this.request(value === undefined ? { cmd: 'sysctl', name } : { cmd: 'sysctl', name, value });
    return r.value as string | undefined;
  }

  /** Close stdin (the helper exits on EOF); kill by pid if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await this.gone;
    clearTimeout(timer);
  }
}

/** A socket living in a helper; methods mirror the syscalls. */
export class TestSocket {
  constructor(
    readonly helper: Helper,
    readonly id: number,
    readonly family: 4 | 6,
  ) {}

  /** setsockopt, then getsockopt: returns what the kernel really holds. */
  async set(opt: SockOpt, value: number): Promise<number> {
    return (await this.helper.request({ cmd: 'setopt', sock: this.id, opt, value })).value as number;
  }
  async get(opt: SockOpt): Promise<number> {
    return (await this.helper.request({ cmd: 'getopt', sock: this.id, opt })).value as number;
  }
  async bind(addr: string, port = 0): Promise<number> {
    return (await this.helper.request({ cmd: 'bind', sock: this.id, addr, port })).local_port as number;
  }
  async listen(backlog = 16): Promise<void> {
    await this.helper.request({ cmd: 'listen', sock: this.id, backlog });
  }
  /** Arm accept(); resolves with the accepted socket once the kernel hands one over. */
  async accept(timeoutMs: number): Promise<TestSocket> {
    const since = (await this.helper.request({ cmd: 'accept', sock: this.id })).t;
    const e = await this.helper.waitFor((x) => x.ev === 'accepted' && x.sock === this.id, timeoutMs, 'accept()', since);
    return new TestSocket(this.helper, e.conn as number, this.family);
  }
  /** Non-blocking connect; returns when connect() was called and the local address it bound. */
  async connect(addr: string, port: number): Promise<{ started: number; localAddr: string; localPort: number }> {
    const r = await this.helper.request({ cmd: 'connect', sock: this.id, addr, port });
    return { started: r.started as number, localAddr: r.local_addr as string, localPort: r.local_port as number };
  }
  /** Write `bytes` (or until the send buffer is full when omitted); `t`: the helper's clock right after send() returned. */
  async send(bytes?: number, opts: { at?: number } = {}): Promise<{ written: number; full: boolean; t: number; due?: number }> {
    const r = await this.helper.request(bytes === undefined ? { cmd: 'send', sock: this.id } : { cmd: 'send', sock: this.id, bytes }, opts.at === undefined ? {} : { at: opts.at });
    return { written: r.written as number, full: r.full as boolean, t: r.t as number, ...(typeof r.due === 'number' ? { due: r.due } : {}) };
  }
  /** Keep the send buffer full whenever the kernel makes room. */
  async pump(on = true): Promise<void> {
    await this.helper.request({ cmd: 'pump', sock: this.id, on });
  }
  /** Consume incoming data (optionally at `rate` bytes/s); off = stop reading. */
  async read(on = true, rate = 0): Promise<void> {
    await this.helper.request({ cmd: 'read', sock: this.id, on, rate });
  }
  async info(): Promise<TcpInfo & { t: number }> {
    return (await this.helper.request({ cmd: 'info', sock: this.id })) as unknown as TcpInfo & { t: number };
  }
  async close(abort = false): Promise<void> {
    await this.helper.request({ cmd: 'close', sock: this.id, abort });
  }
  /** The socket's death as reported (errno name from SO_ERROR or the failing call), if it died. */
  closedEvent(): HelperEvent | undefined {
    return this.helper.events.find((e) => e.ev === 'closed' && e.sock === this.id);
  }
  whenClosed(timeoutMs: number): Promise<HelperEvent> {
    return this.helper.waitFor((e) => e.ev === 'closed' && e.sock === this.id, timeoutMs, `socket ${this.id} to close`);
  }
  whenConnected(timeoutMs: number): Promise<HelperEvent> {
    return this.helper.waitFor(
      (e) => (e.ev === 'connected' || e.ev === 'closed') && e.sock === this.id,
      timeoutMs,
      `socket ${this.id} to connect`,
    );
  }
}
