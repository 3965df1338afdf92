import { expect, it } from 'vitest';
import { FAMILIES, kernelCases } from '../harness/vitest/cases.js';
import { INHERITANCE, LISTENER_OPTS, type ListenerOpt } from '../harness/model/inherit.js';
import { PORT, Topology } from '../harness/engine/topology.js';
import { runningKernel } from '../harness/engine/kernel.js';
import type { TestSocket } from '../harness/helper/client.js';

/**
 * What a socket accept() returns inherits from its listener, established on this kernel: every
 * option of harness/model/inherit.ts is set on the listener to a value no fresh socket has, one
 * connection is accepted, and each option is read back from the accepted socket and from a fresh,
 * untouched socket of the same namespace. An inherited option reads the listener's value; one that
 * is not reads what a fresh socket reads. The table in the model must say the same, option by option.
 *
 * The client sends one byte: TCP_DEFER_ACCEPT on the listener holds the connection until data comes.
 */
const LISTENER_VALUES: Record<ListenerOpt, number> = {
  SO_KEEPALIVE: 1,
  TCP_KEEPIDLE: 17,
  TCP_KEEPINTVL: 5,
  TCP_KEEPCNT: 4,
  TCP_USER_TIMEOUT: 12_345,
  TCP_SYNCNT: 2,
  SO_RCVBUF: 32_768, // the kernel doubles it: 65536, not a fresh socket's 131072
  SO_SNDBUF: 65_536,
  TCP_NOTSENT_LOWAT: 16_384,
  TCP_RTO_MAX_MS: 5_000,
  TCP_RTO_MIN_US: 50_000,
  TCP_NODELAY: 1,
  TCP_LINGER2: 7,
  TCP_DEFER_ACCEPT: 2,
};

/** Options this kernel does not have (TCP_RTO_MAX_MS / TCP_RTO_MIN_US before 6.15): left out, and said. */
const available = (): ListenerOpt[] => {
  const k = runningKernel();
  return LISTENER_OPTS.filter((o) => !((o === 'TCP_RTO_MAX_MS' || o === 'TCP_RTO_MIN_US') && !k.rtoMax));
};

async function readAll(s: TestSocket, opts: ListenerOpt[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const o of opts) out[o] = await s.get(o);
  return out;
}

for (const family of FAMILIES) {
  kernelCases(`listener inheritance over IPv${family}`, () => {
    it('the accepted socket inherits every option of the table from its listener, and not TCP_DEFER_ACCEPT', { timeout: 60_000 }, async () => {
      const opts = available();
      const topo = await Topology.create();
      try {
        const server = topo.server.helper;
        const fresh = await readAll(await server.socket(family), opts);
        const listener = await server.socket(family);
        const held: Record<string, number> = {};
        for (const o of opts) held[o] = await listener.set(o, LISTENER_VALUES[o]);
        await listener.bind(topo.server.addr[family], PORT);
        await listener.listen();
        const accepted = listener.accept(10_000);
        const client = await topo.client.helper.socket(family);
        await client.connect(topo.server.addr[family], PORT);
        const c = await client.whenConnected(5_000);
        expect(c.ev).toBe('connected');
        await client.send(1);
        const child = await accepted;
        const got = await readAll(child, opts);
        const measured = opts.map((o) => ({ option: o, fresh: fresh[o]!, listener: held[o]!, accepted: got[o]!, inherited: got[o] === held[o] && held[o] !== fresh[o] }));
        process.stdout.write(
          `listener inheritance, IPv${family}, kernel ${runningKernel().release}:\n` +
            measured.map((m) => `  ${m.option.padEnd(18)} fresh ${String(m.fresh).padStart(7)}  listener ${String(m.listener).padStart(7)}  accepted ${String(m.accepted).padStart(7)}  ${m.inherited ? 'INHERITED' : 'not inherited'}`).join('\n') +
            '\n',
        );
        for (const m of measured) {
          // every value set on the listener differs from a fresh socket's, or the read-back proves nothing
          expect(m.listener, `${m.option}: the listener's value must differ from a fresh socket's`).not.toBe(m.fresh);
          expect({ option: m.option, inherited: m.inherited }).toEqual({ option: m.option, inherited: INHERITANCE[m.option].inherited });
          // not inherited = what a fresh socket holds, nothing in between
          if (!m.inherited) expect(m.accepted, m.option).toBe(m.fresh);
        }
      } finally {
        await topo.dispose();
      }
    });
  });
}
