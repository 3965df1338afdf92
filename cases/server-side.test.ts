import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { serverBusyPhase, serverIdlePhase, serverZeroWindowPhase } from '../harness/recipes/server-phases.js';

/**
 * The server's half (harness/recipes/server-phases.ts): the options go on the LISTENER, the accepted
 * socket inherits them (harness/model/inherit.ts, cases/listener-inheritance.test.ts), and it is the
 * client that vanishes — or, in zero-window, stays and stops reading. The server's accepted socket
 * is the subject; every prediction comes from its settings as read back.
 *
 * Timeline: listen (options) → connect → accept (inherits) → [client gone | client stops reading] → server's fate
 */
const KEEPALIVE = { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 2 };

for (const family of FAMILIES) {
  kernelCases(`the server's accepted socket over IPv${family}, the client vanished`, () => {
    it('idle, keepalive 2/1/2 set on the listener: inherited, probes, ETIMEDOUT at 4 s', { timeout: timeoutFor(5) }, async () => {
      const obs = await runCase(serverIdlePhase({ family, name: 'server-side', server: { options: KEEPALIVE } }));
      expect(obs.subject).toBe('server');
      // the accepted socket holds what the listener was given
      expect(obs.settings.server.socket).toMatchObject({ keepalive: true, keepIdle: 2, keepIntvl: 1, keepCnt: 2 });
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
    });

    it('busy, TCP_USER_TIMEOUT 3000 on the listener: the unacknowledged data ends it at U', { timeout: timeoutFor(5) }, async () => {
      const obs = await runCase(serverBusyPhase({ family, name: 'server-side', server: { options: { TCP_USER_TIMEOUT: 3000 } } }));
      expect(obs.settings.server.socket.userTimeoutMs).toBe(3000);
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
    });

    it('zero-window, the client alive but not reading, no TCP_USER_TIMEOUT: the kernel never lets it go', { timeout: timeoutFor(8) }, async () => {
      const obs = await runCase(serverZeroWindowPhase({ family, name: 'server-side' }));
      expect(obs).toFollowModel();
      expect(obs).toStayOpen();
      expect(obs.packets.filter((p) => p.from === 'server' && p.kind === 'WINDOW-PROBE').length).toBeGreaterThan(2);
    });

    it('zero-window, TCP_USER_TIMEOUT 3000 on the listener: a slow download is cut at U (5.11+)', { timeout: timeoutFor(8) }, async () => {
      const obs = await runCase(serverZeroWindowPhase({ family, name: 'server-side', server: { options: { TCP_USER_TIMEOUT: 3000 } } }));
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe(obs.kernel.zeroWindowUserTimeout ? 'ETIMEDOUT' : undefined);
    });
  });
}
