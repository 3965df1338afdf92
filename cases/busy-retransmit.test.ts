import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { runningKernel } from '../harness/engine/kernel.js';
import { predictBusy } from '../harness/model/busy.js';
import type { BusyInput, Prediction } from '../harness/model/types.js';
import { byProfile } from '../harness/core/profile.js';
import { type BusyOptions, busyPhase } from '../harness/recipes/phases.js';
import { USERSPACE_SLACK } from '../harness/judge/verdict.js';
import type { Packet, Observation } from '../harness/core/observation.js';
import type { EndpointSpec } from '../harness/engine/run.js';
import { sent, timerSamples } from '../harness/judge/premises.js';

/**
 * Busy ESTABLISHED: the client has written data that the peer, gone, never acknowledges (every
 * packet dropped both ways). The retransmit timer governs ("on" in ss): first a tail loss probe,
 * then RTO retransmissions of the head segment, the RTO doubling up to rto_max, until the budget
 * is spent — tcp_model_timeout(tcp_retries2, 200 ms, rto_max), or TCP_USER_TIMEOUT instead —
 * counted from retrans_stamp, the first RTO retransmission. Then ETIMEDOUT, without an RST.
 * Keepalive plays no part while data is unacknowledged.
 *
 * Timeline of every case here:
 *   listen → connect → established → accept → read RTO/RTT → arm blackhole
 *   → [peer silent a while] → client sends → TLP, RTO, RTO, … → ETIMEDOUT
 */

/** Fits one segment: one DATA, every retransmission the same bytes. */
const ONE_SEGMENT = 1000;
/** Three segments sent as one skb (one packet on the veth): the TLP and the RTO re-send different parts. */
const THREE_SEGMENTS = 4000;

/**
 * Retransmission k (k ≥ 1) after retrans_stamp fires at 0.408·(2^k − 1) s here (RTO 204 ms, the
 * TLP in front). The budget must not fall within timer-wheel slack of a firing, or a late chain
 * moves the give-up by one firing. fast: tcp_retries2 5 → 12.6 s, straddled by 6.12 s and
 * 12.648 s (lateness only pushes the later one further past); 4 would not do (6.12 vs 6.2 s).
 * faithful: the kernel's 15 (924.6 s).
 */
const RETRIES2 = byProfile({ fast: { tcp_retries2: 5 }, faithful: {} });
const RETRIES2_TIMEOUT = { timeout: timeoutFor(byProfile({ fast: 14, faithful: 935 })) };

/**
 * User timeouts are 2 ms off a multiple of the 4 ms jiffy: the last RTO is clamped to what is left
 * of U in whole jiffies (rounded up), so the final check lands 1–3 ms past U. With U on a jiffy
 * boundary it lands on U itself, where the millisecond rounding of tcp_time_stamp can read 1 ms
 * short and send one more retransmission first.
 */
const USER_TIMEOUT_MS = 5002;

/** One run, and the model's input for it (to ask the model "what if" about the same connection). */
async function busy(name: string, family: 4 | 6, opts: { client?: EndpointSpec } & Omit<BusyOptions, 'onModelInput'> = {}): Promise<{ obs: Observation; input: BusyInput }> {
  let input: BusyInput | undefined;
  const spec = busyPhase({ family, client: opts.client }, { bytes: opts.bytes ?? ONE_SEGMENT, silentFor: opts.silentFor, onModelInput: (i) => (input = i) });
  const obs = await runCase({ ...spec, name: `busy-retransmit/${name}` });
  return { obs, input: input! };
}

/** The client's packets of a kind from the write on (a keepalive case may probe while still idle, before it). */
const fromClient = (obs: Observation, kind: Packet['kind']) => sent(obs, 'client', { kind, since: 'origin' });
const predicted = (p: Prediction, kind: Packet['kind']) => p.events.filter((e) => e.packet === kind);
/** The client's timer samples (what `ss -o` shows) from the write on; before it, an idle socket with keepalive shows that. */
const clientSamples = (obs: Observation) => timerSamples(obs, 'client', { state: 'ESTABLISHED', since: 'origin' });
const clientTimers = (obs: Observation) => clientSamples(obs).map((s) => s.timer);

/**
 * Samples that showed the keepalive timer away from any retransmit-timer firing. sock_diag reports
 * the keepalive timer whenever no retransmit-class timer is pending (inet_sk_diag_fill), and
 * tcp_write_timer_handler() clears icsk_pending while it runs tcp_retransmit_timer(): a lookup on
 * the other core in those microseconds sees "keepalive" (seen under load at the 6th RTO, and at
 * the last firing, the one that gives up: each stamped within 0.1 ms of the retransmission or the
 * close). Such a sample sits on a firing; one that does not would mean the keepalive timer really
 * was what was pending.
 */
function keepaliveAwayFromFirings(obs: Observation): number[] {
  const firings = sent(obs, 'client', { kind: 'RETRANSMIT' }).map((p) => p.t);
  if (obs.close) firings.push(obs.close.t);
  // USERSPACE_SLACK: the close is stamped when the helper saw it
  return clientSamples(obs)
    .filter((s) => s.timer === 'keepalive' && !firings.some((t) => Math.abs(s.t - t) <= USERSPACE_SLACK))
    .map((s) => s.t - obs.origin);
}

const { rtoMax } = runningKernel();
const NO_RTO_MAX = ' — skipped: this kernel has neither TCP_RTO_MAX_MS nor net.ipv4.tcp_rto_max_ms (6.15+)';

for (const family of FAMILIES) {
  kernelCases(`busy ESTABLISHED over IPv${family}`, () => {
    it('a tail loss probe, then the head retransmitted with exponential backoff; ETIMEDOUT at the first firing past the tcp_retries2 budget', RETRIES2_TIMEOUT, async () => {
      const { obs } = await busy('tcp_retries2', family, { client: { sysctls: RETRIES2 } });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      // tcp_write_err() closes silently: unlike a keepalive abort, no RST goes out
      expect(fromClient(obs, 'RST')).toHaveLength(0);
      // what `ss -o` shows meanwhile: the retransmit timer, never keepalive
      expect(clientTimers(obs)).toContain('on');
      expect(clientTimers(obs)).not.toContain('keepalive');
    });

    it('several segments in flight: the tail loss probe re-sends the last one, every RTO only the head', RETRIES2_TIMEOUT, async () => {
      const { obs } = await busy('head-only', family, { client: { sysctls: RETRIES2 }, bytes: THREE_SEGMENTS });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const [data] = fromClient(obs, 'DATA');
      const [tlp, ...rtos] = fromClient(obs, 'RETRANSMIT');
      const mss = obs.snapshots.find((s) => s.label === 'rto')!.snd_mss;
      expect(data!.len).toBe(THREE_SEGMENTS);
      expect((tlp!.seq + tlp!.len) >>> 0).toBe((data!.seq + data!.len) >>> 0);
      expect(tlp!.seq).not.toBe(data!.seq);
      expect(rtos.length).toBeGreaterThan(0);
      for (const r of rtos) expect({ seq: r.seq, len: r.len }).toEqual({ seq: data!.seq, len: mss });
    });

    it('TCP_USER_TIMEOUT shorter than the budget: ETIMEDOUT ≈U after the first RTO retransmission', { timeout: timeoutFor(8) }, async () => {
      const { obs, input } = await busy('TCP_USER_TIMEOUT', family, { client: { sysctls: RETRIES2, options: { TCP_USER_TIMEOUT: USER_TIMEOUT_MS } } });
      expect(obs.settings.client.socket.userTimeoutMs).toBe(USER_TIMEOUT_MS);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      // U counts from retrans_stamp, the first RTO retransmission (a TLP, when there is one, comes before it)
      const first = input.tlpMs === undefined ? 0 : 1;
      const u = USER_TIMEOUT_MS / 1000;
      const stamp = predicted(obs.prediction, 'RETRANSMIT')[first]!.t;
      expect(obs.prediction.closeAt! - stamp).toBeGreaterThanOrEqual(u);
      expect(obs.prediction.closeAt! - stamp).toBeLessThan(u + 1 / obs.kernel.hz);
      // and the kernel never gives up before U has passed on its own clock (ms) since that packet
      expect(obs.close!.t - fromClient(obs, 'RETRANSMIT')[first]!.t).toBeGreaterThanOrEqual(u - 0.001);
    });

    it('TCP_USER_TIMEOUT longer than the tcp_retries2 budget: tcp_retries2 is ignored', { timeout: timeoutFor(8) }, async () => {
      // tcp_retries2 2 alone (budget 1.4 s) gives up at the third RTO firing, ≈3.3 s; U ≈ 6 s must outlive it
      const u = 6002;
      const { obs, input } = await busy('U-over-retries2', family, { client: { sysctls: { tcp_retries2: 2 }, options: { TCP_USER_TIMEOUT: u } } });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const withoutU = predictBusy({ ...input, socket: { ...input.socket, userTimeoutMs: 0 } });
      expect(obs.prediction.closeAt!).toBeGreaterThan(withoutU.closeAt! + 1);
      expect(fromClient(obs, 'RETRANSMIT').length).toBeGreaterThan(predicted(withoutU, 'RETRANSMIT').length);
    });

    it('the clock starts at the data, not at the last packet received: a peer silent before the write does not shorten it', { timeout: timeoutFor(10) }, async () => {
      const silentFor = 2;
      const u = 3002;
      const { obs } = await busy('silent-before-send', family, { client: { options: { TCP_USER_TIMEOUT: u } }, silentFor });
      expect(obs).toFollowModel(); // t = 0: the first (dropped) transmission of the data
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const lastReceived = obs.packets.filter((p) => p.from === 'server' && !p.dropped).at(-1)!;
      // counted from the last packet received it would have died ≈1 s after the write
      expect(obs.close!.t - lastReceived.t).toBeGreaterThan(silentFor + u / 1000);
    });

    it('SO_KEEPALIVE changes nothing while data is unacknowledged', RETRIES2_TIMEOUT, async () => {
      // keepalive far shorter than the retransmission schedule: were it running, it would probe every second and abort at 2 s
      const keepalive = { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 1, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 1 };
      const { obs, input } = await busy('SO_KEEPALIVE', family, { client: { sysctls: RETRIES2, options: keepalive } });
      expect(obs.settings.client.socket.keepalive).toBe(true);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const keepaliveOff = predictBusy({ ...input, socket: { ...input.socket, keepalive: false } });
      expect(obs.prediction.events).toEqual(keepaliveOff.events);
      expect(obs.prediction.closeAt).toBe(keepaliveOff.closeAt);
      expect(fromClient(obs, 'KEEPALIVE')).toHaveLength(0);
      expect(clientTimers(obs)).toContain('on');
      expect(keepaliveAwayFromFirings(obs)).toEqual([]);
    });

    /**
     * tcp_rto_max (6.15+) caps each RTO and is the step of tcp_model_timeout beyond its linear
     * threshold: tcp_retries2 3 with rto_max 1 s → budget 2.4 s instead of 3.0 s, the last firing
     * before it 176 ms short of it (more than the 108 ms the wheel can add over that chain).
     */
    const rtoMaxCase = (name: string, client: EndpointSpec) => async () => {
      const { obs, input } = await busy(name, family, { client: { ...client, sysctls: { tcp_retries2: 3, ...client.sysctls } } });
      expect(obs.settings.client.socket.rtoMaxMs).toBe(1000);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const uncapped = predictBusy({ ...input, socket: { ...input.socket, rtoMaxMs: 120_000 }, sysctls: { ...input.sysctls, tcp_rto_max_ms: 120_000 } });
      expect(obs.prediction.closeAt!).toBeLessThan(uncapped.closeAt!);
    };
    const rtoMaxTitle = (what: string) => `${what} caps the RTO at 1 s and shrinks the tcp_retries2 budget with it${rtoMax ? '' : NO_RTO_MAX}`;
    it.skipIf(!rtoMax)(rtoMaxTitle('TCP_RTO_MAX_MS on the socket'), { timeout: timeoutFor(5) }, rtoMaxCase('TCP_RTO_MAX_MS', { options: { TCP_RTO_MAX_MS: 1000 } }));
    it.skipIf(!rtoMax)(rtoMaxTitle('net.ipv4.tcp_rto_max_ms'), { timeout: timeoutFor(5) }, rtoMaxCase('tcp_rto_max_ms', { sysctls: { tcp_rto_max_ms: 1000 } }));
  });
}
