import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { answeredProbes } from '../harness/model/zero-window.js';
import { type ZeroWindowPeer, zeroWindowPhase } from '../harness/recipes/phases.js';
import { byProfile } from '../harness/core/profile.js';
import { receiverSilencedAfterFirstAnswer } from '../harness/recipes/window-probes.js';
import type { Packet, Observation } from '../harness/core/observation.js';
import type { EndpointSpec } from '../harness/engine/run.js';
import { sent, timerSamples } from '../harness/judge/premises.js';

/**
 * Zero window: the server accepts and never reads; its small receive buffer fills and it
 * advertises win 0. The client (the subject) has data waiting and nothing in flight, so no
 * retransmit timer runs: the persist timer sends window probes (a bare ACK one below snd_nxt),
 * backing off from tcp_probe0_base = max(rto, TCP_RTO_MIN). A live receiver answers them (at most
 * one per tcp_invalid_ratelimit) and the sender waits for ever; unanswered probes count towards
 * tcp_retries2; TCP_USER_TIMEOUT (5.11+) ends it U after the first probe either way. Keepalive
 * never runs while data waits.
 *
 * Timeline (harness/recipes/phases.ts zeroWindowPhase): listen (SO_RCVBUF small) → connect → accept → the client keeps
 * writing → the server's ACK with win 0 (t = 0) → probe, probe, … → [ETIMEDOUT]; a vanishing
 * receiver answers the first probe, then goes silent at once and is blackholed
 * (harness/recipes/window-probes.ts: arming nft takes up to seconds, silencing the receiver milliseconds).
 */
/** alive, no U: hold this long past t = 0. Between the 5th probe (≈ 6.5 s) and the 6th (≈ 13 s). */
const ALIVE_HORIZON_S = 9;

interface ZeroWindowSpec {
  peer: 'alive' | 'gone';
  client?: EndpointSpec;
  /** alive, no close expected: how long to watch past t = 0 */
  horizonS?: number;
}

interface ZeroWindowRun {
  obs: Observation;
  /** the server's net.ipv4.tcp_invalid_ratelimit, read back: how often it answers a probe */
  peerRateLimitMs: number;
}

async function zeroWindow(name: string, family: 4 | 6, spec: ZeroWindowSpec): Promise<ZeroWindowRun> {
  const peer: ZeroWindowPeer = {};
  const scenario = zeroWindowPhase({ family, client: spec.client }, { alive: spec.peer === 'alive', horizonS: spec.horizonS, peer });
  const obs = await runCase({ ...scenario, name: `zero-window/${name}` });
  return { obs, peerRateLimitMs: peer.rateLimitMs! };
}

const fromClient = (obs: Observation) => sent(obs, 'client');
const rel = (seq: number, isn: number) => (seq - isn) >>> 0;

/**
 * What makes it a persist-timer experiment: at t = 0 the server advertised win 0 and acknowledged
 * every byte the client had sent, and the client still had data waiting (TCP_INFO just after).
 */
function expectZeroWindowNothingInFlight(obs: Observation): void {
  const closing = obs.packets.find((p) => p.from === 'server' && p.t === obs.origin);
  expect(closing?.win).toBe(0);
  const sent = fromClient(obs).filter((p) => p.t < obs.origin);
  const isn = sent[0]!.seq;
  const sndNxt = Math.max(...sent.map((p: Packet) => rel(p.seq, isn) + p.len + (p.flags.includes('S') ? 1 : 0)));
  expect(rel(closing!.ack, isn)).toBe(sndNxt);
  const info = obs.snapshots.find((s) => s.label === 'rto')!;
  expect(info).toMatchObject({ snd_wnd: 0, unacked: 0 });
  expect(info.notsent_bytes).toBeGreaterThan(0);
}

/** The receiver fell silent after answering a probe, and no probe crossed while it was being silenced. */
/** The scenario's own premise (the receiver silenced after the first probe's answer, before the second), asserted. */
function expectVanishedAfterFirstAnswer(obs: Observation): void {
  expect(receiverSilencedAfterFirstAnswer(obs)).toBeUndefined();
}

/**
 * `ss -tno` showed timer:(persist,…) on the client: the persist timer, not the retransmit timer, ran
 * — once the client had taken in t = 0's ACK (a lookup between its arrival and then still shows the
 * retransmit timer of the data it acknowledged).
 */
function expectPersistTimer(obs: Observation): void {
  const after = timerSamples(obs, 'client', { since: 'origin taken in' });
  expect(after.map((s) => s.timer)).toContain('persist');
  expect(after.map((s) => s.timer)).not.toContain('on');
}

/** The server's answers after t = 0 are exactly the probes the model says it answers (rate limit). */
function expectAnswersPerModel({ obs, peerRateLimitMs }: ZeroWindowRun): void {
  const probes = obs.prediction.events.filter((e) => e.packet === 'WINDOW-PROBE').map((e) => e.t);
  const answered = answeredProbes(probes, peerRateLimitMs, obs.kernel.hz).filter(Boolean).length;
  const answers = obs.packets.filter((p) => p.from === 'server' && p.t > obs.origin && !p.dropped);
  expect(answers.every((p) => p.win === 0 && p.len === 0)).toBe(true);
  expect(answers).toHaveLength(answered);
  // the rate limit is not hypothetical at these settings: some probe went unanswered
  expect(answered).toBeLessThan(probes.length);
}

// Unanswered probes after the receiver vanished (past the first): the fast profile gives up after 3 in a
// row (≈ 5 s), faithful keeps the kernel's 15 (≈ 15 min).
const retries2 = byProfile({ fast: { tcp_retries2: 3 }, faithful: {} });
const goneS = byProfile({ fast: 6, faithful: 1000 });
/**
 * U well clear of any probe: the timer that would send a probe just before U can fire past it (a
 * 1.6 s timer fires up to 256 ms late at HZ=250) and then aborts instead of probing. U = 2 s after
 * the first probe falls 0.75 s after the third and replaces the fourth.
 */
const USER_TIMEOUT_MS = 2000;

for (const family of FAMILIES) {
  kernelCases(`zero window (persist timer) over IPv${family}`, () => {
    it('receiver alive, no TCP_USER_TIMEOUT: probes back off from tcp_probe0_base and the sender waits for ever', { timeout: timeoutFor(ALIVE_HORIZON_S) }, async () => {
      const run = await zeroWindow('alive', family, { peer: 'alive', horizonS: ALIVE_HORIZON_S });
      const { obs } = run;
      expectZeroWindowNothingInFlight(obs);
      expectPersistTimer(obs);
      expect(obs).toFollowModel();
      expect(obs).toStayOpen();
      expect(obs.packets.filter((p) => p.kind === 'WINDOW-PROBE').length).toBeGreaterThanOrEqual(5);
      expectAnswersPerModel(run);
    });

    it('receiver alive, TCP_USER_TIMEOUT: ETIMEDOUT U after the first probe (5.11+), answers or not', { timeout: timeoutFor(4) }, async () => {
      const U = USER_TIMEOUT_MS;
      const { obs } = await zeroWindow('alive-user-timeout', family, { peer: 'alive', client: { options: { TCP_USER_TIMEOUT: U } } });
      expectZeroWindowNothingInFlight(obs);
      expectPersistTimer(obs);
      expect(obs).toFollowModel();
      if (obs.kernel.zeroWindowUserTimeout) {
        // icsk_probes_tstamp is the first probe; the last timer is clamped to land on U exactly
        const firstProbe = obs.prediction.events[0]!.t;
        expect(obs.prediction.closeAt).toBeCloseTo(firstProbe + U / 1000, 3);
        expect(obs.close?.errno).toBe('ETIMEDOUT');
      } else {
        expect(obs).toStayOpen(); // 5.1–5.10 without 9d9b1ee0b2d1: answered probes reset the count
      }
    });

    it('receiver alive, tcp_retries2=1: a probe left unanswered by the receiver’s ACK rate limit ends a live connection', { timeout: timeoutFor(3) }, async () => {
      const run = await zeroWindow('alive-retries2-1', family, { peer: 'alive', client: { sysctls: { tcp_retries2: 1 } } });
      const { obs } = run;
      expectZeroWindowNothingInFlight(obs);
      expect(obs).toFollowModel();
      // the second probe comes 2·base after the first, inside tcp_invalid_ratelimit: unanswered, it counts
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(obs.packets.filter((p) => p.kind === 'WINDOW-PROBE')).toHaveLength(2);
      expectAnswersPerModel(run);
    });

    it('receiver gone: ETIMEDOUT once tcp_retries2 probes in a row went unanswered', { timeout: timeoutFor(goneS) }, async () => {
      const { obs } = await zeroWindow('gone', family, { peer: 'gone', client: { sysctls: retries2 } });
      expectZeroWindowNothingInFlight(obs);
      expectVanishedAfterFirstAnswer(obs);
      expectPersistTimer(obs);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      // no RST: tcp_write_err() closes silently
      expect(fromClient(obs).filter((p) => p.kind === 'RST')).toHaveLength(0);
    });

    it('receiver gone, TCP_USER_TIMEOUT: U, counted from the first probe, comes before tcp_retries2', { timeout: timeoutFor(4) }, async () => {
      const U = USER_TIMEOUT_MS;
      const { obs } = await zeroWindow('gone-user-timeout', family, { peer: 'gone', client: { sysctls: retries2, options: { TCP_USER_TIMEOUT: U } } });
      expectZeroWindowNothingInFlight(obs);
      expectVanishedAfterFirstAnswer(obs);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      if (obs.kernel.zeroWindowUserTimeout) expect(obs.prediction.closeAt).toBeCloseTo(obs.prediction.events[0]!.t + U / 1000, 3);
    });

    it('receiver gone, keepalive 1/1/1 on: changes nothing while data waits', { timeout: timeoutFor(goneS) }, async () => {
      // keepalive this aggressive would probe at 1 s and kill at 2 s; a keepalive probe looks like a window
      // probe on the wire (both are seq snd_nxt − 1), so toFollowModel's exact count would catch one
      const { obs } = await zeroWindow('gone-keepalive', family, {
        peer: 'gone',
        client: { sysctls: retries2, options: { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 1, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 1 } },
      });
      expect(obs.settings.client.socket.keepalive).toBe(true);
      expectZeroWindowNothingInFlight(obs);
      expectVanishedAfterFirstAnswer(obs);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      const ka = obs.settings.client.socket;
      expect(obs.close!.t - obs.origin).toBeGreaterThan(ka.keepIdle + ka.keepCnt * ka.keepIntvl); // when keepalive would have killed it
      // keepalive was armed before the data; from t = 0 ss shows only the persist timer
      expectPersistTimer(obs);
    });
  });
}
