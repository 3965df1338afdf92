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

export interface WireEnd {
  netns: string;
  ifname: string;
  addr: { 4: string; 6: string };
}

/** The veth, created by the client's helper. */
export const vethCommand = (serverNs: string) => ({ cmd: 'veth', ifname: IFNAME, peer: IFNAME, peer_netns: serverNs });

/**
 * Each end in one command: loopback and the veth up, one IPv4 and one IPv6 address, then wait until
 * the veth really carries packets (operstate UP and a qdisc attached). The server's helper may get
 * it before the veth exists: it waits for its end to appear.
 */
export function wireEndCommand(role: Role): Record<string, unknown> {
  const a = ADDRESSES[role];
  return { cmd: 'wire-end', ifname: IFNAME, addr4: a[4], prefix4: 24, addr6: a[6], prefix6: 64, timeout_ms: 3000 };
}

export const wireEnd = (role: Role, netns: string): WireEnd => ({ netns, ifname: IFNAME, addr: { ...ADDRESSES[role] } });

/**
 * The veth is made in the client namespace with its peer placed straight into the server's, so it
 * only ever exists inside them and dies with them; it must never surface in the host's namespace.
 * (A namespace kept alive by a stray process would keep its veth: the cleanup tests look for
 * stray helpers too.)
 */
export const vethInHost = (): boolean => existsSync(`/sys/class/net/${IFNAME}`);
