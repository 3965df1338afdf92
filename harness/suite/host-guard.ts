import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';

/**
 * A fingerprint of what deadpeer promises never to touch in the host namespace: its nft ruleset,
 * links, routes, TCP sysctls, and the forwarding and conntrack sysctls a router on the path writes
 * in its own. Taken before and after a suite; any difference fails the run.
 */
export async function hostFingerprint(): Promise<Record<string, string>> {
  const cmd = async (file: string, args: string[]) => {
    const r = await execa(file, args, { reject: false });
    return r.failed ? `(${file} failed: ${String(r.stderr).split('\n')[0]})` : String(r.stdout);
  };
  const sysctls = readdirSync('/proc/sys/net/ipv4')
    .filter((f) => f.startsWith('tcp_'))
    .sort()
    .map((f) => {
      try {
        return `${f}=${readFileSync(`/proc/sys/net/ipv4/${f}`, 'utf8').trim()}`;
      } catch {
        return `${f}=(unreadable)`;
      }
    })
    .join('\n');
  // what a router on the path writes in its own namespace: forwarding, and conntrack's timeouts
  // (those exist in every namespace once conntrack is loaded, absent ones read as such)
  const readSysctl = (path: string) => {
    try {
      return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
    } catch {
      return '(absent)';
    }
  };
  const routing = ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', 'net/ipv6/conf/all/accept_dad', 'net/ipv6/conf/default/accept_dad']
    .map((f) => `${f}=${readSysctl(f)}`)
    .join('\n');
  // conntrack's appear in every namespace when a modular kernel loads it for a router's rules: a
  // key only once present, and fingerprintDiff compares the keys both fingerprints have
  const conntrack = Object.fromEntries(
    ['nf_conntrack_tcp_timeout_established', 'nf_conntrack_tcp_loose'].flatMap((f) => {
      const v = readSysctl(`net/netfilter/${f}`);
      return v === '(absent)' ? [] : [[`sysctl ${f}`, v]];
    }),
  );
  const [nft, links, routes4, routes6] = await Promise.all([
    cmd('nft', ['list', 'ruleset']),
    cmd('ip', ['-o', 'link', 'show']),
    cmd('ip', ['-4', 'route', 'show', 'table', 'all']),
    cmd('ip', ['-6', 'route', 'show', 'table', 'all']),
  ]);
  // link counters and states of unrelated interfaces change on their own; compare names and kinds
  const linkNames = links
    .split('\n')
    .map((l) => l.split(':').slice(0, 2).join(':').trim())
    .join('\n');
  return { 'nft ruleset': nft, links: linkNames, 'ipv4 routes': routes4, 'ipv6 routes': routes6, 'tcp sysctls': sysctls, 'forwarding sysctls': routing, ...conntrack };
}

export function fingerprintDiff(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before).filter((k) => k in after && before[k] !== after[k]);
}
