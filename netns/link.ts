import { run } from './run.js';

/**
 * The wire between two namespaces. The veth pair is created inside the first namespace with its
 * peer moved straight into the second, so no link ever appears in the host namespace.
 * Addresses: the benchmarking ranges (RFC 2544 / RFC 5180), never routed anywhere real.
 */
export const IFNAME = 'dp0';
export const ADDRESSES = {
  client: { 4: '198.18.0.1', 6: '2001:2::1' },
  server: { 4: '198.18.0.2', 6: '2001:2::2' },
} as const;

export interface WireEnd {
  netns: string;
  ifname: string;
  addr: { 4: string; 6: string };
}

function endConfig(addr: { 4: string; 6: string }): string {
  // nodad: duplicate address detection would hold IPv6 back ~1-2 s for nothing (we own the wire)
  return [
    'link set lo up',
    `link set ${IFNAME} up`,
    `addr add ${addr[4]}/24 dev ${IFNAME}`,
    `addr add ${addr[6]}/64 dev ${IFNAME} nodad`,
  ].join('\n');
}

export async function createNamespacesWithWire(clientNs: string, serverNs: string): Promise<{ client: WireEnd; server: WireEnd }> {
  await run('ip', ['-batch', '-'], `netns add ${clientNs}\nnetns add ${serverNs}\n`);
  await run('ip', ['-n', clientNs, 'link', 'add', IFNAME, 'type', 'veth', 'peer', 'name', IFNAME, 'netns', serverNs]);
  await Promise.all([
    run('ip', ['-n', clientNs, '-batch', '-'], endConfig(ADDRESSES.client)),
    run('ip', ['-n', serverNs, '-batch', '-'], endConfig(ADDRESSES.server)),
  ]);
  return {
    client: { netns: clientNs, ifname: IFNAME, addr: { ...ADDRESSES.client } },
    server: { netns: serverNs, ifname: IFNAME, addr: { ...ADDRESSES.server } },
  };
}
