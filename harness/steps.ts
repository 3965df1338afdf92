import type { Fault, Side } from './faults.js';
import { PORT, type Run, type Step, now } from './scenario.js';

/**
 * The steps a case strings together, packetdrill-style: each does one thing to the sockets or the
 * wire and records when it happened on the run's clock.
 */

/** Drop packets from now on (replaces whatever fault was armed). */
export const arm = (fault: Fault): Step => ({ label: `arm ${fault.name}`, run: (r) => r.arm(fault) });

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
      r.topo.server.helper.watch(r.family, server, PORT, c.localAddr, c.localPort),
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

/** Snapshot TCP_INFO of a side's socket (kept in the Observation). */
export const snapshot = (side: Side, label: string): Step => ({
  label: `snapshot ${side} ${label}`,
  run: async (r) => {
    await r.snapshot(side, label);
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
    if (pred.closeAt === null) {
      const lastEvent = pred.events.length ? pred.events[pred.events.length - 1]!.t : 0;
      const until = origin + lastEvent + (opts.aliveFor ?? 3);
      await new Promise((res) => setTimeout(res, Math.max(0, until - now()) * 1000));
      return;
    }
    const deadline = origin + pred.closeAt * 1.25 + 5;
    try {
      await sock.whenClosed(Math.max(0, deadline - now()) * 1000);
    } catch {
      /* still alive at the deadline: the Observation says close = null and the matcher reports it */
    }
  },
});
