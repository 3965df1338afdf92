import { expect, it } from 'vitest';
import '../harness/vitest/accept-matchers.js';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { armAccept, awaitRequestEnd, firstSynAck, timeClientData } from '../harness/recipes/listener.js';
import { requestStates, sent } from '../harness/judge/premises.js';
import { predictDeferAccept } from '../harness/model/defer-accept.js';
import { deferAcceptReadBack } from '../harness/model/reqsk.js';
import type { DeferAcceptClient } from '../harness/model/types.js';
import { byProfile } from '../harness/core/profile.js';
import { arm, connect, established, listen, send } from '../harness/engine/steps.js';
import { Topology } from '../harness/engine/topology.js';
import { type Observation, sideInput } from '../harness/core/observation.js';
import type { Step } from '../harness/engine/run.js';

/**
 * TCP_DEFER_ACCEPT on the listener: the handshake completes, as far as the client knows, but the
 * server keeps the connection a request minisocket in SYN-RECV. The client's bare final ACK is
 * dropped by the request (it only marks it acked); the request's timer keeps firing on the
 * SYN+ACK schedule without resending anything until the deferral (stored as a count of SYN+ACK
 * timeouts, so the seconds read back rounded up) is nearly over; then one SYN+ACK goes out, and
 * the client's ACK to it gets the connection accepted. Data completes it at once. If nothing
 * answers, SYN+ACKs go on until both tcp_synack_retries and the deferral are used up, and the
 * request is dropped without the application ever seeing it.
 *
 * Timeline (t = 0 is the first SYN+ACK; the client's final ACK follows at once):
 *   listen (TCP_DEFER_ACCEPT), arm accept() → connect → first SYN+ACK → the client is ESTABLISHED
 *   → alive, silent: … silence … → SYN+ACK → the client's ACK → accepted
 *   → sends data:   data → accepted
 *   → gone (blackhole): … silence … → SYN+ACK … → request gone, never accepted
 */

// fast: 2 s reads back as 3 (two SYN+ACK timeouts, 1 + 2 s); faithful: the reference's 30 (→ 31)
const DEFER_S = byProfile({ fast: 2, faithful: 30 });
// fast: a request nobody answers is dropped soon after the deferral; faithful: the kernel's default
const SYNACK_RETRIES = byProfile({ fast: { tcp_synack_retries: 2 }, faithful: {} });
const LISTENER = { TCP_DEFER_ACCEPT: DEFER_S };
// how long each client behaviour keeps the request, per the model at each profile's settings
const ACCEPTED_BY_S = byProfile({ fast: 3, faithful: 31 });
const DROPPED_BY_S = byProfile({ fast: 7, faithful: 63 });

/** The client's part after the handshake, and where the run learns what the model needs of it. */
function clientSteps(client: DeferAcceptClient, record: (atS: number) => void): Step[] {
  switch (client) {
    case 'ack':
      return [];
    case 'data':
      return [send('client', 100), timeClientData(record)];
    case 'gone':
      return [arm(faults.blackhole())];
  }
}

const deferred = (name: string, family: 4 | 6, client: DeferAcceptClient) => {
  let clientDataAtS: number | undefined;
  return runCase({
    name: `defer-accept/${name}`,
    phase: 'defer-accept',
    family,
    subject: 'server',
    server: { sysctls: SYNACK_RETRIES, options: LISTENER },
    // TCP_DEFER_ACCEPT as read back from the listener (socket.deferAcceptS), not as requested
    model: (s) => predictDeferAccept({ ...sideInput(s, 'server'), client, clientDataAtS }),
    steps: [
      listen(),
      armAccept(),
      connect(),
      firstSynAck(),
      established(),
      ...clientSteps(client, (atS) => (clientDataAtS = atS)),
      awaitRequestEnd(),
    ],
  });
};

/** The client's final ACK reached the server (no fault was armed yet) and completed nothing there. */
function expectFinalAckIgnored(obs: Observation) {
  const finalAck = obs.packets.find((p) => p.from === 'client' && p.kind === 'ACK');
  expect(finalAck?.dropped).toBe(false);
  // still a request after it: what ended the request came only after the deferral's SYN+ACK
  const resent = sent(obs, 'server', { kind: 'SYN-ACK' })[1];
  const { during, after } = requestStates(obs);
  expect(during.length).toBeGreaterThan(0);
  expect(after!.t).toBeGreaterThan(resent!.t);
}

/** During the deferral the request's timer runs ("on") but has resent nothing. */
function expectSilentDeferral(obs: Observation) {
  const resent = obs.prediction.events.find((e) => e.packet === 'SYN-ACK' && e.n > 0);
  const deferralEnds = obs.origin + (resent?.t ?? Infinity);
  const { during } = requestStates(obs);
  const deferring = during.filter((s) => s.t < deferralEnds);
  expect(deferring.length).toBeGreaterThan(0);
  expect(deferring.map((s) => [s.timer, s.retrans])).toEqual(deferring.map(() => ['on', 0]));
}

for (const family of FAMILIES) {
  kernelCases(`TCP_DEFER_ACCEPT over IPv${family}`, () => {
    it('reads back rounded up to a whole number of SYN+ACK timeouts, capped by the constant TCP_RTO_MAX', { timeout: timeoutFor(2) }, async () => {
      const requested = [-5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 30, 31, 32, 100, 127, 128, 200, 247, 248, 1000, 100_000, 2 ** 31 - 1];
      const topo = await Topology.create();
      try {
        const helper = topo.server.helper;
        // the deferral is converted with the compile-time TCP_RTO_MAX, not the namespace's
        // tcp_rto_max_ms (6.15+): lowered here, the rounding must not move
        const rtoMaxSysctl = (await helper.sysctl('net.ipv4.tcp_rto_max_ms')) !== undefined;
        if (rtoMaxSysctl) await helper.sysctl('net.ipv4.tcp_rto_max_ms', 1000);
        const sock = await helper.socket(family);
        const readBack: Record<number, number> = {};
        for (const s of requested) readBack[s] = await sock.set('TCP_DEFER_ACCEPT', s);
        expect(readBack).toEqual(Object.fromEntries(requested.map((s) => [s, deferAcceptReadBack(s)])));
        // and the read-back value is stable: setting it again reads back the same
        for (const s of requested) expect(await sock.set('TCP_DEFER_ACCEPT', readBack[s]!)).toBe(readBack[s]);
      } finally {
        await topo.dispose();
      }
    });

    it('client alive but silent: SYN-RECV through the deferral, one SYN+ACK at its end, accepted on the ACK', { timeout: timeoutFor(ACCEPTED_BY_S) }, async () => {
      const obs = await deferred('client-silent', family, 'ack');
      expect(obs.settings.server.socket.deferAcceptS).toBe(deferAcceptReadBack(DEFER_S));
      expect(obs).toFollowModel(); // SYN+ACK count and times: none during the deferral, one at its end
      expect(obs).toAcceptAsModelled();
      expectFinalAckIgnored(obs);
      expectSilentDeferral(obs);
      expect(requestStates(obs).after?.state).toBe('ESTABLISHED');
      // the ACK that got it accepted answers the resent SYN+ACK
      const resent = obs.packets.find((p) => p.from === 'server' && p.kind === 'SYN-ACK' && p.t > obs.origin);
      expect(obs.packets.some((p) => p.from === 'client' && p.kind === 'ACK' && p.t > resent!.t && p.t <= obs.marks.accepted!)).toBe(true);
    });

    it('client sends data right after the handshake: accepted at once', { timeout: timeoutFor(1) }, async () => {
      const obs = await deferred('client-data', family, 'data');
      expect(obs).toFollowModel(); // no SYN+ACK resent
      expect(obs).toAcceptAsModelled();
      expect(obs.prediction.acceptAt).toBeCloseTo(obs.marks['client data']! - obs.origin, 2);
      expect(requestStates(obs).after?.state).toBe('ESTABLISHED');
    });

    it('client gone after its ACK: SYN+ACKs from the end of the deferral, then the request is dropped, never accepted', { timeout: timeoutFor(DROPPED_BY_S) }, async () => {
      const obs = await deferred('client-gone', family, 'gone');
      expect(obs).toFollowModel(); // SYN+ACKs and the drop time, via sock_diag's "gone"
      expect(obs.prediction.errno).toBeNull();
      expect(obs.close).toBeNull();
      expect(obs).toAcceptAsModelled(); // the model says never
      expectFinalAckIgnored(obs);
      expectSilentDeferral(obs);
      expect(requestStates(obs).after?.ev).toBe('gone');
    });
  });
}
