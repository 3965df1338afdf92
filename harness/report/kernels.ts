import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseRelease } from '../model/features.js';
import type { Phase } from '../model/types.js';
import { judgeTimeline, matchingPackets, observedEnd } from '../judge/verdict.js';
import { loadObservations } from './summary.js';
import { esc } from './svg-kit.js';
import type { Observation } from '../core/observation.js';

/**
 * The cross-kernel table (docs/KERNELS.md): phase × kernel → what the kernel did (errno, close
 * time, the predicted packets as seen on the wire) and whether it followed the model of THAT
 * kernel. Built from the folders matrix/run.sh leaves per kernel, each judged exactly as the
 * suite judged it (judgeTimeline on the Observation and the prediction it carries), so the table
 * cannot disagree with the test results it summarises.
 *
 * A kernel folder (matrix/suite.sh writes it):
 *   meta.json      the kernel, its HZ, its feature probes, how it ran (kvm/tcg/none)
 *   vitest.json    every test's result (vitest's JSON reporter)
 *   results/run/<case>/observation.json (+ capture.pcap)
 *   status         vitest's exit code; absent when the guest never got that far
 *   failure        one line, written by the runner when the kernel gave no result (boot, timeout)
 *   wall_s         the runner's wall time for this kernel, boot included
 */

export interface KernelMeta {
  spec: string;
  release: string;
  accel: string;
  hz: number | null;
  cpus?: number;
  node?: string;
  profile?: string;
  probes: Record<string, boolean>;
  cases?: string;
}

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  testResults: Array<{
    name: string;
    status?: string;
    message?: string;
    assertionResults: Array<{ fullName: string; status: string; failureMessages?: string[] }>;
  }>;
}

export interface KernelRun {
  dir: string;
  /** the column: the folder's name (6.1, host, or a CI artifact's name such as host-ubuntu-24.04-node22) */
  id: string;
  /** the runner's name for the kernel: 6.1, 6.12, host, … */
  spec: string;
  meta: KernelMeta | null;
  observations: Observation[];
  tests: { total: number; passed: number; failed: number; skipped: number } | null;
  /** failed tests and files that failed to load, one line each */
  failures: string[];
  /** why there is no result at all (did not boot, timed out), else null */
  noResult: string | null;
  exitCode: number | null;
  wallS: number | null;
}

const readJson = <T>(file: string): T | null => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
};
const readText = (file: string): string | null => (existsSync(file) ? readFileSync(file, 'utf8').trim() : null);

/** The first line that says something, without vitest's noise or ANSI colours. */
function firstLine(msg: string): string {
  return (
    msg
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

export function loadKernelRun(dir: string): KernelRun {
  const meta = readJson<KernelMeta>(join(dir, 'meta.json'));
  const vt = readJson<VitestJson>(join(dir, 'vitest.json'));
  const failures: string[] = [];
  for (const file of vt?.testResults ?? []) {
    const rel = file.name.replace(/^.*?\/(cases|test)\//, '$1/');
    for (const a of file.assertionResults) if (a.status === 'failed') failures.push(`${rel} › ${a.fullName}: ${firstLine(a.failureMessages?.[0] ?? 'failed')}`);
    if (file.status === 'failed' && file.assertionResults.length === 0) failures.push(`${rel}: ${firstLine(file.message ?? 'failed to run')}`);
  }
  const status = readText(join(dir, 'status'));
  const wall = readText(join(dir, 'wall_s'));
  const resultsRoot = join(dir, 'results');
  // suite.sh uses DEADPEER_RUN_ID=run; any other run folder under results/ is read too
  const runDirs = existsSync(resultsRoot) ? readdirSync(resultsRoot, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
  return {
    dir,
    id: basename(dir),
    spec: meta?.spec ?? basename(dir),
    meta,
    observations: runDirs.flatMap((d) => loadObservations(join(resultsRoot, d.name))),
    tests: vt
      ? { total: vt.numTotalTests, passed: vt.numPassedTests, failed: vt.numFailedTests, skipped: vt.numPendingTests + (vt.numTodoTests ?? 0) }
      : null,
    failures,
    noResult: readText(join(dir, 'failure')) ?? (status === null ? 'no status: the suite never finished' : null),
    exitCode: status === null ? null : Number(status),
    wallS: wall === null ? null : Number(wall),
  };
}

/** What one kernel did in one run, condensed for a table cell. */
export interface Cell {
  errno: string | null;
  /** seconds from the phase's t = 0; null = still open */
  closeAt: number | null;
  /** observed packets of the kinds the model predicts, by kind, with their times */
  packets: Array<{ kind: string; times: number[] }>;
  predicted: { errno: string | null; closeAt: number | null; counts: Record<string, number> };
  agrees: boolean;
  /** the verdict's first reason when it does not agree */
  problem?: string;
}

export function cellFor(obs: Observation): Cell {
  const v = judgeTimeline(obs);
  const byKind = new Map<string, number[]>();
  // a kind both sides send (RST, …) is named with its sender
  const senders = (kind: string) => new Set(obs.prediction.events.filter((e) => e.packet === kind).map((e) => e.side)).size;
  // every packet of a kind the model predicts, predicted or not: an extra SYN must show
  for (const p of matchingPackets(obs, obs.prediction)) {
    const k = senders(p.kind) > 1 ? `${p.from} ${p.kind}` : p.kind;
    if (!byKind.has(k)) byKind.set(k, []);
    byKind.get(k)!.push(p.rel);
  }
  const counts: Record<string, number> = {};
  for (const e of obs.prediction.events) counts[e.packet] = (counts[e.packet] ?? 0) + 1;
  return {
    errno: obs.close?.errno ?? null,
    closeAt: observedEnd(obs),
    packets: [...byKind].map(([kind, times]) => ({ kind, times })),
    predicted: { errno: obs.prediction.errno, closeAt: obs.prediction.closeAt, counts },
    agrees: v.ok,
    ...(v.ok ? {} : { problem: v.problems[0] }),
  };
}

const PHASE_ORDER: Phase[] = ['syn-sent', 'syn-recv', 'defer-accept', 'idle', 'busy', 'zero-window'];

export interface Row {
  phase: Phase;
  name: string;
  family: 4 | 6;
  /** by KernelRun.id */
  cells: Record<string, Cell | undefined>;
}

export function buildRows(runs: KernelRun[]): Row[] {
  const rows = new Map<string, Row>();
  for (const run of runs)
    for (const obs of run.observations) {
      const key = `${obs.phase}\0${obs.name}\0${obs.family}`;
      if (!rows.has(key)) rows.set(key, { phase: obs.phase, name: obs.name, family: obs.family, cells: {} });
      rows.get(key)!.cells[run.id] = cellFor(obs);
    }
  const phaseIdx = (p: Phase) => (PHASE_ORDER.indexOf(p) + PHASE_ORDER.length + 1) % (PHASE_ORDER.length + 1);
  return [...rows.values()].sort((a, b) => phaseIdx(a.phase) - phaseIdx(b.phase) || a.name.localeCompare(b.name) || a.family - b.family);
}

/** Oldest kernel first, the host last: the columns read as history. */
export function sortRuns(runs: KernelRun[]): KernelRun[] {
  const key = (r: KernelRun): [number, number, number] => {
    try {
      return parseRelease(r.meta?.release ?? r.spec);
    } catch {
      return [999, 0, 0];
    }
  };
  return [...runs].sort((a, b) => {
    if ((a.spec === 'host') !== (b.spec === 'host')) return a.spec === 'host' ? 1 : -1;
    const [x, y] = [key(a), key(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
}

const s2 = (t: number) => (Math.abs(t) < 0.005 ? '0' : t.toFixed(2));
const secs = (t: number | null) => (t === null ? 'open' : `${s2(t)} s`);

/** "ETIMEDOUT 15.31 s · 4 SYN: 0, 1.02, 3.04, 7.14 · ✓" */
export function renderCell(c: Cell | undefined): string {
  if (!c) return '—';
  const close = c.closeAt === null ? 'open' : `${c.errno ?? 'gone'} ${secs(c.closeAt)}`;
  const packets = c.packets.map((p) => `${p.times.length} ${p.kind}${p.times.length <= 12 ? `: ${p.times.map(s2).join(', ')}` : ''}`);
  const verdict = c.agrees ? '✓ model' : `✗ model: ${c.predicted.errno ?? 'open'} ${secs(c.predicted.closeAt)}, ${Object.entries(c.predicted.counts).map(([k, n]) => `${n} ${k}`).join(' + ') || 'no packets'}`;
  return [close, ...packets, verdict].join(' · ').replace(/\|/g, '\\|');
}

const yesNo = (b: boolean | undefined) => (b === undefined ? '?' : b ? 'yes' : 'no');

function kernelLabel(r: KernelRun): string {
  return r.spec === 'host' && r.meta?.release ? `${r.id} (${r.meta.release})` : r.id;
}

function accelText(a: string | undefined): string {
  switch (a) {
    case 'kvm':
      return 'QEMU/KVM';
    case 'tcg':
      return 'QEMU/TCG, -icount';
    case 'none':
      return 'host, no VM';
    default:
      return a ?? '?';
  }
}

/** The signature of a row's behaviour, to spot version-gated differences: counts and errno only. */
const shape = (c: Cell | undefined) => (c ? `${c.errno}|${c.packets.map((p) => `${p.times.length}${p.kind}`).join(',')}` : '');

export function renderKernelsMarkdown(input: KernelRun[], opts: { generatedAt?: Date; command?: string } = {}): string {
  const runs = sortRuns(input);
  const rows = buildRows(runs);
  const out: string[] = [];
  const head = (cols: string[]) => [`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`];
  out.push('# deadpeer across kernels', '');
  out.push(
    'Generated by the kernel matrix (`matrix/run.sh`, `npm run matrix -- <kernels…>`) from the Observations each',
    'kernel produced; do not edit by hand. Each kernel ran the same cases (fast profile unless noted), judged',
    'against the model of *that* kernel — built from the settings and feature probes read back from it — with',
    'the tolerances of the timer wheel (harness/judge/verdict.ts). Times are seconds from the phase\'s t = 0.',
    '',
  );
  if (opts.generatedAt) out.push(`Generated ${opts.generatedAt.toISOString().replace(/\.\d+Z$/, 'Z')}${opts.command ? ` by \`${opts.command}\`` : ''}.`, '');

  out.push('## Kernels', '');
  out.push(...head(['kernel', 'release', 'ran on', 'HZ', 'linear SYN backoff (6.5+)', 'tcp_rto_min_us (6.11+)', 'tcp_rto_max_ms (6.15+)', 'tests', 'wall']));
  for (const r of runs) {
    const m = r.meta;
    const tests = r.noResult
      ? `**no result: ${r.noResult}**`
      : r.tests
        ? `${r.tests.passed}/${r.tests.total} passed${r.tests.failed ? `, **${r.tests.failed} failed**` : ''}${r.tests.skipped ? `, ${r.tests.skipped} skipped` : ''}`
        : `exit ${r.exitCode}`;
    out.push(
      `| ${kernelLabel(r)} | ${m?.release ?? '?'} | ${accelText(m?.accel)}${m?.cpus ? `, ${m.cpus} CPU` : ''} | ${m?.hz ?? '?'} | ${yesNo(m?.probes.tcp_syn_linear_timeouts)} | ${yesNo(m?.probes.tcp_rto_min_us)} | ${yesNo(m?.probes.tcp_rto_max_ms)} | ${tests} | ${r.wallS === null ? '?' : `${r.wallS} s`} |`,
    );
  }
  out.push('');

  const cols = runs.map(kernelLabel);
  const differing = rows.filter((row) => new Set(runs.map((r) => shape(row.cells[r.id])).filter(Boolean)).size > 1);
  if (differing.length) {
    out.push('## Where the kernels differ', '');
    out.push('Rows whose packet counts or errno are not the same on every kernel (the version-gated behaviour). ✓ = the kernel followed its model.', '');
    out.push(...head(['case', 'IP', ...cols]));
    for (const row of differing) {
      const brief = (c: Cell | undefined) =>
        c ? `${c.packets.map((p) => `${p.times.length} ${p.kind}`).join(' + ') || 'no packets'}, ${c.closeAt === null ? 'open' : `${c.errno ?? 'gone'} ${secs(c.closeAt)}`} ${c.agrees ? '✓' : '✗'}` : '—';
      out.push(`| ${row.name} | v${row.family} | ${runs.map((r) => brief(row.cells[r.id])).join(' | ')} |`);
    }
    out.push('');
  }

  out.push('## Phase × kernel', '');
  out.push(
    'Each cell: how the connection ended (errno and time, or `open`), the packets of the kinds the model predicts as',
    'the wire showed them (count: times), and the verdict — `✓ model`, or `✗ model:` with what the model expected.',
    '',
  );
  let phase: string | undefined;
  for (const row of rows) {
    if (row.phase !== phase) {
      phase = row.phase;
      out.push('', `### ${phase}`, '', ...head(['case', 'IP', ...cols]));
    }
    out.push(`| ${row.name.replace(/^[^/]*\//, '')} | v${row.family} | ${runs.map((r) => renderCell(row.cells[r.id])).join(' | ')} |`);
  }
  out.push('');

  const problems = runs.filter((r) => r.failures.length || r.noResult || rows.some((row) => row.cells[r.id] && !row.cells[r.id]!.agrees));
  if (problems.length) {
    out.push('## Failures and disagreements', '');
    for (const r of problems) {
      out.push(`### ${kernelLabel(r)}`, '');
      if (r.noResult) out.push(`- no result: ${r.noResult}`);
      for (const f of r.failures) out.push(`- ${f.replace(/\|/g, '\\|')}`);
      for (const row of rows) {
        const c = row.cells[r.id];
        if (c && !c.agrees) out.push(`- ${row.name} (IPv${row.family}) disagrees with the model: ${c.problem}`);
      }
      out.push('');
    }
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

/**
 * The same table as an HTML page for the kernel matrix's result folder (kernels.html next to the
 * kernel folders): each kernel's column links to that kernel's own run report (report.html, with
 * every case's timeline picture), each cell to the case's folder. Links are relative to `baseDir`.
 */
export function renderKernelsHtml(input: KernelRun[], opts: { baseDir: string; generatedAt?: Date }): string {
  const runs = sortRuns(input);
  const rows = buildRows(runs);
  const link = (path: string, label: string) => (existsSync(path) ? `<a href="${esc(encodeURI(relative(opts.baseDir, path)))}">${label}</a>` : label);
  const reportOf = (r: KernelRun) => {
    const dirs = existsSync(join(r.dir, 'results')) ? readdirSync(join(r.dir, 'results')) : [];
    return dirs.map((d) => join(r.dir, 'results', d, 'report.html')).find(existsSync);
  };
  const th = runs.map((r) => `<th>${link(reportOf(r) ?? '', esc(kernelLabel(r)))}</th>`).join('');
  const kernelRows = runs
    .map((r) => {
      const m = r.meta;
      const tests = r.noResult ? `<b class="bad">no result: ${esc(r.noResult)}</b>` : r.tests ? `${r.tests.passed}/${r.tests.total} passed${r.tests.failed ? `, <b class="bad">${r.tests.failed} failed</b>` : ''}${r.tests.skipped ? `, ${r.tests.skipped} skipped` : ''}` : `exit ${r.exitCode}`;
      const cells = [kernelLabel(r), m?.release ?? '?', accelText(m?.accel), String(m?.hz ?? '?'), yesNo(m?.probes.tcp_syn_linear_timeouts), yesNo(m?.probes.tcp_rto_min_us), yesNo(m?.probes.tcp_rto_max_ms)].map((c) => `<td>${esc(c)}</td>`);
      return `<tr>${cells.join('')}<td>${tests}</td><td>${r.wallS ?? '?'} s</td></tr>`;
    })
    .join('\n');
  const body = rows
    .map((row) => {
      const cells = runs.map((r) => {
        const c = row.cells[r.id];
        return `<td class="${c ? (c.agrees ? 'ok' : 'bad') : ''}">${esc(renderCell(c).replace(/\\\|/g, '|'))}</td>`;
      });
      return `<tr><td>${esc(row.phase)}</td><td class="name">${esc(row.name)}</td><td>v${row.family}</td>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deadpeer across kernels</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1f2933;margin:0 24px 40px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #d5dae0;padding:4px 8px;vertical-align:top;text-align:left}
td.name{font-family:monospace}td.ok{background:#eef8f1}td.bad{background:#fbe4e1}.bad{color:#c0392b}
</style></head><body>
<h1>deadpeer across kernels</h1>
<p>Each kernel ran the same cases, judged against the model of that kernel (read back from it). A column's heading opens that kernel's run report.${opts.generatedAt ? ` Generated ${esc(opts.generatedAt.toISOString())}.` : ''}</p>
<table><thead><tr><th>kernel</th><th>release</th><th>ran on</th><th>HZ</th><th>linear SYN backoff (6.5+)</th><th>tcp_rto_min_us (6.11+)</th><th>tcp_rto_max_ms (6.15+)</th><th>tests</th><th>wall</th></tr></thead>
${kernelRows}</table>
<table><thead><tr><th>phase</th><th>case</th><th>IP</th>${th}</tr></thead>
${body}</table>
</body></html>
`;
}
