import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import { ROOT } from '../harness/core/paths.js';
import { preflightProblem } from '../harness/suite/preflight.js';

/**
 * `npm run soak -- N`: the full fast suite N times — the first half one at a time, the second half
 * two suites at once — and the failures counted by test. Flaky cases are fixed at the root, never
 * by retrying: this only finds them.
 */
interface JsonReport {
  numTotalTests: number;
  numFailedTests: number;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages?: string[] }> }>;
}

async function suite(label: string, out: string): Promise<{ label: string; seconds: number; report?: JsonReport; error?: string }> {
  const t0 = performance.now();
  const r = await execa('npx', ['vitest', 'run', '--reporter=json', `--outputFile=${out}`], {
    cwd: ROOT,
    reject: false,
    env: { DEADPEER_RUN_ID: `soak-${label}-${Date.now()}` },
  });
  const seconds = (performance.now() - t0) / 1000;
  try {
    return { label, seconds, report: JSON.parse(readFileSync(out, 'utf8')) as JsonReport };
  } catch {
    return { label, seconds, error: String(r.stderr).split('\n').slice(-3).join(' ') || `exit ${r.exitCode}` };
  }
}

async function main(argv: string[]): Promise<number> {
  const n = Number(argv[0] ?? 20);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    process.stderr.write(`deadpeer soak: the number of suite runs must be a whole number from 1 to 1000, not "${argv[0]}"\n`);
    return 2;
  }
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer soak: ${problem}\n`);
    return 2;
  }
  const tmp = await tmpDir({ unsafeCleanup: true, prefix: 'deadpeer-soak-' });
  const runs: Awaited<ReturnType<typeof suite>>[] = [];
  try {
    const single = Math.ceil(n / 2);
    for (let i = 1; i <= n; ) {
      const batch = i <= single ? [i] : [i, i + 1].filter((k) => k <= n);
      const started = batch.map((k) => suite(String(k), join(tmp.path, `${k}.json`)));
      for (const r of await Promise.all(started)) {
        runs.push(r);
        const failed = r.report?.numFailedTests ?? '?';
        process.stderr.write(`soak ${r.label}/${n}${batch.length > 1 ? ' (two at once)' : ''}: ${r.report?.numTotalTests ?? '?'} tests, ${failed} failed, ${r.seconds.toFixed(1)} s${r.error ? ` — ${r.error}` : ''}\n`);
      }
      i += batch.length;
    }
  } finally {
    await tmp.cleanup();
  }
  // by test: how often, and the first line of each distinct failure (the verdict's own words)
  const failures = new Map<string, { count: number; why: Set<string> }>();
  for (const r of runs)
    for (const f of r.report?.testResults ?? [])
      for (const a of f.assertionResults)
        if (a.status === 'failed') {
          const key = `${f.name.replace(ROOT + '/', '')} › ${a.fullName}`;
          const entry = failures.get(key) ?? { count: 0, why: new Set<string>() };
          entry.count++;
          entry.why.add(`run ${r.label}: ${(a.failureMessages?.[0] ?? '').split('\n')[0]!.slice(0, 240)}`);
          failures.set(key, entry);
        }
  const total = runs.reduce((s, r) => s + (r.report?.numTotalTests ?? 0), 0);
  const failed = runs.reduce((s, r) => s + (r.report?.numFailedTests ?? 0), 0);
  const broken = runs.filter((r) => !r.report).length;
  process.stdout.write(`\nsoak: ${runs.length} suite runs (${Math.ceil(n / 2)} alone, ${n - Math.ceil(n / 2)} two at once), ${total} tests, ${failed} failed${broken ? `, ${broken} runs without a report` : ''}\n`);
  process.stdout.write(`wall per suite: min ${Math.min(...runs.map((r) => r.seconds)).toFixed(1)} s, max ${Math.max(...runs.map((r) => r.seconds)).toFixed(1)} s\n`);
  for (const [k, v] of [...failures].sort((a, b) => b[1].count - a[1].count)) {
    process.stdout.write(`  ${v.count}× ${k}\n`);
    for (const why of v.why) process.stdout.write(`      ${why}\n`);
  }
  return failed || broken ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
