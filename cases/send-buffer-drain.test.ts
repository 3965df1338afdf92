import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { DrainMonitor, type DrainSample, detectedDeadAt, drainRate, progressed } from '../harness/apps/drain-monitor.js';
import { type ZeroWindowPeer, zeroWindowModel } from '../harness/recipes/phases.js';
import { byProfile } from '../harness/core/profile.js';
import { handshake, hold, measureRto, pump, read, snapshot, until } from '../harness/engine/steps.js';
import { isWindowProbe, readPeerRateLimit, vanishAfterAnsweredProbe } from '../harness/recipes/window-probes.js';
import { silencing } from '../harness/judge/premises.js';
import type { HelperEvent, TcpInfo } from '../harness/core/protocol.js';
import type { Observation } from '../harness/core/observation.js';
import { now } from '../harness/core/clock.js';
import type { Step } from '../harness/engine/run.js';

/**
 * Send-buffer drain: the reference's advice for the case the kernel cannot help with. A reader
 * that is slow but alive acknowledges everything it reads, so no kernel timer ever gives up on
 * it, and it keeps the sender's buffer full; a reader that vanished leaves the buffer just as
 * full. The application can tell them apart only by watching bytes leave its send queue
 * (harness/apps/drain-monitor.ts): tcpi_bytes_acked grows / tcpi_notsent_bytes falls for the slow
 * reader, nothing moves for the dead one. SIOCOUTQ, the level of the queue, looks the same.
 *
 * One connection per address family plays both parts, in order:
 *   listen (small SO_RCVBUF) → connect → accept → the server reads at
 *   READ_RATE → the client keeps writing → the monitor samples the client → (a) WARMUP + SPAN of
 *   slow reading → the peer vanishes: its reader stops right after an ACK closed the window, it
 *   answers the client's first window probe and falls silent, and its host drops off the network
 *   (blackhole) → (b) the monitor says dead → the persist timer's probes go unanswered and it
 *   gives up (the zero-window model).
 * t = 0 is the ACK that closed the window for good (the last progress the client saw). The peer
 * vanishes in steps because a blackhole cannot be armed at a chosen instant (harness/recipes/window-probes.ts):
 * a stopped reader sends nothing but probe answers, and those stop at once. The monitor cannot tell
 * "stopped reading" from "gone" anyway: it watches progress, and both stop it.
 */
const READ_RATE = 16 * 1024; // bytes/s
const RCVBUF = 4096; // server SO_RCVBUF (doubled by the kernel): the read rate, not the buffer, paces the sender
const SNDBUF = 32 * 1024; // client SO_SNDBUF: a fixed buffer for "full" to mean something
/**
 * Longer than any pause of a live reader: the window reopens every ~2 segments / READ_RATE ≈ 0.2 s,
 * plus scheduling stalls of the reading process on a loaded machine (up to ~1 s measured on 2 cores).
 */
const POLICY = { windowS: 2, intervalMs: 100 };
const WARMUP_S = 1; // both buffers fill; the drain is read-rate bound from then on
const SPAN_S = 4; // the slow-reader measurement
// unanswered probes after the answered one: fast profile gives up after 3 (≈ 5 s), faithful after 15 (≈ 15 min)
const retries2 = byProfile({ fast: { tcp_retries2: 3 }, faithful: {} });

interface DrainRun {
  obs: Observation;
  monitor: DrainMonitor;
  /** the server's TCP_INFO at the start and end of the slow-reader span */
  span: [TcpInfo & { t: number }, TcpInfo & { t: number }];
  /** when the monitor first said dead */
  detectedAt: number;
}

/** A probe's answer is sent from the probe's own receive softirq: tens of µs on the veth, 10 ms is generous. */
const ANSWER_WITHIN_S = 0.01;

/** Stop the reader while the window is closed (TCP_INFO: window 0, nothing in flight): its buffer stays full. */
const stopReadingAtZeroWindow = (): Step => ({
  label: 'the reader stops while the window is closed',
  run: async (r) => {
    await until('window closed', async () => {
      const i = await r.clientSock!.info();
      return i.snd_wnd === 0 && i.unacked === 0 && i.notsent_bytes > 0;
    }).run(r);
    await read('server', 'stop').run(r);
  },
});

/**
 * Mark 'zero-window' at the ACK that closed the window for good: the last server packet before the
 * first window probe that follows the client's last data (the reader may have freed room once more
 * while its stop was on the way, so it is found on the wire, not assumed). Also note when the
 * receiver last answered a probe before it: a slow reader's sender probes in most of its
 * zero-window spells, and the receiver's rate limit remembers the last answer across them.
 */
const markWindowClosedForGood = (peer: { lastAnswerAtS?: number }): Step => ({
  label: 'mark the ACK that closed the window for good',
  run: async (r) => {
    const client = [r.topo.client.addr[4], r.topo.client.addr[6]];
    const stopped = r.marks['server stopped reading']!;
    const isProbe = isWindowProbe(r);
    const probe = await r.topo.client.helper.waitFor((e) => isProbe(e) && e.t > stopped, 5000, 'the first window probe after the reader stopped', stopped);
    const packets = r.topo.client.helper.events.filter((e) => e.ev === 'packet' && e.t < probe.t);
    const fromClient = (e: HelperEvent) => client.includes(String(e.src));
    const lastData = packets.filter((e) => fromClient(e) && (e.len as number) > 0).pop()!;
    const firstProbe = packets.find((e) => isProbe(e) && e.t > lastData.t) ?? probe;
    const closing = packets.filter((e) => !fromClient(e) && e.t < firstProbe.t).pop()!;
    r.mark('zero-window', closing.t);
    // an answer comes straight back (the probe's own receive path sends it), acknowledging the byte the
    // probe repeated, still with win 0; a window update the reader triggers is a different packet
    const answers = packets.filter((e, i) => {
      const prev = packets[i - 1];
      return (
        !fromClient(e) &&
        e.t < closing.t &&
        prev !== undefined &&
        isProbe(prev) &&
        e.t - prev.t < ANSWER_WITHIN_S &&
        e.win === 0 &&
        e.ack === (((prev.seq as number) + 1) >>> 0)
      );
    });
    if (answers.length) peer.lastAnswerAtS = answers[answers.length - 1]!.t - closing.t;
  },
});

/**
 * Wait for the client's ETIMEDOUT: the model's close time plus awaitClose()'s margin, counted from
 * t = 0 (awaitClose() counts from connect, seconds of slow reading earlier here).
 */
const awaitKernel = (): Step => ({
  label: 'await the kernel',
  run: async (r) => {
    const deadline = r.marks['zero-window']! + r.prediction().closeAt! * 1.25 + 5;
    await r.clientSock!.whenClosed(Math.max(0, deadline - now()) * 1000).catch(() => undefined);
  },
});

async function drain(family: 4 | 6): Promise<DrainRun> {
  let monitor!: DrainMonitor;
  let detectedAt = NaN;
  const peer: ZeroWindowPeer = {};
  const obs = await runCase({
    name: 'send-buffer-drain/slow-then-gone',
    phase: 'zero-window',
    family,
    client: { sysctls: retries2, options: { SO_SNDBUF: SNDBUF } },
    server: { options: { SO_RCVBUF: RCVBUF } },
    model: zeroWindowModel(peer),
    steps: [
      ...handshake(),
      readPeerRateLimit(peer),
      read('server', READ_RATE),
      pump('client'),
      {
        label: 'start the drain monitor',
        run: async (r) => {
          monitor = DrainMonitor.forSocket(r.clientSock!, POLICY);
          monitor.start();
        },
      },
      hold(WARMUP_S),
      snapshot('server', 'span start'),
      hold(SPAN_S),
      snapshot('server', 'span end'),
      stopReadingAtZeroWindow(),
      markWindowClosedForGood(peer),
      measureRto('client', { asOf: 'zero-window' }),
      ...vanishAfterAnsweredProbe('zero-window', peer),
      {
        label: 'the monitor says dead',
        run: async (r) => {
          await monitor.when('dead', (POLICY.windowS * 3 + 5) * 1000);
          // the first dead verdict: it may have come while the peer was still being taken away
          detectedAt = monitor.verdicts.find((v) => v.verdict === 'dead')!.t;
          r.mark('detected', detectedAt);
          await monitor.stop();
        },
      },
      awaitKernel(),
    ],
  }).finally(() => monitor?.stop());
  const at = (label: string) => obs.snapshots.find((s) => s.side === 'server' && s.label === label)!;
  return { obs, monitor, span: [at('span start'), at('span end')], detectedAt };
}

const runs = new Map<4 | 6, Promise<DrainRun>>();
/** The three its read the same run: each asserts one part of it. */
const drainRun = (family: 4 | 6) => {
  if (!runs.has(family)) runs.set(family, drain(family));
  return runs.get(family)!;
};

const during = (samples: DrainSample[], from: number, to: number) => samples.filter((s) => s.t >= from && s.t <= to);
const timeout = timeoutFor(WARMUP_S + SPAN_S + byProfile({ fast: 7, faithful: 1000 }));

for (const family of FAMILIES) {
  kernelCases(`send-buffer drain over IPv${family}`, () => {
    it('a slow but alive reader is kept: bytes keep leaving the send queue at the read rate', { timeout }, async () => {
      const { obs, monitor, span } = await drainRun(family);
      const [start, end] = span;
      // from one window into the run until the reader stops, every verdict is alive
      const t0 = monitor.samples[0]!.t;
      const slow = monitor.verdicts.filter((v) => v.t < obs.marks['server stopped reading']!);
      expect(slow.filter((v) => v.t >= t0 + POLICY.windowS).every((v) => v.verdict === 'alive')).toBe(true);
      expect(slow.some((v) => v.verdict === 'dead')).toBe(false);
      // nor did the kernel give up on it: nothing times out a receiver that acknowledges
      expect(obs.close === null || obs.close.t > obs.marks['server stopped reading']!).toBe(true);

      // what the reader really read (its own TCP_INFO: received − still queued) over the span
      const readBytes = (i: TcpInfo) => i.bytes_received - i.inq;
      const D = end.t - start.t;
      const readRate = (readBytes(end) - readBytes(start)) / D;
      // the helper reads through a token bucket of READ_RATE with 100 ms of burst: never faster
      expect(readRate).toBeLessThanOrEqual(READ_RATE + (READ_RATE / 10 + 1) / D);
      // the experiment is "a slow reader at READ_RATE" only if the machine did not starve it
      expect(readRate, 'the reader was starved (machine overloaded?)').toBeGreaterThanOrEqual(READ_RATE / 2);

      // The monitor's drain rate is the acknowledged bytes: it differs from what was read by the change in
      // acknowledged-but-unread bytes in the receiver's queue (at most its buffer, SO_RCVBUF read back) and
      // by where the monitor's samples fall (up to one interval at the read rate at each end).
      const drain = drainRate(monitor.samples, start.t, end.t);
      const rcvbuf = obs.settings.server.raw.SO_RCVBUF!;
      expect(Math.abs(drain - readRate)).toBeLessThanOrEqual((rcvbuf + 2 * READ_RATE * (POLICY.intervalMs / 1000)) / D);
    });

    it('a vanished peer is detected within the window, long before the kernel gives up', { timeout }, async () => {
      const { obs, monitor, detectedAt } = await drainRun(family);
      // the persist timer, armed by the ACK that closed the window (t = 0), probed a receiver that
      // answered until it went, then the void: probes per the zero-window model, then ETIMEDOUT
      expect(silencing(obs)).toEqual({ afterAnswer: true, probesDuring: 0 });
      expect(obs.packets.find((p) => p.t === obs.origin)?.win).toBe(0);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(obs.packets.filter((p) => p.from === 'client' && p.t > obs.origin && p.len > 0)).toHaveLength(0);

      // the live monitor decided as the pure verdict does, replayed over the same samples
      expect(detectedDeadAt(monitor.samples, POLICY)).toBe(detectedAt);
      expect(detectedAt).toBeGreaterThan(obs.marks['server stopped reading']!);
      // detection: a window after the last progress, which shows at the first sample after t = 0 at the
      // latest; the monitor only decides at a sample, so allow the longest gap between samples twice
      const gaps = monitor.samples.slice(1).map((s, i) => s.t - monitor.samples[i]!.t);
      expect(detectedAt - obs.origin).toBeGreaterThanOrEqual(POLICY.windowS);
      expect(detectedAt - obs.origin).toBeLessThanOrEqual(POLICY.windowS + 2 * Math.max(...gaps));
      // and the kernel needed more than another whole window after that
      expect(obs.close!.t - detectedAt).toBeGreaterThan(POLICY.windowS);
    });

    it('SIOCOUTQ looks full either way; notsent_bytes and bytes_acked tell slow from gone', { timeout }, async () => {
      const { obs, monitor, span, detectedAt } = await drainRun(family);
      const slow = during(monitor.samples, span[0].t, span[1].t);
      // from the first sample after the window closed for good: nothing moves any more
      const dead = monitor.samples.filter((s) => s.t > obs.origin && s.t <= detectedAt);
      // The writer refills once a third of the buffer is free (writable when free ≥ half of what is queued),
      // so the queue stays above ~2/3 of its peak: a level rule such as "SIOCOUTQ above half for a window
      // means stuck" condemns the slow reader as surely as the dead one.
      const full = Math.max(...monitor.samples.map((s) => s.outq)) / 2;
      expect(slow.every((s) => s.outq >= full)).toBe(true);
      expect(dead.every((s) => s.outq >= full)).toBe(true);
      // the progress counters differ: the slow reader's bytes_acked grows and notsent falls between samples;
      // the dead peer's do not move at all
      const pairs = (xs: DrainSample[]) => xs.slice(1).map((s, i) => [xs[i]!, s] as const);
      expect(slow[slow.length - 1]!.bytesAcked).toBeGreaterThan(slow[0]!.bytesAcked);
      expect(pairs(slow).some(([a, b]) => b.notsent < a.notsent)).toBe(true);
      expect(dead.length).toBeGreaterThanOrEqual(3);
      expect(pairs(dead).some(([a, b]) => progressed(a, b))).toBe(false);
      expect(new Set(dead.map((s) => s.outq)).size).toBe(1);
    });
  });
}
