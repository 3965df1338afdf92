import { existsSync } from 'node:fs';
/**
 * The wire between two namespaces, as the commands the helpers carry out over rtnetlink (see
 * harness/helper/plumbing.c): the veth pair is created inside the client namespace with its peer
 * placed straight into the server's, so no link ever appears in the host namespace.
 * Addresses: the benchmarking ranges (RFC 2544 / RFC 5180), never routed anywhere real.
 */
export const IFNAME = 'dp0';
export const ADDRESSES = {
  client: { 4: '198.18.0.1', 6: '2001:2::1' },
  server: { 4: '198.18.0.2', 6: '2001:2::2' },
} as const;

export type Role = keyof typeof ADDRESSES;

/**
 * With a router on the path (a middlebox), the server moves to a second subnet behind it: the
 * client's side keeps 198.18.0.0/24 and 2001:2::/64, the server's is 198.18.1.0/24 and 2001:2:0:1::/64,
 * and the router holds .254 / ::fe on both. Still the benchmarking ranges, still never routed anywhere real.
 */
export const ROUTED_ADDRESSES = {
  client: ADDRESSES.client,
  server: { 4: '198.18.1.2', 6: '2001:2:0:1::2' },
  routerClientSide: { 4: '198.18.0.254', 6: '2001:2::fe' },
  routerServerSide: { 4: '198.18.1.254', 6: '2001:2:0:1::fe' },
} as const;

/** The router's two links: toward the client (the veth's peer of the client's dp0) and toward the server. */
export const ROUTER_IFNAMES = { clientSide: 'dpc', serverSide: 'dps' } as const;

export interface WireEnd {
  netns: string;
  ifname: string;
  addr: { 4: string; 6: string };
}

/** The veth, created by the client's helper. */
export const vethCommand = (peerNs: string, ends: { ifname?: string; peer?: string } = {}) => ({ cmd: 'veth', ifname: ends.ifname ?? IFNAME, peer: ends.peer ?? IFNAME, peer_netns: peerNs });

/**
 * Each end in one command: loopback and the veth up, one IPv4 and one IPv6 address, then wait until
 * the veth really carries packets (operstate UP and a qdisc attached). The server's helper may get
 * it before the veth exists: it waits for its end to appear.
 */
export function wireEndCommand(role: Role, opts: { addr?: { 4: string; 6: string }; ifname?: string; gateway?: { 4?: string; 6?: string } } = {}): Record<string, unknown> {
  const a = opts.addr ?? ADDRESSES[role];
  const gw = opts.gateway ?? {};
  return {
    cmd: 'wire-end',
    ifname: opts.ifname ?? IFNAME,
    addr4: a[4],
    prefix4: 24,
    addr6: a[6],
    prefix6: 64,
    ...(gw[4] ? { gw4: gw[4] } : {}),
    ...(gw[6] ? { gw6: gw[6] } : {}),
    timeout_ms: 3000,
  };
}

export const wireEnd = (role: Role, netns: string, addr: { 4: string; 6: string } = ADDRESSES[role]): WireEnd => ({ netns, ifname: IFNAME, addr: { ...addr } });

/**
 * The veth is made in the client namespace with its peer placed straight into the server's, so it
 * only ever exists inside them and dies with them; it must never surface in the host's namespace.
 * (A namespace kept alive by a stray process would keep its veth: the cleanup tests look for
 * stray helpers too.)
 */
export const vethInHost = (): boolean => existsSync(`/sys/class/net/${IFNAME}`);
