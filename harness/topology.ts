import { endCommands, vethCommand, wireEnd, type WireEnd } from '../netns/link.js';
import { deleteNamespace, listNamespaces, uniqueBase } from '../netns/namespace.js';
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
    // each helper creates its own namespace (no ip(8) spawns), then they wire it over rtnetlink
    const started = await Promise.allSettled([Helper.start('client', names.client, { create: true }), Helper.start('server', names.server, { create: true })]);
    const helpers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const [ch, sh] = helpers as [Helper, Helper];
      await ch.request(vethCommand(names.server));
      await Promise.all([...endCommands('client').map((c) => ch.request(c)), ...endCommands('server').map((c) => sh.request(c))]);
      const t = new Topology(base, { ...wireEnd('client', names.client), side: 'client', helper: ch }, { ...wireEnd('server', names.server), side: 'server', helper: sh });
      live.add(t);
      return t;
    } catch (e) {
      await Promise.allSettled(helpers.map((h) => h.stop()));
      await removeLeftovers(Object.values(names));
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
    // each helper removes the namespace it made when it exits; with it go the veth and nft tables
    await Promise.allSettled([this.client.helper.stop(), this.server.helper.stop()]);
    await removeLeftovers([this.client.netns, this.server.netns]);
  }
}

/** Namespaces a helper could not remove (it was killed): delete them the ip(8) way. */
async function removeLeftovers(names: string[]): Promise<void> {
  const present = new Set(await listNamespaces());
  const r = await Promise.allSettled(names.filter((n) => present.has(n)).map((n) => deleteNamespace(n)));
  const failed = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
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
