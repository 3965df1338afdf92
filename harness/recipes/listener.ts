import { TestSocket } from '../helper/client.js';
import { untilPacket } from '../engine/steps.js';
import { now } from '../core/clock.js';
import type { Step } from '../engine/run.js';

/**
 * The server's side of a handshake that has not finished: the connection is a request
 * minisocket in the listener's SYN queue, which the application cannot hold, so its fate shows as
 * accept() returning it (it reached the accept queue) or as sock_diag no longer finding it (the
 * request was dropped). The 'accepted' and 'gone' events carry the times; accept-verdict.ts
 * judges them.
 */

/** Mark the first SYN+ACK on the wire: t = 0 of the server-side phases (see scenario.ts). */
export const firstSynAck = (): Step => untilPacket('first SYN+ACK', (p) => p.from === 'server' && p.flags === 'S.');

/**
 * Wait for the client's first data on the wire and hand `record` its time from the first SYN+ACK
 * (firstSynAck() must come before): the models' clientDataAtS, measured rather than assumed,
 * because the client writes when the test's timers say, not the kernel's.
 */
export const timeClientData = (record: (atS: number) => void): Step => {
  const arrival = untilPacket('client data', (p) => p.from === 'client' && p.len > 0);
  return {
    label: 'time the client data from the first SYN+ACK',
    run: async (r) => {
      const origin = r.marks['first SYN+ACK'];
      if (origin === undefined) throw new Error('no first SYN+ACK marked (add firstSynAck() before this step)');
      await arrival.run(r);
      record(r.marks['client data']! - origin);
    },
  };
};

/** Arm accept() on the listener and go on: the helper reports 'accepted' whenever a connection is handed over. */
export const armAccept = (): Step => ({
  label: 'arm accept()',
  run: async (r) => {
    if (!r.listener) throw new Error('no listener (add listen() before this step)');
    await r.topo.server.helper.request({ cmd: 'accept', sock: r.listener.id });
    r.mark('accept armed');
  },
});

/**
 * Wait until the server's request either reaches accept() or leaves the kernel's tables, for as
 * long as the model says that takes plus a margin (a guard against hanging, not a tolerance). An
 * accepted connection becomes the run's server socket. When the model predicts neither, hold for
 * `aliveFor` seconds past its last event.
 */
export const awaitRequestEnd = (opts: { aliveFor?: number } = {}): Step => ({
  label: 'await accept() or the request gone',
  run: async (r) => {
    const pred = r.prediction();
    const listener = r.listener;
    if (!listener) throw new Error('no listener (add listen() before this step)');
    const origin = r.marks.connect ?? now();
    const target = pred.acceptAt ?? pred.closeAt;
    const helper = r.topo.server.helper;
    if (target === null || target === undefined) {
      const lastEvent = pred.events.length ? pred.events[pred.events.length - 1]!.t : 0;
      const until = origin + lastEvent + (opts.aliveFor ?? 3);
      await new Promise((res) => setTimeout(res, Math.max(0, until - now()) * 1000));
      return;
    }
    const deadline = origin + target * 1.25 + 5;
    let e;
    try {
      e = await helper.waitFor(
        (e) => (e.ev === 'accepted' && e.sock === listener.id) || e.ev === 'gone',
        Math.max(0, deadline - now()) * 1000,
        'accept() or the request to leave the SYN queue',
      );
    } catch {
      return; /* neither by the deadline: the Observation shows it and the verdicts report it */
    }
    if (e.ev === 'gone') {
      r.mark('request gone', e.t);
      return;
    }
    r.serverSock = new TestSocket(helper, e.conn as number, r.family);
    r.mark('accepted', e.t);
    // let sock_diag's next poll (every few ms) record what the request turned into, so the
    // Observation's timer states do not end on SYN-RECV just because the run stopped first
    // (before the connection is accepted the server's watch can only have seen SYN-RECV)
    await helper
      .waitFor((x) => x.ev === 'timer' && x.state !== 'SYN-RECV', 1000, 'sock_diag to see the accepted connection', origin)
      .catch(() => undefined);
  },
});

