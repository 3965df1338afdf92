import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictIdle } from '../harness/model/idle.js';
import { byProfile } from '../harness/core/profile.js';
import { accept, arm, awaitClose, connect, established, listen } from '../harness/engine/steps.js';
import { type Observation, sideInput } from '../harness/core/observation.js';
import { sent } from '../harness/judge/premises.js';

/**
 * Idle ESTABLISHED with keepalive AND TCP_USER_TIMEOUT: the handshake completes, then the peer
 * vanishes (everything dropped both ways). Keepalive probes at IDLE, IDLE+INTVL, …; with U set the
 * keepalive timer no longer counts probes against TCP_KEEPCNT: it aborts (RST, ETIMEDOUT) at the
 * first firing where the time since the last packet received is ≥ U and a probe is out.
 *
 * Timeline: listen → connect → established → accept → arm blackhole
 *           → probe, probe, … → RST, close
 */

/**
 * The keepalive firings are IDLE + k·INTVL: fast 2, 6, 10, 14, 18 s; faithful (the reference's) 1,
 * 12, 23, 34, 45 s. The blackhole must be in force before the first probe, or the peer answers it
 * and the idle clock restarts; arming is one rtnetlink message (microseconds), so IDLE could be 1 s,
 * but 2 s keeps the fast timeline the same shape as the faithful one at a third of its length.
 */
const KEEPALIVE = byProfile({
  fast: { TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 4, TCP_KEEPCNT: 3 },
  faithful: { TCP_KEEPIDLE: 1, TCP_KEEPINTVL: 11, TCP_KEEPCNT: 3 },
});

/**
 * One U per place it can fall relative to the firings. The abort check compares the idle time in
 * jiffies, which includes how late every timer of the chain fired (each is re-armed from when the
 * previous one actually fired), so U must not lie within that lateness after a firing: the wheel
 * adds up to 36 ms to the first timer (1 or 2 s) and 260 ms to each 4 s (fast) or 11 s (faithful)
 * one. The fast values sit 2 s from either neighbouring firing (≤ 1.1 s of lateness by 18 s); the
 * faithful ones are the reference's: 12.5 s is 0.5 s past the 12 s firing, which can be ≤ 0.3 s late.
 */
const USER_TIMEOUT_MS = byProfile({
  fast: { beforeSecond: 4000, beforeThird: 8000, belowCount: 12000, pastCount: 16000 },
  faithful: { beforeSecond: 5000, beforeThird: 12500, belowCount: 30000, pastCount: 40000 },
});

const { TCP_KEEPIDLE: IDLE, TCP_KEEPINTVL: INTVL, TCP_KEEPCNT: CNT } = KEEPALIVE;

/** The kernel's rule, from the values this file chose: the first firing IDLE + k·INTVL, k ≥ 1, at or past U. */
function abortFiring(userTimeoutMs: number): { at: number; probes: number } {
  const k = Math.max(1, Math.ceil((userTimeoutMs / 1000 - IDLE) / INTVL));
  return { at: IDLE + k * INTVL, probes: k };
}

const idleWithUserTimeout = (name: string, family: 4 | 6, userTimeoutMs: number) =>
  runCase({
    name: `keepalive-user-timeout/${name}`,
    phase: 'idle',
    family,
    client: { options: { SO_KEEPALIVE: 1, ...KEEPALIVE, TCP_USER_TIMEOUT: userTimeoutMs } },
    model: (s) => predictIdle(sideInput(s, 'client')),
    steps: [listen(), connect(), established(), accept(), arm(faults.blackhole()), awaitClose()],
  });

const probesSent = (obs: Observation) => sent(obs, 'client', { kind: 'KEEPALIVE' });

/** Everything every case here asserts: the model followed, and the abort where the kernel's rule puts it. */
async function expectAbortPerRule(name: string, family: 4 | 6, userTimeoutMs: number): Promise<Observation> {
  const obs = await idleWithUserTimeout(name, family, userTimeoutMs);
  expect(obs.settings.client.socket.userTimeoutMs).toBe(userTimeoutMs);
  expect(obs).toFollowModel();
  expect(obs.close?.errno).toBe('ETIMEDOUT');
  const rule = abortFiring(userTimeoutMs);
  expect(obs.prediction.closeAt).toBe(rule.at);
  expect(probesSent(obs)).toHaveLength(rule.probes);
  expect(sent(obs, 'client', { kind: 'RST' })).toHaveLength(1);
  return obs;
}

const timeout = (userTimeoutMs: number) => ({ timeout: timeoutFor(abortFiring(userTimeoutMs).at) });

for (const family of FAMILIES) {
  kernelCases(`idle ESTABLISHED, keepalive ${IDLE}/${INTVL}/${CNT} + TCP_USER_TIMEOUT, over IPv${family}`, () => {
    const U = USER_TIMEOUT_MS;

    it(`U ${U.beforeSecond} ms, before the second firing: aborts at the second, after one probe`, timeout(U.beforeSecond), async () => {
      await expectAbortPerRule('before-second-firing', family, U.beforeSecond);
    });

    it(`U ${U.beforeThird} ms, between the second and third firings: aborts at the third, after two probes`, timeout(U.beforeThird), async () => {
      await expectAbortPerRule('before-third-firing', family, U.beforeThird);
    });

    it(`U ${U.belowCount} ms, below IDLE + CNT·INTVL: U and TCP_KEEPCNT end it at the same firing`, timeout(U.belowCount), async () => {
      const obs = await expectAbortPerRule('below-keepcnt', family, U.belowCount);
      expect(probesSent(obs)).toHaveLength(CNT);
      const withoutU = predictIdle({ ...sideInput({ kernel: obs.kernel, ...obs.settings }, 'client'), socket: { ...obs.settings.client.socket, userTimeoutMs: 0 } });
      expect(obs.prediction.closeAt).toBe(withoutU.closeAt);
    });

    it(`U ${U.pastCount} ms, past IDLE + CNT·INTVL: TCP_KEEPCNT is ignored, more than ${CNT} probes`, timeout(U.pastCount), async () => {
      const obs = await expectAbortPerRule('past-keepcnt', family, U.pastCount);
      expect(probesSent(obs).length).toBeGreaterThan(obs.settings.client.socket.keepCnt);
    });
  });
}
