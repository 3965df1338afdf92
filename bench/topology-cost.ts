import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Topology } from '../harness/engine/topology.js';
import { parseMiddlebox, type Middlebox } from '../harness/model/middlebox.js';
import { fingerprintDiff, hostFingerprint } from '../harness/suite/host-guard.js';
import { withTimingMachine } from './machine.js';
import { pct } from './stats.js';

/**
 * What a router on the path costs (issue 19: "the two-namespace topology stays the default and as
 * fast as today", the router topology within 2× of it): N sequential create + dispose of each, the
 * router's with a short-timeout firewall that resets — and the host namespace's fingerprint before
 * and after the routers, since a router writes forwarding and conntrack sysctls and loads rules,
 * all of which must stay in its own namespace. `npm run bench` prints these rows among its
 * figures; `node dist/bench/topology-cost.js [N]` runs this alone (under the timing lock).
 */
export const ROUTER_TARGET = 2;
const ROUTER_MIDDLEBOX = parseMiddlebox('idle-expiry:5s:reset:firewall') as Middlebox;

/** Wall time of each of n sequential create + dispose, ms. */
export async function timeTopologies(n: number, create: () => Promise<Topology> = () => Topology.create()): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const t = await create();
    await t.dispose();
    out.push(performance.now() - t0);
  }
  return out;
}

export interface TopologyCost {
  n: number;
  twoNamespaces: number[];
  router: number[];
  /** the fingerprint's parts that changed while the routers ran (empty: untouched) */
  hostChanged: string[];
}

export async function topologyCost(n = 20): Promise<TopologyCost> {
  // alternated in halves, so a machine that grows busier or calmer meanwhile weighs on both alike
  const half = Math.ceil(n / 2);
  const two = await timeTopologies(half);
  const before = await hostFingerprint();
  const router = await timeTopologies(n, () => Topology.create({ path: { middlebox: ROUTER_MIDDLEBOX } }));
  const after = await hostFingerprint();
  two.push(...(await timeTopologies(n - half)));
  return { n, twoNamespaces: two, router, hostChanged: fingerprintDiff(before, after) };
}

const fmt = (xs: number[]) => `${pct(xs, 50).toFixed(1)} ms / ${pct(xs, 90).toFixed(1)} ms`;

/** The figures as bench rows: what, measured, target. */
export function topologyCostRows(c: TopologyCost): [string, string, string][] {
  const ratio = pct(c.router, 50) / pct(c.twoNamespaces, 50);
  return [
    [`topology up+down, 2 namespaces (${c.n} sequential): p50 / p90`, fmt(c.twoNamespaces), ''],
    [`topology up+down, router on the path (3 namespaces, ${ROUTER_MIDDLEBOX.name}; ${c.n} sequential): p50 / p90`, fmt(c.router), ''],
    ['router topology / 2-namespace topology, p50', `${ratio.toFixed(2)}×`, `≤ ${ROUTER_TARGET}×`],
    ['host namespace untouched by the routers (host guard: nft ruleset, links, routes, TCP, forwarding and conntrack sysctls)', c.hostChanged.length ? `no — changed: ${c.hostChanged.join(', ')}` : 'yes', 'yes'],
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 20);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`topology-cost: N must be a whole number above 0, not ${JSON.stringify(process.argv[2])}\n`);
    process.exitCode = 2;
  } else {
    process.exitCode = await withTimingMachine('topology-cost', 'deadpeer bench (topology cost)', async () => {
      for (const [what, value, target] of topologyCostRows(await topologyCost(n))) process.stdout.write(`${what}: ${value}${target ? `  (target ${target})` : ''}\n`);
      return 0;
    });
  }
}
