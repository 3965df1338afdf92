import type { Fault } from './faults.js';
import { withProgress } from './progress.js';
import { now } from '../core/clock.js';
import { PORT } from './topology.js';
import type { Run, Step } from './run.js';
import type { Side } from '../core/side.js';

/**
 * The steps a case strings together, packetdrill-style: each does one thing to the sockets or the
 * wire and records when it happened on the run's clock.
 */

/** Drop packets from now on (replaces whatever fault was armed). */
export const arm = (fault: Fault): Step => ({ label: `arm ${fault.name}`, fault, run: (r) => r.arm(fault) });

/** Server: socket with the server's options, bind, listen; accept() armed. */
export const listen = (): Step => ({
  label: 'listen',
  run: async (r) => {
    const s = await r.socketFor('server');
    await s.bind(r.topo.server.addr[r.family], PORT);
    await s.listen();
    r.listener = s;
    r.mark('listen');
  },
});

/** Client: socket with the client's options, non-blocking connect() to the server. */
export const connect = (): Step => ({
  label: 'connect',
  run: async (r) => {
    const s = await r.socketFor('client');
    r.clientSock = s;
    const server = r.topo.server.addr[r.family];
    const c = await s.connect(server, PORT);
    r.mark('connect', c.started);
    // follow this connection in both kernels' tables (the server's side starts as a SYN-RECV request)
    await Promise.all([
      r.topo.client.helper.watch(r.family, c.localAddr, c.localPort, server, PORT),
      r.topo.server.helper.watch(r.family, server, PORT, r.topo.router ? r.topo.clientAsSeenByServer(r.family) : c.localAddr, c.localPort),
      ...(r.topo.router ? [r.topo.router.watch(r.family, c.localAddr, c.localPort, server, PORT)] : []),
    ]);
  },
});

/** Wait for the client's connect() to complete (fails the run if it errors instead). */
export const established = (timeoutS = 5): Step => ({
  label: 'established',
  run: async (r) => {
    const e = await r.clientSock!.whenConnected(timeoutS * 1000);
    if (e.ev !== 'connected') throw new Error(`connect() failed with ${String(e.errno)}`);
    r.mark('established', e.t);
  },
});

/** Server: accept() the connection. */
export const accept = (timeoutS = 5): Step => ({
  label: 'accept',
  run: async (r) => {
    r.serverSock = await r.listener!.accept(timeoutS * 1000);
    r.mark('accepted');
  },
});

/** The handshake every ESTABLISHED experiment starts with: listen, connect, established, accept. */
export const handshake = (): Step[] => [listen(), connect(), established(), accept()];

/** Snapshot TCP_INFO of a side's socket (kept in the Observation). */
export const snapshot = (side: Side, label: string): Step => ({
  label: `snapshot ${side} ${label}`,
  run: async (r) => {
    await r.snapshot(side, label);
  },
});

/**
 * The peer is unreachable for `seconds`, then the network heals (harness/model/blip.ts predicts
 * which): `fault` is armed now and lifted `seconds` later, while the next steps go on.
 */
export const blip = (fault: Fault, seconds: number): Step => ({
  label: `blip: ${fault.name} for ${seconds} s`,
  fault,
  run: async (r) => {
    r.plannedHealS = seconds;
    await r.blip(fault, seconds);
  },
});

/**
 * The blip armed earlier heals `seconds` after mark `mark` (the phase's t = 0: `connect`, the data's
 * first transmission), lifted by the helpers at that moment while the next steps go on.
 */
export const healAfter = (mark: string, seconds: number): Step => ({
  label: `heal ${seconds} s after ${mark}`,
  run: async (r) => {
    const from = r.marks[mark];
    if (from === undefined) throw new Error(`no mark "${mark}" to heal after`);
    r.plannedHealS = seconds;
    r.healAt(from + seconds);
  },
});

/** Let time pass. */
export const hold = (seconds: number): Step => ({
  label: `hold ${seconds}s`,
  run: () => new Promise((res) => setTimeout(res, seconds * 1000)),
});

/**
 * Wait for the subject socket to die, as long as the model says it should take plus a margin
 * (a guard against hanging, not a tolerance: the matchers judge the time). When the model says it
 * never dies, hold for `aliveFor` seconds past the prediction's last event and return.
 */
export const awaitClose = (opts: { aliveFor?: number } = {}): Step => ({
  label: 'await close',
  run: async (r: Run) => {
    const pred = r.prediction();
    const sock = r.subjectSocket();
    if (!sock) throw new Error(`no ${r.subject} socket to watch`);
    const origin = r.marks.connect ?? now();
    // The phase's t = 0 lies at or before this moment (the steps that make it came first), so the
    // guard runs from now: timing it from connect() would cut the wait short when setup was slow.
    const from = Math.max(origin, now());
    if (pred.closeAt === null) {
      const lastEvent = pred.events.length ? pred.events[pred.events.length - 1]!.t : 0;
      // a survived blip says itself how long to watch, from the phase's t = 0 (as near as the
      // marks know it: the data sent, the window closed, the connection accepted): past the
      // recovery, before the next timer
      const t0 = r.marks['client sent'] ?? r.marks['zero-window'] ?? r.marks.accepted ?? origin;
      const until = pred.watchUntil !== undefined ? t0 + pred.watchUntil : from + lastEvent + (opts.aliveFor ?? 3);
      const held = new Promise((res) => setTimeout(res, Math.max(0, until - now()) * 1000));
      await withProgress(`${r.spec.name} (IPv${r.family})`, origin, { holdS: until - origin }, held);
      return;
    }
    const deadline = from + pred.closeAt * 1.25 + 5;
    try {
      await withProgress(`${r.spec.name} (IPv${r.family})`, origin, { closeAtS: pred.closeAt }, sock.whenClosed(Math.max(0, deadline - now()) * 1000));
    } catch {
      /* still alive at the deadline: the Observation says close = null and the matcher reports it */
    }
  },
});

const sockOf = (r: Run, side: Side) => {
  const s = side === 'client' ? r.clientSock : r.serverSock;
  if (!s) throw new Error(`no ${side} connection yet (add connect()/accept() before this step)`);
  return s;
};

/** Write `bytes` on a side's connection, or fill its send buffer when omitted. */
export const send = (side: Side, bytes?: number): Step => ({
  label: bytes === undefined ? `${side} fills its send buffer` : `${side} sends ${bytes} bytes`,
  run: async (r) => {
    const res = await sockOf(r, side).send(bytes);
    // the helper's moment, not this process's: the kernel tried to transmit inside send() (a local
    // drop's t = 0, which leaves nothing on the wire to place it by)
    r.mark(`${side} sent`, res.t);
    if (bytes !== undefined && res.written !== bytes) throw new Error(`only ${res.written} of ${bytes} bytes fitted in the send buffer`);
  },
});

/**
 * Write `bytes` `seconds` after mark `mark`, performed by the side's helper at that moment (a write
 * timed against a middlebox's expiry must not drift with this process's timers). Marked `${side} sent`
 * when it happened; the due moment is kept as a timed action ('write').
 */
export const sendAfter = (side: Side, bytes: number, mark: string, seconds: number): Step => ({
  label: `${side} sends ${bytes} bytes ${seconds} s after ${mark}`,
  run: async (r) => {
    const due = r.marks[mark]! + seconds;
    const res = await sockOf(r, side).send(bytes, { at: due });
    r.mark(`${side} sent`, res.t);
    r.timed.push({ name: 'write', due, at: res.t });
    if (res.written !== bytes) throw new Error(`only ${res.written} of ${bytes} bytes fitted in the send buffer`);
  },
});

/** Keep a side's send buffer full from now on. */
export const pump = (side: Side): Step => ({
  label: `${side} keeps writing`,
  run: async (r) => {
    await sockOf(r, side).pump(true);
    r.mark(`${side} pumping`);
  },
});

/** Read on a side's connection (as fast as data comes, or at `rate` bytes/s); rate 'stop' = stop reading. */
export const read = (side: Side, rate: number | 'stop' = 0): Step => ({
  label: rate === 'stop' ? `${side} stops reading` : `${side} reads${rate ? ` at ${rate} B/s` : ''}`,
  run: async (r) => {
    await sockOf(r, side).read(rate !== 'stop', rate === 'stop' ? 0 : rate);
    r.mark(rate === 'stop' ? `${side} stopped reading` : `${side} reading`);
  },
});

/** close() a side's socket (abort: SO_LINGER 0, an RST, like a crashed process). */
export const closeSocket = (side: Side, abort = false): Step => ({
  label: `${side} closes${abort ? ' (abort)' : ''}`,
  run: async (r) => {
    await sockOf(r, side).close(abort);
    r.mark(`${side} closed`);
  },
});

/** Record the side's current RTO (TCP_INFO) as the model's rtoMs: busy and zero-window timelines start from it. */
export const measureRto = (side: Side = 'client', opts: { asOf?: string } = {}): Step => ({
  label: `measure ${side} RTO${opts.asOf ? ` as of ${opts.asOf}` : ''}`,
  run: async (r) => {
    const info = await r.snapshot(side, 'rto');
    r.rtoMs = info.rto_us / 1000;
    // The RTO can move with every RTT sample, and this step may run a while after the moment that
    // matters (a loaded machine): the first sock_diag sample at or after the mark carries the RTO
    // in force then, stamped by the kernel's answer.
    const since = opts.asOf === undefined ? undefined : r.marks[opts.asOf];
    if (since === undefined) return;
    const sample = r.topo.endpoint(side).helper.events.find((e) => e.ev === 'timer' && e.t >= since && typeof e.rto_us === 'number');
    if (sample) r.rtoMs = (sample.rto_us as number) / 1000;
  },
});

/**
 * Wait until a condition on the run holds (polled every 10 ms), e.g. the receiver's window closed.
 * `name` becomes a mark at the moment it was first seen true.
 */
export const until = (name: string, cond: (r: Run) => Promise<boolean> | boolean, timeoutS = 10): Step => ({
  label: `until ${name}`,
  run: async (r) => {
    const deadline = now() + timeoutS;
    while (!(await cond(r))) {
      if (now() > deadline) throw new Error(`"${name}" did not happen within ${timeoutS} s`);
      await new Promise((res) => setTimeout(res, 10));
    }
    r.mark(name);
  },
});

/** Wait for a packet on the wire matching `pred` (the capture is live); marks its time as `name`. */
export const untilPacket = (name: string, pred: (p: { from: Side; flags: string; win: number; len: number }) => boolean, timeoutS = 10): Step => ({
  label: `until ${name}`,
  run: async (r) => {
    const clientAddrs = [r.topo.client.addr[4], r.topo.client.addr[6]];
    const e = await r.topo.client.helper.waitFor(
      (e) =>
        e.ev === 'packet' &&
        pred({ from: clientAddrs.includes(String(e.src)) ? 'client' : 'server', flags: String(e.flags), win: e.win as number, len: e.len as number }),
      timeoutS * 1000,
      name,
    );
    r.mark(name, e.t);
  },
});
