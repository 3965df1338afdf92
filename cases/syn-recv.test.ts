import { expect, it } from 'vitest';
import '../harness/vitest/accept-matchers.js';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictSynRecv } from '../harness/model/syn-recv.js';
import { byProfile } from '../harness/core/profile.js';
import { armAccept, awaitRequestEnd, firstSynAck, timeClientData } from '../harness/recipes/listener.js';
import { requestStates, sent } from '../harness/judge/premises.js';
import { arm, closeSocket, connect, established, hold, listen, send } from '../harness/engine/steps.js';
import { CAPTURE_SLACK } from '../harness/judge/verdict.js';
import { type Observation, sideInput } from '../harness/core/observation.js';
import type { EndpointSpec, Step } from '../harness/engine/run.js';


/**
 * SYN-RECV, the server's view: the client's SYN arrived, the server answered with a SYN+ACK, and
 * the handshake does not finish. The connection is a request minisocket in the listener's SYN
 * queue: accept() cannot return it and none of the listener's options (SO_KEEPALIVE,
 * TCP_USER_TIMEOUT) reach it. Its own timer resends the SYN+ACK (tcp_synack_retries times, at
 * 1, 3, 7, … s) and drops it silently at the next firing. If only the final ACK was lost, the
 * client is ESTABLISHED already, and its next ACK or its first data completes the handshake.
 *
 * Timelines (t = 0 is the first SYN+ACK):
 *   client vanished: arm "server silent" (the client never sees a SYN+ACK, so never answers, not
 *     even with an RST) → listen, arm accept() → connect → first SYN+ACK → the client close()s
 *     (from SYN-SENT: silently) → SYN+ACK × tcp_synack_retries → request gone, never accepted
 *   final ACK lost: arm "drop bare ACK" → … → the client is ESTABLISHED → disarm → resent SYN+ACK
 *     → the client's ACK → accepted
 *   every bare ACK lost: arm "drop bare ACK" → … → ESTABLISHED → resent SYN+ACK (its answer, a
 *     bare ACK, dropped too) → client data at DATA_AFTER_S → accepted
 */

// fast: SYN+ACKs at 0, 1, 3 s, request dropped at 7 s; faithful: the kernel's default
const SYNACK_RETRIES = byProfile({ fast: { tcp_synack_retries: 2 }, faithful: {} });
const DROPPED_BY_S = byProfile({ fast: 7, faithful: 63 });
// between the first SYN+ACK retransmission (1 s) and the second (3 s), clear of both
const DATA_AFTER_S = 2;

const vanishedClient = (name: string, family: 4 | 6, listener: EndpointSpec['options'] = {}) =>
  runCase({
    name: `syn-recv/${name}`,
    phase: 'syn-recv',
    family,
    subject: 'server',
    server: { sysctls: SYNACK_RETRIES, options: listener },
    model: (s) => predictSynRecv(sideInput(s, 'server')),
    steps: [arm(faults.silence('server')), listen(), armAccept(), connect(), firstSynAck(), closeSocket('client'), awaitRequestEnd()],
  });

/**
 * The handshake's third packet is dropped. 'disarm': the fault goes once the client is
 * ESTABLISHED, so its answer to the resent SYN+ACK gets through. 'data': every bare ACK stays
 * lost and the client writes after DATA_AFTER_S; when its data arrived is measured and given to
 * the model.
 */
const finalAckLost = (name: string, family: 4 | 6, then: 'disarm' | 'data') => {
  let clientDataAtS: number | undefined;
  const afterHandshake: Step[] =
    then === 'disarm'
      ? [arm(faults.none())]
      : [
          hold(DATA_AFTER_S),
          send('client', 100),
          timeClientData((atS) => (clientDataAtS = atS)),
        ];
  return runCase({
    name: `syn-recv/${name}`,
    phase: 'syn-recv',
    family,
    subject: 'server',
    server: { sysctls: SYNACK_RETRIES },
    model: (s) => predictSynRecv({ ...sideInput(s, 'server'), finalAckLost: true, clientAcksLost: then === 'data', clientDataAtS }),
    steps: [arm(faults.dropBareAck()), listen(), armAccept(), connect(), firstSynAck(), established(), ...afterHandshake, awaitRequestEnd()],
  });
};

/**
 * The client went ESTABLISHED on the first SYN+ACK, before any timer: its final ACK (the kernel
 * sends it while processing that SYN+ACK) is its first packet after it and comes before the
 * server's first resend. Judged on the capture, not on when the helper woke up to report it.
 */
function expectClientCompletedOnFirstSynAck(obs: Observation) {
  const firstResend = obs.packets.find((p) => p.from === 'server' && p.kind === 'SYN-ACK' && p.t > obs.origin);
  const finalAck = obs.packets.find((p) => p.from === 'client' && p.t >= obs.origin);
  expect(finalAck?.kind).toBe('ACK');
  expect(finalAck!.t).toBeLessThan(firstResend?.t ?? Infinity);
  expect(obs.marks.established!).toBeGreaterThanOrEqual(finalAck!.t - CAPTURE_SLACK);
}

/** The SYN+ACK retransmissions the model predicts (event 0 is the original). */
const predictedRetransmits = (obs: Observation) => obs.prediction.events.filter((e) => e.packet === 'SYN-ACK' && e.n > 0).length;

for (const family of FAMILIES) {
  kernelCases(`SYN-RECV over IPv${family}`, () => {
    it('client vanished: SYN+ACK resent per tcp_synack_retries, then the request is dropped, never accepted', { timeout: timeoutFor(DROPPED_BY_S) }, async () => {
      const obs = await vanishedClient('client-vanished', family);
      expect(obs).toFollowModel();
      expect(obs.prediction.errno).toBeNull(); // the application never held it: nobody to tell
      expect(obs.close).toBeNull();
      // the request's own timer, as ss shows it: "on", its retransmit count climbing 0, 1, …
      const { during, after } = requestStates(obs);
      expect(during.map((s) => s.timer)).toEqual(during.map(() => 'on'));
      expect(during.map((s) => s.retrans)).toEqual([...Array(predictedRetransmits(obs) + 1).keys()]);
      expect(after?.ev).toBe('gone');
      expect(obs).toAcceptAsModelled(); // the model says never; the armed accept() must not return
      // the experiment is what it claims: the client went away silently
      expect(sent(obs, 'client').map((p) => p.kind)).toEqual(['SYN']);
    });

    it('SO_KEEPALIVE and TCP_USER_TIMEOUT on the listener change nothing', { timeout: timeoutFor(DROPPED_BY_S) }, async () => {
      // both far shorter than the SYN+ACK schedule: if either reached the request, it would show
      const obs = await vanishedClient('keepalive+user-timeout', family, {
        SO_KEEPALIVE: 1,
        TCP_KEEPIDLE: 1,
        TCP_KEEPINTVL: 1,
        TCP_KEEPCNT: 1,
        TCP_USER_TIMEOUT: 2000,
      });
      const listener = obs.settings.server.socket;
      expect(listener.keepalive).toBe(true);
      expect(listener.userTimeoutMs).toBe(2000);
      // the model ignores them: the same prediction as for a listener without them
      const plain = predictSynRecv({ sysctls: obs.settings.server.sysctls, features: obs.kernel, socket: { ...listener, keepalive: false, userTimeoutMs: 0, synCnt: 0 } });
      expect(obs.prediction.events).toEqual(plain.events);
      expect(obs.prediction.closeAt).toBe(plain.closeAt);
      expect(obs).toFollowModel();
      expect(sent(obs, 'server', { kind: 'KEEPALIVE' })).toHaveLength(0);
      expect(obs).toAcceptAsModelled();
    });

    it('only the final ACK lost: the client is ESTABLISHED, its ACK to the resent SYN+ACK gets it accepted', { timeout: timeoutFor(2) }, async () => {
      const obs = await finalAckLost('final-ack-lost', family, 'disarm');
      expectClientCompletedOnFirstSynAck(obs);
      const clientAcks = sent(obs, 'client', { kind: 'ACK' });
      expect(clientAcks[0]?.dropped).toBe(true);
      expect(clientAcks.slice(1).length).toBeGreaterThan(0); // the answer to the resent SYN+ACK went through
      expect(clientAcks.slice(1).every((p) => !p.dropped)).toBe(true);
      expect(obs).toFollowModel();
      expect(obs).toAcceptAsModelled();
      const { during, after } = requestStates(obs);
      expect(during.length).toBeGreaterThan(0);
      expect(after?.state).toBe('ESTABLISHED');
    });

    it("every bare ACK lost: the server resends SYN+ACK unanswered and completes on the client's data", { timeout: timeoutFor(DATA_AFTER_S + 2) }, async () => {
      const obs = await finalAckLost('bare-acks-lost', family, 'data');
      expectClientCompletedOnFirstSynAck(obs);
      const clientAcks = obs.packets.filter((p) => p.from === 'client' && p.kind === 'ACK' && p.t < obs.marks['client data']!);
      // the final ACK and the answer to the resent SYN+ACK, both lost
      expect(clientAcks.length).toBeGreaterThanOrEqual(2);
      expect(clientAcks.every((p) => p.dropped)).toBe(true);
      expect(obs).toFollowModel();
      expect(predictedRetransmits(obs)).toBeGreaterThan(0);
      expect(obs).toAcceptAsModelled();
      expect(obs.prediction.acceptAt).toBeCloseTo(obs.marks['client data']! - obs.origin, 2);
      const { during, after } = requestStates(obs);
      expect(during.at(-1)?.retrans).toBe(predictedRetransmits(obs));
      expect(after?.state).toBe('ESTABLISHED');
    });
  });
}
