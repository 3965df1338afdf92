import { createNamespacesWithWire, type WireEnd } from '../netns/link.js';
import { deleteNamespace, uniqueBase } from '../netns/namespace.js';
import { applyRules, readDropCounters } from '../netns/nftables.js';
import { type Fault, nftRulesFor, type Side } from './faults.js';
import { Helper } from './helper/client.js';

export interface Endpoint extends WireEnd {
  side: Side;
  helper: Helper;
}

const live = new Set<Topology>();

/**
 * Two namespaces joined by a veth pair, one helper in each. Created whole or not at all;
 * dispose() releases everything and is safe to call twice. Every live topology is also released
 * when the process is interrupted (SIGINT/SIGTERM); what a SIGKILL leaves, the reaper removes.
 */
export class Topology {
  private disposed = false;

  private constructor(
    readonly base: string,
    readonly client: Endpoint,
    readonly server: Endpoint,
  ) {}

  static async create(): Promise<Topology> {
    installSignalCleanup();
    const base = uniqueBase();
    const names = { client: `${base}-c`, server: `${base}-s` };
    const made: Helper[] = [];
    try {
      const wire = await createNamespacesWithWire(names.client, names.server);
      const [ch, sh] = await Promise.all([Helper.start('client', names.client), Helper.start('server', names.server)]);
      made.push(ch, sh);
      const t = new Topology(base, { ...wire.client, side: 'client', helper: ch }, { ...wire.server, side: 'server', helper: sh });
      live.add(t);
      return t;
    } catch (e) {
      await Promise.allSettled(made.map((h) => h.stop()));
      await Promise.allSettled(Object.values(names).map((n) => deleteNamespace(n)));
      throw e;
    }
  }

  endpoint(side: Side): Endpoint {
    return side === 'client' ? this.client : this.server;
  }

  /** Replace both namespaces' drop rules with the fault's, each in one nft transaction. */
  async arm(fault: Fault): Promise<void> {
    const rules = nftRulesFor(fault);
    await Promise.all([applyRules(this.client.netns, rules.client), applyRules(this.server.netns, rules.server)]);
  }

  async dropCounters(): Promise<Record<string, number>> {
    const [c, s] = await Promise.all([readDropCounters(this.client.netns), readDropCounters(this.server.netns)]);
    return { ...c, ...s };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    live.delete(this);
    await Promise.allSettled([this.client.helper.stop(), this.server.helper.stop()]);
    // deleting the namespaces removes the veth and the nft tables with them
    const r = await Promise.allSettled([deleteNamespace(this.client.netns), deleteNamespace(this.server.netns)]);
    const failed = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

export async function disposeAll(): Promise<void> {
  await Promise.allSettled([...live].map((t) => t.dispose()));
}

let installed = false;
/**
 * On SIGINT/SIGTERM/SIGHUP: release every live topology, then die of the same signal. The handler
 * stays registered while it works: execa's exit hook (signal-exit) kills the process at once when it
 * finds itself the only listener, which would cut the cleanup short.
 */
function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    let cleaning = false;
    const handler = () => {
      if (cleaning) return;
      cleaning = true;
      void disposeAll().finally(() => {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      });
    };
    process.on(sig, handler);
  }
}
