import { ROUTED_ADDRESSES, ROUTER_IFNAMES, vethCommand, wireEndCommand } from '../../netns/link.js';
import { applyPathRules, readDropCounters } from '../../netns/nftables.js';
import type { ConntrackSample } from '../core/observation.js';
import type { HelperEvent } from '../core/protocol.js';
import type { Helper } from '../helper/client.js';
import type { Middlebox } from '../model/middlebox.js';

/**
 * The router on the path: a third namespace between client and server, forwarding, running the
 * kernel's own connection tracking as a middlebox that forgets idle flows (harness/model/path.ts
 * predicts what that does to a connection). Nothing here simulates the middlebox: the expiry is
 * conntrack's established timeout, set in the router's namespace only, and what an expired flow's
 * next packet meets is an nft rule on `ct state invalid` (netns/nftables.ts renderPathRuleset).
 * The client's default route goes through the router; the server's too for a firewall, while a
 * NAT's server has no route back at all (it only ever sees the router's address).
 */
export interface PathSpec {
  middlebox: Middlebox;
}

/** What the client and server ends need from the router to be wired through it. */
export const routedEnds = (path: PathSpec) => ({
  client: { addr: ROUTED_ADDRESSES.client, gateway: ROUTED_ADDRESSES.routerClientSide },
  server: {
    addr: ROUTED_ADDRESSES.server,
    ...(path.middlebox.kind === 'nat' ? {} : { gateway: ROUTED_ADDRESSES.routerServerSide }),
  },
});

/** How often the router's table is read: fine enough to place an entry's end well inside any timeout deadpeer runs. */
const CONNTRACK_INTERVAL_MS = 10;

export class Router {
  constructor(
    readonly netns: string,
    readonly helper: Helper,
    readonly path: PathSpec,
  ) {}

  /**
   * Before any link exists in the router's namespace: no duplicate address detection on the links
   * it will get. A router solicits a forwarded packet's next hop from its own link-local address
   * (the packet's source is not its own), and while DAD holds that address tentative (1–2 s after
   * the link comes up) it sends no solicitation at all: the first SYNs of a connection sat in its
   * neighbour queue and the handshake took 2 s and two SYN retransmissions. The ends need nothing:
   * they solicit from their own global addresses, added without DAD (plumbing.c addr_msg).
   */
  static async prepare(helper: Helper): Promise<void> {
    for (const scope of ['all', 'default']) await helper.sysctl(`net.ipv6.conf.${scope}.accept_dad`, 0);
  }

  /**
   * The wire through the router: the client's helper makes the client–router veth, the router's
   * the router–server one (each peer placed straight into the other namespace, as the two-namespace
   * wire is); the router's two ends get their addresses. One round trip, run beside the ends' own.
   */
  static wire(names: { client: string; router: string; server: string }, helpers: { client: Helper; router: Helper }): Promise<unknown>[] {
    const { client: ch, router: rh } = helpers;
    return [
      ch.request(vethCommand(names.router, { peer: ROUTER_IFNAMES.clientSide })),
      rh.request(vethCommand(names.server, { ifname: ROUTER_IFNAMES.serverSide })),
      rh.request(wireEndCommand('client', { ifname: ROUTER_IFNAMES.clientSide, addr: ROUTED_ADDRESSES.routerClientSide })),
      rh.request(wireEndCommand('server', { ifname: ROUTER_IFNAMES.serverSide, addr: ROUTED_ADDRESSES.routerServerSide })),
    ];
  }

  /**
   * Forwarding on, the middlebox's rules, then its memory: the conntrack sysctls exist in a
   * namespace once conntrack is loaded, which the `ct` rules make sure of (a modular kernel loads
   * it for them), so they come after the rules. Finally the table is watched for the scenario's port.
   */
  async configure(port: number): Promise<void> {
    const h = this.helper;
    const m = this.path.middlebox;
    await h.sysctl('net.ipv4.ip_forward', 1);
    await h.sysctl('net.ipv6.conf.all.forwarding', 1);
    await applyPathRules(this.netns, { verdict: m.mode, ...(m.kind === 'nat' ? { masquerade: ROUTER_IFNAMES.serverSide } : {}) });
    const timeout = await h.sysctl('net.netfilter.nf_conntrack_tcp_timeout_established', m.idleTimeoutS);
    if (Number(timeout) !== m.idleTimeoutS)
      throw new Error(`the router's nf_conntrack_tcp_timeout_established reads back ${String(timeout)}, not ${m.idleTimeoutS}`);
    // conntrack would otherwise adopt a forgotten flow's next packet as a new entry (tcp_new, "loose")
    await h.sysctl('net.netfilter.nf_conntrack_tcp_loose', 0);
    await h.request({ cmd: 'diag', interval_ms: CONNTRACK_INTERVAL_MS });
    await h.request({ cmd: 'ct-watch', port });
  }

  /** The router's table as sampled: each appearance, refresh and change of an entry, and its end. */
  conntrack(): ConntrackSample[] {
    return conntrackSamples(this.helper.events);
  }

  dropCounters(): Promise<Record<string, number>> {
    return readDropCounters(this.netns);
  }
}

/** The router helper's ct / ct-gone events as samples (see harness/helper/conntrack.c). */
export function conntrackSamples(events: readonly HelperEvent[]): ConntrackSample[] {
  return events
    .filter((e) => e.ev === 'ct' || e.ev === 'ct-gone')
    .map((e) => ({
      t: e.t,
      present: e.ev === 'ct',
      family: e.family as 4 | 6,
      src: String(e.src),
      sport: e.sport as number,
      dst: String(e.dst),
      dport: e.dport as number,
      ...(typeof e.nat === 'string' ? { nat: e.nat } : {}),
      ...(e.ev === 'ct' ? { state: String(e.state), timeoutS: e.timeout_s as number } : {}),
      ...(typeof e.prev_t === 'number' ? { prevT: e.prev_t } : {}),
      ...(typeof e.alive_t === 'number' ? { aliveT: e.alive_t } : {}),
    }));
}
