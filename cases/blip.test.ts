import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { busyPhase, idlePhase } from '../harness/recipes/phases.js';
import { snapshot } from '../harness/engine/steps.js';
import { sent } from '../harness/judge/premises.js';
import type { Observation } from '../harness/core/observation.js';

/**
 * A blip: the network between the peers goes dark, then heals (the blackhole's nft rules lifted,
 * an interface-group flip back to 0). Every transmission inside the outage is lost; the first one
 * after it is answered — unless the give-up came first (harness/model/blip.ts). The other half of
 * every aggressive setting: it must notice a dead peer fast and survive a short outage.
 *
 * Timelines:
 *   busy: listen → connect → accept → RTO read → blackhole → client sends 1000 bytes → TLP, RTOs
 *         lost → heal → the next retransmission is acknowledged (or U ran out first: ETIMEDOUT)
 *   idle: listen → connect → accept → blackhole → keepalive probes lost → heal → the next probe
 *         is answered (or the count ran out first: RST, ETIMEDOUT)
 */
const USER_TIMEOUT_MS = 5002; // 2 ms off a jiffy, as in cases/busy-retransmit (the clamp lands past U, not on it)
const KEEPALIVE = { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3 }; // probes at 5, 8, 11 s; gives up at 14 s

const healedAt = (obs: Observation) => obs.marks.healed! - obs.origin;

/** The connection came through: open at the end, and the kernel's evidence of the answer after the heal. */
function expectSurvived(obs: Observation) {
  expect(obs.close).toBeNull();
  expect(obs.prediction.closeAt).toBeNull();
  expect(obs.prediction.notes.at(-1)).toMatch(/survives/);
  // the heal really came before the recovering transmission, and the peer answered it
  const recovery = obs.prediction.events.at(-1)!;
  expect(healedAt(obs)).toBeLessThan(recovery.t);
  expect(sent(obs, 'server', { since: obs.origin + healedAt(obs) }).length).toBeGreaterThan(0);
}

for (const family of FAMILIES) {
  kernelCases(`a blip over IPv${family}`, () => {
    const busySpec = (blipS: number) => busyPhase({ family, blipS, name: 'blip', client: { options: { TCP_USER_TIMEOUT: USER_TIMEOUT_MS } } }, { bytes: 1000 });

    it(`busy, TCP_USER_TIMEOUT ${USER_TIMEOUT_MS}: a 3 s blip is survived — the retransmission after it is acknowledged, the data delivered`, { timeout: timeoutFor(5) }, async () => {
      // after the run: did the data arrive, and is nothing left unacknowledged
      const spec = busySpec(3);
      const obs = await runCase({ ...spec, steps: [...spec.steps, snapshot('server', 'end'), snapshot('client', 'end')] });
      expect(obs).toFollowModel();
      expectSurvived(obs);
      const [server, client] = [obs.snapshots.find((s) => s.side === 'server' && s.label === 'end')!, obs.snapshots.find((s) => s.side === 'client' && s.label === 'end')!];
      expect(server.bytes_received).toBeGreaterThanOrEqual(1000);
      expect(client.unacked).toBe(0);
    });

    it(`busy, TCP_USER_TIMEOUT ${USER_TIMEOUT_MS}: a 6 s blip outlasts U — ETIMEDOUT before it heals`, { timeout: timeoutFor(7) }, async () => {
      const obs = await runCase(busySpec(6));
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(obs.close!.t).toBeLessThan(obs.marks.healed ?? Infinity);
    });

    const idle = (blipS: number) => runCase(idlePhase({ family, blipS, name: 'blip', client: { options: KEEPALIVE } }));

    it('idle, keepalive 5/3/3: a 3 s blip, shorter than the first probe, costs nothing — the probe at 5 s is answered', { timeout: timeoutFor(6) }, async () => {
      const obs = await idle(3);
      expect(obs).toFollowModel();
      expectSurvived(obs);
      expect(sent(obs, 'client', { kind: 'KEEPALIVE' })).toHaveLength(1);
    });

    it('idle, keepalive 5/3/3: a 10 s blip swallows two probes, fewer than the count — the third is answered', { timeout: timeoutFor(12) }, async () => {
      const obs = await idle(10);
      expect(obs).toFollowModel();
      expectSurvived(obs);
      const probes = sent(obs, 'client', { kind: 'KEEPALIVE' });
      expect(probes.map((p) => p.dropped)).toEqual([true, true, false]);
    });

    it('idle, keepalive 5/3/3: a 12.5 s blip swallows all three probes — RST and ETIMEDOUT at the count', { timeout: timeoutFor(15) }, async () => {
      const obs = await idle(12.5);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(sent(obs, 'client', { kind: 'RST' })).toHaveLength(1);
    });
  });
}
