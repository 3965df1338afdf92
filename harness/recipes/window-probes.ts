import { faults } from '../engine/faults.js';
import { arm } from '../engine/steps.js';
import type { HelperEvent } from '../core/protocol.js';
import { now } from '../core/clock.js';
import type { Run, Step } from '../engine/run.js';
import type { Observation } from '../core/observation.js';
import { silencing } from '../judge/premises.js';

/**
 * Making a zero-window receiver vanish at a moment known to a few milliseconds.
 *
 * The receiver must vanish between two window probes, right after one it answered: a probe that
 * crosses while the receiver goes away has an unknown fate, and the model needs to know which
 * probes were answered. Window probes come 0.2–1.7 s apart, and the answer to one is what tells
 * the run that the moment has come.
 *
 * What the sender sees of a vanished zero-window receiver is only this: its probes stop being
 * answered (a receiver that does not read sends nothing else). A receiver answers a probe (an
 * out-of-window segment) only if its previous such answer is older than its namespace's
 * net.ipv4.tcp_invalid_ratelimit (tcp_oow_rate_limited, read at every probe), so raising that
 * sysctl to an hour silences it at once: one write by its helper, no process spawned, done in
 * milliseconds. The receiver goes silent right after it answered a probe, then the blackhole
 * goes up (an interface-group flip, see faults.ts): nothing crosses any more that its arming
 * could mislabel.
 */

/** Far beyond any run: the receiver answers no further probe. */
const SILENT_RATELIMIT_MS = 3_600_000;

/** Read the server's net.ipv4.tcp_invalid_ratelimit (how often it answers a probe) into `peer`. */
export const readPeerRateLimit = (peer: { rateLimitMs?: number }): Step => ({
  label: 'read the server’s tcp_invalid_ratelimit',
  run: async (r) => {
    peer.rateLimitMs = Number(await r.topo.server.helper.sysctl('net.ipv4.tcp_invalid_ratelimit'));
  },
});

/**
 * A window probe in the live capture: a bare ACK carrying no data from the client. Once the
 * window is closed nothing else sends one (the client receives no data, so it never ACKs any).
 */
export const isWindowProbe = (r: Run) => {
  const client = [r.topo.client.addr[4], r.topo.client.addr[6]];
  return (e: HelperEvent) => e.ev === 'packet' && client.includes(String(e.src)) && e.flags === '.' && e.len === 0;
};

/** Wait until the server answers a window probe sent after mark `from`; marks 'probe answered'. */
const untilProbeAnswered = (from: string, timeoutS = 5): Step => ({
  label: 'until a window probe is answered',
  run: async (r) => {
    const since = r.marks[from];
    if (since === undefined) throw new Error(`no "${from}" mark to count window probes from`);
    const probe = isWindowProbe(r);
    const server = [r.topo.server.addr[4], r.topo.server.addr[6]];
    let lastProbe: number | null = null;
    const e = await r.topo.client.helper.waitFor(
      (e) => {
        if (e.t <= since || e.ev !== 'packet') return false;
        if (probe(e)) lastProbe = e.t;
        return lastProbe !== null && server.includes(String(e.src));
      },
      timeoutS * 1000,
      'an answer to a window probe',
      since,
    );
    r.mark('probe answered', e.t);
  },
});

/** The server answers no more probes from the moment its helper wrote the sysctl (marks 'receiver silent'). */
const silenceReceiver = (from: string, peer: { goneAtS?: number }): Step => ({
  label: 'the receiver stops answering',
  run: async (r) => {
    r.mark('silencing', now());
    const reply = await r.topo.server.helper.request({ cmd: 'sysctl', name: 'net.ipv4.tcp_invalid_ratelimit', value: SILENT_RATELIMIT_MS });
    r.mark('receiver silent', reply.t);
    peer.goneAtS = reply.t - r.marks[from]!;
  },
});

/**
 * The receiver vanishes right after answering a window probe sent after mark `from` (the
 * zero-window ACK): silent at once, then blackholed. `peer.goneAtS` (seconds from `from`) is the
 * zero-window model's peerGoneAtS.
 */
export function vanishAfterAnsweredProbe(from: string, peer: { goneAtS?: number; rateLimitMs?: number }, opts: { blipS?: number } = {}): Step[] {
  const blackhole = faults.blackhole();
  if (opts.blipS === undefined) return [untilProbeAnswered(from), silenceReceiver(from, peer), arm(blackhole)];
  const seconds = opts.blipS;
  return [
    untilProbeAnswered(from),
    silenceReceiver(from, peer),
    {
      // a blip: the blackhole lifts `seconds` after the receiver fell silent, and it answers again
      label: `blip: the receiver is gone for ${seconds} s`,
      fault: blackhole,
      run: async (r) => {
        if (peer.rateLimitMs === undefined) throw new Error('the receiver’s tcp_invalid_ratelimit was not read (readPeerRateLimit first)');
        r.plannedHealS = peer.goneAtS! + seconds;
        // the receiver's helper restores its answers at the heal's moment itself, as the flip does
        const restore = async (due: number) => (await r.topo.server.helper.request({ cmd: 'sysctl', name: 'net.ipv4.tcp_invalid_ratelimit', value: peer.rateLimitMs! }, { at: due })).t;
        await r.blip(blackhole, seconds, { from: r.marks['receiver silent']!, heal: restore });
      },
    },
  ];
}


/**
 * The vanishing receiver's set-up: it fell silent after answering the first window probe and before
 * the second, with no probe crossing while its sysctl was written. On a loaded machine the answer
 * can reach the run after the next probe has gone, and the receiver then vanishes a probe late:
 * the kernel answers another experiment than the case's, so the run is not judged (it runs again).
 */
export function receiverSilencedAfterFirstAnswer(obs: Observation): string | undefined {
  const answered = obs.marks['probe answered'];
  const second = obs.prediction.events[1]?.t;
  if (answered === undefined || obs.marks.silencing === undefined) return 'the receiver was never silenced';
  const s = silencing(obs);
  if (!s.afterAnswer) return 'the receiver was silenced before the probe it answered';
  if (s.probesDuring) return `${s.probesDuring} window probe(s) crossed while the receiver was being silenced`;
  if (second !== undefined && answered - obs.origin >= second)
    return `the answered probe came at ${(answered - obs.origin).toFixed(3)} s, after the second probe was due (${second.toFixed(3)} s): the receiver went silent a probe late`;
  return undefined;
}
