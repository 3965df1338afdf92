import { test as base } from 'vitest';
import { type PeerOptions, VanishingPeer } from '../engine/peer.js';
import { assertCanRun } from '../suite/preflight.js';
import { acquireTimingLock } from '../suite/timing-lock.js';

/**
 * `test` with a vanishing peer of its own: `test('…', async ({ peer }) => …)` gets a server in its
 * own namespace (peer.address, peer.env for the program), a client namespace to start programs in
 * (peer.spawn), and peer.vanish() to make the server disappear whenever the test says. The peer,
 * every program it started and their namespaces are gone when the test ends — passed, failed,
 * thrown or timed out (vitest runs fixture teardown on every path). The peer is created only for
 * tests that ask for it; `test.scoped({ peerOptions: { family: 6 } })` sets its options for a
 * describe block.
 */
export interface DeadpeerFixtures {
  /** how the test's peer is made (family, a server command, the client namespace's sysctls) */
  peerOptions: PeerOptions;
  peer: VanishingPeer;
}

export const test = base.extend<DeadpeerFixtures>({
  peerOptions: [{}, { injected: false }],
  peer: async ({ peerOptions }, use) => {
    await assertCanRun();
    // one timing run per machine: shared with the suite or the process when they hold it already
    const lock = await acquireTimingLock('a deadpeer test');
    try {
      const peer = await VanishingPeer.start(peerOptions);
      try {
        await use(peer);
      } finally {
        await peer.dispose();
      }
    } finally {
      await lock.release();
    }
  },
});
