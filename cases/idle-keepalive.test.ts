import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictIdle } from '../harness/model/idle.js';
import { accept, arm, awaitClose, connect, established, listen } from '../harness/engine/steps.js';
import { sideInput } from '../harness/core/observation.js';
import { timerSamples } from '../harness/judge/premises.js';

/**
 * Idle ESTABLISHED: the handshake completes, then the peer vanishes (every packet dropped both
 * ways). With nothing in flight no retransmit timer runs; only keepalive can notice: probes at
 * IDLE, IDLE+INTVL, …, then an RST and ETIMEDOUT after CNT unanswered probes. Without keepalive
 * the socket stays open for ever.
 *
 * Timeline: listen → connect → established → accept → arm blackhole → (probes) → close
 */
const KEEPALIVE = { TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3 };

const idle = (name: string, family: 4 | 6, options: Record<string, number>, aliveFor?: number) =>
  runCase({
    name: `idle-keepalive/${name}`,
    phase: 'idle',
    family,
    client: { options },
    model: (s) => predictIdle(sideInput(s, 'client')),
    steps: [listen(), connect(), established(), accept(), arm(faults.blackhole()), awaitClose({ aliveFor })],
  });

for (const family of FAMILIES) {
  kernelCases(`idle ESTABLISHED over IPv${family}`, () => {
    it('keepalive 5/3/3: probes at IDLE + k·INTVL, then RST and ETIMEDOUT', { timeout: timeoutFor(15) }, async () => {
      const obs = await idle('keepalive-on', family, { SO_KEEPALIVE: 1, ...KEEPALIVE });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      // what `ss -o` shows while it waits: the keepalive timer, not the retransmit timer
      const timers = timerSamples(obs, 'client', { state: 'ESTABLISHED' }).map((s) => s.timer);
      expect(timers).toContain('keepalive');
      expect(timers).not.toContain('on');
    });

    it('keepalive off: the dead peer is never noticed', { timeout: timeoutFor(17) }, async () => {
      // the same IDLE/INTVL/CNT are set, only SO_KEEPALIVE is off: hold past the time they would have killed it
      const wouldDieAt = KEEPALIVE.TCP_KEEPIDLE + KEEPALIVE.TCP_KEEPCNT * KEEPALIVE.TCP_KEEPINTVL;
      const obs = await idle('keepalive-off', family, { SO_KEEPALIVE: 0, ...KEEPALIVE }, wouldDieAt + 2);
      expect(obs.settings.client.socket.keepalive).toBe(false);
      expect(obs).toStayOpen();
      expect(obs).toFollowModel(); // the model predicts no packet at all
      expect(obs.packets.filter((p) => p.from === 'client' && p.t > obs.origin)).toHaveLength(1); // the handshake's ACK only
    });
  });
}
