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

/** Each end: loopback up, the veth up, one IPv4 and one IPv6 address. */
export function endCommands(role: Role): Record<string, unknown>[] {
  const a = ADDRESSES[role];
  return [
    { cmd: 'up', ifname: 'lo' },
    { cmd: 'up', ifname: IFNAME },
    { cmd: 'addr', ifname: IFNAME, addr: a[4], prefix: 24 },
    { cmd: 'addr', ifname: IFNAME, addr: a[6], prefix: 64 },
  ];
}

/** Wait until the veth really carries packets (operstate UP and a qdisc attached). */
export const waitUpCommand = { cmd: 'waitup', ifname: IFNAME, timeout_ms: 3000 };

export const wireEnd = (role: Role, netns: string): WireEnd => ({ netns, ifname: IFNAME, addr: { ...ADDRESSES[role] } });
