import { ROUTED_ADDRESSES, ROUTER_IFNAMES, vethCommand, wireEndCommand } from '../../netns/link.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDropCounters, renderPathRuleset } from '../../netns/nftables.js';
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

/**
 * How often the router's table is read: each look says within which interval the entry went, and
 * the cases check that interval holds the timeout, so it only needs to be short beside the timeout
 * (seconds); a look is one exact lookup, but many routed runs at once share 2 cores.
 */
const CONNTRACK_INTERVAL_MS = 20;

export class Router {
  constructor(
    readonly netns: string,
    readonly helper: Helper,
    readonly path: PathSpec,
  ) {}

  /**
   * The router's whole set-up, as one queue of commands its helper carries out in order while the
   * ends wire themselves (each waits for its link to appear). One round trip, and nothing waits on
   * the controller between steps:
   * 1. no duplicate address detection on the links it will get: a router solicits a forwarded
   *    packet's next hop from its own link-local address (the packet's source is not its own), and
   *    while DAD holds that address tentative (1–2 s after the link comes up) it sends no
   *    solicitation at all — the first SYNs of a connection sat in its neighbour queue and the
   *    handshake took 2 s. The ends need nothing: they solicit from their own global addresses,
   *    added without DAD (plumbing.c addr_msg);
   * 2. both veths, made here with each peer placed straight into the end's namespace (no link
   *    ever in the host's);
   * 3. its two ends' addresses, links up;
   * 4. the middlebox's rules, by nft run from this helper, already in the namespace — no `ip netns
   *    exec` and no spawn of the controller's in between: the nft process was half a router
   *    topology's cost; then forwarding on, then its memory: the conntrack sysctls exist in a
   *    namespace once conntrack is loaded, which the `ct` rules make sure of (a modular kernel loads
   *    it for them), so they come after the rules; and the ticks of the table's reader (watch()).
   */
  static async build(names: { client: string; router: string; server: string }, helper: Helper, path: PathSpec): Promise<Router> {
    const m = path.middlebox;
    const rules = writeRules(path);
    let expiry: ReturnType<Helper['request']> | undefined;
    try {
      const q = [
        ...['all', 'default'].map((scope) => helper.request({ cmd: 'sysctl', name: `net.ipv6.conf.${scope}.accept_dad`, value: 0 })),
        helper.request(vethCommand(names.client, { ifname: ROUTER_IFNAMES.clientSide })),
        helper.request(vethCommand(names.server, { ifname: ROUTER_IFNAMES.serverSide })),
        // its ends up before the rules: an end's link carries packets only once both of its ends are
        // up, and the ends' own wiring waits at most 3 s for that — a modular kernel's first nft
        // loads nf_tables and conntrack, which took longer than that under the matrix's emulation
        helper.request(wireEndCommand('client', { ifname: ROUTER_IFNAMES.clientSide, addr: ROUTED_ADDRESSES.routerClientSide })),
        helper.request(wireEndCommand('server', { ifname: ROUTER_IFNAMES.serverSide, addr: ROUTED_ADDRESSES.routerServerSide })),
        helper.request({ cmd: 'nft', file: rules.file }),
        helper.request({ cmd: 'sysctl', name: 'net.ipv4.ip_forward', value: 1 }),
        helper.request({ cmd: 'sysctl', name: 'net.ipv6.conf.all.forwarding', value: 1 }),
        (expiry = helper.request({ cmd: 'sysctl', name: 'net.netfilter.nf_conntrack_tcp_timeout_established', value: m.idleTimeoutS })),
        // conntrack would otherwise adopt a forgotten flow's next packet as a new entry (tcp_new, "loose")
        helper.request({ cmd: 'sysctl', name: 'net.netfilter.nf_conntrack_tcp_loose', value: 0 }),
        // the ticks the table's reader runs on; what it reads is given by watch(), once the connection exists
        helper.request({ cmd: 'diag', interval_ms: CONNTRACK_INTERVAL_MS }),
      ];
      await Promise.all(q);
      const timeout = (await expiry!).value;
      if (Number(timeout) !== m.idleTimeoutS)
        throw new Error(`the router's nf_conntrack_tcp_timeout_established reads back ${String(timeout)}, not ${m.idleTimeoutS}`);
    } finally {
      rules.remove();
    }
    return new Router(names.router, helper, path);
  }

  /**
   * Follow a connection's entry in the router's table, by its original tuple (the client's side of
   * it, as the client sent it): looked up every tick, each change reported (harness/helper/conntrack.c).
   */
  async watch(family: 4 | 6, src: string, sport: number, dst: string, dport: number): Promise<void> {
    await this.helper.request({ cmd: 'ct-watch', family, src, sport, dst, dport });
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

/** The router's ruleset as a file its helper's nft reads (the helper's protocol carries short strings only). */
function writeRules(path: PathSpec): { file: string; remove: () => void } {
  const m = path.middlebox;
  const dir = mkdtempSync(join(tmpdir(), 'deadpeer-router-'));
  const file = join(dir, 'rules.nft');
  writeFileSync(file, renderPathRuleset({ verdict: m.mode, ...(m.kind === 'nat' ? { masquerade: ROUTER_IFNAMES.serverSide } : {}) }), { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
