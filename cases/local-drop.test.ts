import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { busyPhase, zeroWindowPhase } from '../harness/recipes/phases.js';
import { timerSlack } from '../harness/model/slack.js';
import { tcpConstants } from '../harness/model/jiffies.js';
import type { Observation } from '../harness/core/observation.js';
import { sent, timerSamples } from '../harness/judge/premises.js';

/**
 * A local drop: the client's own host drops what it sends (faults.localDrop: the netdev egress hook
 * of its veth, before the qdisc and the capture's tap), so __dev_queue_xmit() returns NET_XMIT_DROP
 * and TCP takes it for local congestion: tcp_send_probe0() re-arms the persist timer at
 * TCP_RESOURCE_PROBE_INTERVAL (500 ms) without backing off, and still counts icsk_probes_out, so
 * tcp_retries2 and TCP_USER_TIMEOUT end it as they end unanswered probes. Nothing reaches the wire:
 * each attempt is the rise of sock_diag's probe count (a LOCAL-DROP, placed between two lookups).
 *
 *   busy: listen → connect → accept → read RTO → arm the local drop → the client writes (t = 0) — its
 *     first transmission is dropped, so nothing is in flight and the PERSIST timer, not the retransmit
 *     timer, runs (the kernel's tools/testing/selftests/net/packetdrill/tcp_user_timeout_user-timeout-probe.pkt:
 *     U = 3 s → tcpi_probes 6, tcpi_backoff 0).
 *   zero window: the receiver, alive, closes its window (t = 0); the helpers arm the local drop 20 ms
 *     later, before the first probe: an alive receiver would keep the sender open for ever, but no probe
 *     reaches it.
 */

/** The packetdrill test's U: 6 attempts 500 ms apart from the first probe, the abort on the 7th firing at U. */
const USER_TIMEOUT_MS = 3000;
/** Without U: the abort once icsk_probes_out reaches tcp_retries2, at the firing after the 3rd attempt. */
const RETRIES2 = { tcp_retries2: 3 };

const localDrops = (obs: Observation) => sent(obs, 'client', { kind: 'LOCAL-DROP', since: 'origin' });

/**
 * Each attempt 500 ms after the previous, not base << backoff: the interval between two attempts is
 * known to within the sock_diag lookups around each, and it must be able to hold one 500 ms timer —
 * a jiffy early at most, and late by at most its wheel level's granule plus a jiffy (slack.ts).
 */
function expectResourceSpacing(obs: Observation): void {
  const hz = obs.kernel.hz;
  const intervalS = tcpConstants(hz).TCP_RESOURCE_PROBE_INTERVAL / hz;
  const slack = timerSlack(intervalS, hz);
  const drops = localDrops(obs);
  expect(drops.length).toBeGreaterThanOrEqual(3);
  for (let k = 1; k < drops.length; k++) {
    const [a, b] = [drops[k - 1]!, drops[k]!];
    const shortest = (b.notBefore ?? b.t) - a.t;
    const longest = b.t - (a.notBefore ?? a.t);
    expect(longest).toBeGreaterThanOrEqual(intervalS - slack.early);
    expect(shortest).toBeLessThanOrEqual(intervalS + slack.late);
  }
  // the kernel's own word: after a dropped probe the persist timer is never armed further than 500 ms
  const persist = timerSamples(obs, 'client', { since: 'origin' }).filter((s) => s.timer === 'persist' && s.retrans > 0);
  expect(persist.length).toBeGreaterThan(0);
  expect(Math.max(...persist.map((s) => s.expiresMs))).toBeLessThanOrEqual(intervalS * 1000);
}

/** Nothing of the client's reached the wire from t = 0 (the capture is after the egress hook), and the rule counted it all. */
function expectNothingOnTheWire(obs: Observation, droppedBeforeProbes: number): void {
  const wire = sent(obs, 'client', { since: 'origin' }).filter((p) => p.kind !== 'LOCAL-DROP');
  expect(wire).toEqual([]);
  // the egress rule's counter: every attempt the model names, plus what was dropped before the first probe
  expect(obs.dropCounters['local drop: all from client']).toBe(localDrops(obs).length + droppedBeforeProbes);
}

for (const family of FAMILIES) {
  kernelCases(`local drop (the sender's own egress) over IPv${family}`, () => {
    it('busy, TCP_USER_TIMEOUT 3 s: the persist timer retries every 500 ms, 6 times, then ETIMEDOUT at the first probe + U', { timeout: timeoutFor(5) }, async () => {
      const spec = busyPhase({ family, client: { options: { TCP_USER_TIMEOUT: USER_TIMEOUT_MS } } }, { localDrop: true });
      const obs = await runCase({ ...spec, name: 'local-drop/busy-user-timeout' });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(localDrops(obs)).toHaveLength(6);
      expect(obs.prediction.closeAt).toBeCloseTo(obs.prediction.events[0]!.t + USER_TIMEOUT_MS / 1000, 3);
      // the persist timer, never the retransmit timer: the data was never in flight
      expect(timerSamples(obs, 'client', { since: 'origin' }).map((s) => s.timer)).not.toContain('on');
      expectResourceSpacing(obs);
      expectNothingOnTheWire(obs, 1); // the data's own first transmission
    });

    it('busy, tcp_retries2 = 3: locally dropped probes count towards it', { timeout: timeoutFor(3) }, async () => {
      const spec = busyPhase({ family, client: { sysctls: RETRIES2 } }, { localDrop: true });
      const obs = await runCase({ ...spec, name: 'local-drop/busy-retries2' });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(localDrops(obs)).toHaveLength(3);
      expectResourceSpacing(obs);
      expectNothingOnTheWire(obs, 1);
    });

    it('zero window, receiver alive, tcp_retries2 = 3: no probe reaches it, so the count ends a live connection', { timeout: timeoutFor(3) }, async () => {
      const spec = zeroWindowPhase({ family, client: { sysctls: RETRIES2 } }, { alive: true, localDrop: true });
      const obs = await runCase({ ...spec, name: 'local-drop/zero-window-alive' });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(localDrops(obs)).toHaveLength(3);
      expect(sent(obs, 'client', { kind: 'WINDOW-PROBE', since: 'origin' })).toEqual([]);
      expectResourceSpacing(obs);
      expectNothingOnTheWire(obs, 0);
    });
  });
}
