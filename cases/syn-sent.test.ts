import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictSynSent } from '../harness/model/syn-sent.js';
import { byProfile } from '../harness/core/profile.js';
import { arm, awaitClose, connect, listen } from '../harness/engine/steps.js';
import { judgeTimeline } from '../harness/judge/verdict.js';
import { sideInput } from '../harness/core/observation.js';
import type { ScenarioSpec } from '../harness/engine/run.js';

/**
 * SYN-SENT: the server never sees the client's SYNs. connect() retransmits the SYN on the
 * retransmit timer until the SYN budget (tcp_syn_retries / TCP_SYNCNT) or TCP_USER_TIMEOUT runs
 * out, then fails with ETIMEDOUT. SO_KEEPALIVE plays no part.
 *
 * Timeline of every case here:
 *   arm "drop SYN" at the server → listen → connect → SYN, SYN, … → connect() fails
 */
const synSent = (name: string, family: 4 | 6, client: ScenarioSpec['client']) =>
  runCase({
    name: `syn-sent/${name}`,
    phase: 'syn-sent',
    family,
    client,
    model: (s) => predictSynSent(sideInput(s, 'client')),
    steps: [arm(faults.dropSyn()), listen(), connect(), awaitClose()],
  });

// fast: 3 retries (8 SYNs, ≈19 s on 6.5+); faithful: the kernel's own default, whatever it is
const synRetries = byProfile({ fast: { tcp_syn_retries: 3 }, faithful: {} });

for (const family of FAMILIES) {
  kernelCases(`SYN-SENT over IPv${family}`, () => {
    it('retransmits the SYN per tcp_syn_retries, then connect() fails with ETIMEDOUT', { timeout: timeoutFor(byProfile({ fast: 20, faithful: 135 })) }, async () => {
      const obs = await synSent('tcp_syn_retries', family, { sysctls: synRetries });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(obs.close?.via).toBe('connect');
      // the check can fail: the same run judged against a model with one retry fewer is rejected
      const c = obs.settings.client;
      const offByOne = predictSynSent({ sysctls: { ...c.sysctls, tcp_syn_retries: c.sysctls.tcp_syn_retries - 1 }, socket: c.socket, features: obs.kernel });
      expect(judgeTimeline(obs, offByOne).ok).toBe(false);
    });

    it('TCP_SYNCNT on the socket overrides tcp_syn_retries', { timeout: timeoutFor(10) }, async () => {
      // the namespace keeps a large budget; the socket's TCP_SYNCNT=2 must win
      const obs = await synSent('TCP_SYNCNT', family, { sysctls: { tcp_syn_retries: 6 }, options: { TCP_SYNCNT: 2 } });
      expect(obs.settings.client.socket.synCnt).toBe(2);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
    });

    it('TCP_USER_TIMEOUT=5000 ends SYN-SENT at 5 s, well inside the SYN budget', { timeout: timeoutFor(8) }, async () => {
      const obs = await synSent('TCP_USER_TIMEOUT', family, { sysctls: { tcp_syn_retries: 6 }, options: { TCP_USER_TIMEOUT: 5000 } });
      expect(obs.settings.client.socket.userTimeoutMs).toBe(5000);
      expect(obs).toFollowModel();
      // the user timeout, not the SYN budget, decided: the model puts the close at U
      expect(obs.prediction.closeAt).toBeCloseTo(obs.settings.client.socket.userTimeoutMs / 1000, 2);
      expect(obs.close?.errno).toBe('ETIMEDOUT');
    });

    it('SO_KEEPALIVE has no effect on SYN-SENT', { timeout: timeoutFor(byProfile({ fast: 20, faithful: 135 })) }, async () => {
      const obs = await synSent('SO_KEEPALIVE', family, {
        sysctls: synRetries,
        // keepalive far more aggressive than the SYN schedule: if it applied, it would show
        options: { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 1, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 1 },
      });
      expect(obs.settings.client.socket.keepalive).toBe(true);
      expect(obs).toFollowModel();
      expect(obs.packets.filter((p) => p.kind === 'KEEPALIVE')).toHaveLength(0);
    });
  });
}
