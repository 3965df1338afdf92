import { ROUTED_ADDRESSES, vethCommand, wireEnd, wireEndCommand, type WireEnd } from '../../netns/link.js';
import { type PathSpec, Router, routedEnds } from './router.js';
import { existsSync } from 'node:fs';
import { deleteNamespace, uniqueBase } from '../../netns/namespace.js';
import { applyRules, type NftRule, readDropCounters } from '../../netns/nftables.js';
import { type Fault, nftRulesFor } from './faults.js';
import { Helper } from '../helper/client.js';
import type { Side } from '../core/side.js';

/** The port every scenario listens on: namespaces isolate, so every pair can reuse it. */
export const PORT = 4242;

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
  /** faults whose rules are in the namespaces; fault i is armed by interface group i + 1 */
  private readonly installed: Fault[] = [];

  private constructor(
    readonly base: string,
    readonly client: Endpoint,
    readonly server: Endpoint,
    /** the router on the path, when the topology has one (harness/engine/router.ts) */
    readonly router?: Router,
  ) {}

  /**
   * Two namespaces joined by a veth — or, with `path`, three: client, router, server, the router
   * forwarding between two veths and forgetting idle flows as the path's middlebox does.
   */
  static async create(opts: { path?: PathSpec } = {}): Promise<Topology> {
    installSignalCleanup();
    const base = uniqueBase();
    const names = { client: `${base}-c`, server: `${base}-s`, ...(opts.path ? { router: `${base}-r` } : {}) };
    // each helper creates its own namespace (no ip(8) spawns), then they wire it over rtnetlink
    const starting = [Helper.start('client', names.client, { create: true }), Helper.start('server', names.server, { create: true })];
    // the router times nothing the kernel's answer depends on, and must not run SCHED_FIFO: its
    // forwarding sysctls take RTNL with rtnl_trylock() and restart the write when it is busy
    // (devinet_sysctl_forward, addrconf_fixup_forwarding) — a realtime spinner starves the holder,
    // and with many topologies at once on 2 cores every namespace's setup stalled for 30 s
    if (names.router) starting.push(Helper.start('router', names.router, { create: true, realtime: false }));
    const started = await Promise.allSettled(starting);
    const helpers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const [ch, sh, rh] = helpers as [Helper, Helper, Helper | undefined];
      const ends = opts.path ? routedEnds(opts.path) : undefined;
      // all at once, one round trip: each helper runs its commands in order, and an end waits for
      // its link to appear; each replies once its end carries packets (the qdisc is attached, see
      // cmd_wire_end). With a router, its helper makes both veths (Router.build).
      const [router] = await Promise.all([
        rh && names.router && opts.path ? Router.build({ client: names.client, router: names.router, server: names.server }, rh, opts.path) : ch.request(vethCommand(names.server)).then(() => undefined),
        ch.request(wireEndCommand('client', ends?.client ?? {})),
        sh.request(wireEndCommand('server', ends?.server ?? {})),
      ]);
      const t = new Topology(
        base,
        { ...wireEnd('client', names.client, ends?.client.addr), side: 'client', helper: ch },
        { ...wireEnd('server', names.server, ends?.server.addr), side: 'server', helper: sh },
        router,
      );
      live.add(t);
      return t;
    } catch (e) {
      await Promise.allSettled(helpers.map((h) => h.stop()));
      await removeLeftovers(Object.values(names));
      throw e;
    }
  }

  /**
   * The client's address as the server's kernel knows the connection: its own, or behind a NAT the
   * router's (masquerade keeps the source port when it is free, as it is in a router with one flow).
   */
  clientAsSeenByServer(family: 4 | 6): string {
    return this.router?.path.middlebox.kind === 'nat' ? ROUTED_ADDRESSES.routerServerSide[family] : this.client.addr[family];
  }

  /** Whether both helpers got SCHED_FIFO; when not, why (the first refusal). */
  get realtime(): { on: boolean; off?: string } {
    const off = [this.client.helper.realtime, this.server.helper.realtime].find((r) => !r.on);
    return off ?? { on: true };
  }

  endpoint(side: Side): Endpoint {
    return side === 'client' ? this.client : this.server;
  }

  /**
   * Install the rules of every fault this topology may arm, each gated on its own interface group
   * (fault i → group i + 1), in one nft transaction per namespace. Slow (an nft process each), so
   * it is done before the experiment starts; re-installing keeps earlier faults' numbers.
   */
  async install(faults: Fault[]): Promise<void> {
    const fresh = faults.filter((f) => !this.installed.includes(f));
    if (!fresh.length) return;
    this.installed.push(...fresh);
    const rules: Record<Side, NftRule[]> = { client: [], server: [] };
    this.installed.forEach((f, i) => {
      const r = nftRulesFor(f, i + 1);
      rules.client.push(...r.client);
      rules.server.push(...r.server);
    });
    await Promise.all([applyRules(this.client.netns, rules.client, this.client.ifname), applyRules(this.server.netns, rules.server, this.server.ifname)]);
  }

  /**
   * Arm a fault (installing it first if it was not): move both veth ends into its group. Returns
   * when each side's rules took effect, on the helpers' clock — a packet arriving at a side after
   * that side's time meets the fault. `null` disarms. With `at` (the run's clock), each helper
   * flips its end at that moment itself: the way a planned arming or a heal is timed.
   */
  async arm(fault: Fault | null, at?: number): Promise<Record<Side, number>> {
    if (fault) await this.install([fault]);
    const group = fault ? this.installed.indexOf(fault) + 1 : 0;
    const flip = (e: Endpoint) => e.helper.request({ cmd: 'group', ifname: e.ifname, group }, { at }).then((r) => r.t);
    const [client, server] = await Promise.all([flip(this.client), flip(this.server)]);
    return { client, server };
  }

  /** Drop whatever the helpers still hold for a planned moment (a run that ended before its heal). */
  async unschedule(): Promise<void> {
    await Promise.allSettled([this.client.helper.unschedule(), this.server.helper.unschedule()]);
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
    const routers = this.router ? [this.router] : [];
    await Promise.allSettled([this.client.helper.stop(), this.server.helper.stop(), ...routers.map((r) => r.helper.stop())]);
    await removeLeftovers([this.client.netns, this.server.netns, ...routers.map((r) => r.netns)]);
  }
}

/** Namespaces a helper could not remove (it was killed): delete them the ip(8) way. */
async function removeLeftovers(names: string[]): Promise<void> {
  // the common case is that there is nothing to do: look at /run/netns rather than spawn `ip netns list`
  const r = await Promise.allSettled(names.filter((n) => existsSync(`/run/netns/${n}`)).map((n) => deleteNamespace(n)));
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
