import { execa, type ResultPromise } from 'execa';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuditReport } from '../harness/apps/audit/report.js';
import { ROOT } from '../harness/core/paths.js';
import { Topology } from '../harness/engine/topology.js';
import { withTimingMachine } from './machine.js';
import { pct } from './stats.js';

/**
 * What `deadpeer audit` costs (issue 22: 10,000 connections of one process in ≤ 1 s, 100,000
 * across processes in ≤ 10 s, end to end with the model), beside `ss -tinp` on the same sockets.
 * N idle connections are opened from a client namespace to a server one (a pair of the engine's
 * Topology): clients and servers are processes of bench/audit-holder.ts holding at most
 * PER_PROCESS descriptors each, process i connecting to port BASE_PORT + i (each port's own
 * ephemeral range). Then `deadpeer audit --all --netns <client namespace> --json` and
 * `ss -tinp` inside that namespace are timed, each the median of RUNS. `npm run bench` prints
 * these rows among its figures; `node dist/bench/audit.js [N…]` runs this alone (timing lock held).
 */
export const AUDIT_SIZES = [1000, 10_000, 100_000];
/** The most sockets one holder opens: a process may hold at most 20,000 descriptors here. */
const PER_PROCESS = 19_000;
const BASE_PORT = 5000;
const RUNS = 3;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface AuditCost {
  connections: number;
  processes: number;
  /** wall time of the audit command, ms, each run */
  auditMs: number[];
  /** the reader's own time (the helper), ms, median */
  readerMs: number;
  /** phase answers the model computed (the rest from its memo) */
  modelComputations: number;
  /** connections the audit reported (must be `connections`) */
  audited: number;
  /** the summary's groups (one per holder process and its server port) */
  groups: number;
  ssMs: number[];
  /** connections ss listed */
  ssListed: number;
  /** time to open them all, ms */
  setupMs: number;
}

/** A holder process, started in a namespace; resolves once it said "ready". */
async function holder(netns: string, args: string[], holders: ResultPromise[]): Promise<void> {
  const p = execa('ip', ['netns', 'exec', netns, process.execPath, join(ROOT, 'dist', 'bench', 'audit-holder.js'), ...args], { reject: false, stdin: 'ignore', buffer: false });
  holders.push(p);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^ready /m.test(out)) resolve();
    });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void p.then((r) => reject(new Error(`audit-holder ${args.join(' ')} exited (${r.exitCode ?? r.signal}) before it was ready: ${err.trim()}`)));
  });
}

/** End the holders this bench started, by pid, and wait for them. */
async function endHolders(holders: ResultPromise[]): Promise<void> {
  for (const p of holders) p.kill('SIGTERM');
  await Promise.allSettled(holders);
}

/** One size: open, time the audit and ss, close everything (on every path). */
export async function auditCost(n: number): Promise<AuditCost> {
  const topo = await Topology.create();
  const holders: ResultPromise[] = [];
  // interrupted: the holders go too (the Topology's own handler releases the namespaces and re-raises)
  const interrupted = () => void endHolders(holders);
  for (const sig of SIGNALS) process.once(sig, interrupted);
  try {
    const processes = Math.ceil(n / PER_PROCESS);
    const share = (i: number) => Math.floor(n / processes) + (i < n % processes ? 1 : 0);
    const server = topo.server.addr[4];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: processes }, (_, i) => holder(topo.server.netns, ['serve', server, String(BASE_PORT + i)], holders)));
    await Promise.all(Array.from({ length: processes }, (_, i) => holder(topo.client.netns, ['connect', server, String(BASE_PORT + i), String(share(i))], holders)));
    const setupMs = performance.now() - t0;

    const auditMs: number[] = [];
    const readerMs: number[] = [];
    let report: AuditReport | undefined;
    // the JSON goes to a file, as it would to jq or a collector: the timing is the audit's, not this process's buffering
    const out = join(mkdtempSync(join(tmpdir(), 'dp-bench-audit-')), 'audit.json');
    try {
      for (let r = 0; r < RUNS; r++) {
        const a0 = performance.now();
        const fd = openSync(out, 'w');
        const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'deadpeer.js'), 'audit', '--all', '--netns', `/run/netns/${topo.client.netns}`, '--json'], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
        auditMs.push(performance.now() - a0);
        closeSync(fd);
        if (run.status !== 0) throw new Error(`deadpeer audit exited ${run.status ?? run.signal}: ${run.stderr.split('\n')[0]}`);
        report = JSON.parse(readFileSync(out, 'utf8')) as AuditReport;
        readerMs.push(report.reader.elapsedMs);
      }
    } finally {
      rmSync(dirname(out), { recursive: true, force: true });
    }
    const ssMs: number[] = [];
    let ssListed = 0;
    for (let r = 0; r < RUNS; r++) {
      const s0 = performance.now();
      const ss = await execa('ip', ['netns', 'exec', topo.client.netns, 'ss', '-tinp'], { reject: false, maxBuffer: 2 ** 30 });
      ssMs.push(performance.now() - s0);
      ssListed = (ss.stdout.match(/^ESTAB/gm) ?? []).length;
    }
    return { connections: n, processes, auditMs, readerMs: pct(readerMs, 50), modelComputations: report!.modelComputations, audited: report!.connections.length, groups: report!.groups.length, ssMs, ssListed, setupMs };
  } finally {
    for (const sig of SIGNALS) process.off(sig, interrupted);
    await endHolders(holders);
    await topo.dispose();
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

/** The curve as bench rows: what, measured, target. */
export function auditCostRows(costs: AuditCost[]): [string, string, string][] {
  return costs.flatMap((c): [string, string, string][] => {
    const what = `${c.connections.toLocaleString('en')} connections in ${c.processes} process${c.processes === 1 ? '' : 'es'}`;
    const target = c.connections === 10_000 && c.processes === 1 ? '≤ 1 s' : c.connections === 100_000 ? '≤ 10 s' : '';
    const complete = c.audited === c.connections ? '' : ` — ONLY ${c.audited} audited`;
    return [
      [`deadpeer audit --all --netns … --json, ${what}: end to end, median of ${c.auditMs.length}`, `${s(pct(c.auditMs, 50))} (the reader ${s(c.readerMs)}; the model computed ${c.modelComputations} phases; ${c.groups} group${c.groups === 1 ? '' : 's'})${complete}`, target],
      [`ss -tinp in that namespace, the same ${c.connections.toLocaleString('en')} connections: median of ${c.ssMs.length}`, `${s(pct(c.ssMs, 50))}${c.ssListed === c.connections ? '' : ` (listed ${c.ssListed})`}`, 'for comparison'],
    ];
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : AUDIT_SIZES;
  if (!sizes.every((x) => Number.isInteger(x) && x > 0 && x <= 200_000)) {
    process.stderr.write(`bench/audit: each N must be a whole number from 1 to 200000, not ${JSON.stringify(process.argv.slice(2))}\n`);
    process.exitCode = 2;
  } else {
    process.exitCode = await withTimingMachine('bench/audit', 'deadpeer bench (audit)', async () => {
      const costs: AuditCost[] = [];
      for (const n of sizes) {
        process.stderr.write(`bench/audit: ${n} connections…\n`);
        costs.push(await auditCost(n));
      }
      const rows = auditCostRows(costs);
      const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))];
      for (const r of rows) process.stdout.write(`${r[0].padEnd(w[0]!)}  ${r[1].padEnd(w[1]!)}  ${r[2]}\n`);
      return 0;
    });
  }
}
