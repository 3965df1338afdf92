import { startHogs } from './machine.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import { ROOT } from '../harness/core/paths.js';
import { preflightProblem } from '../harness/suite/preflight.js';

/**
 * `npm run soak -- N [--hogs K] [-- vitest filters…]`: the README's test command (`bash setup.sh &&
 * npm test`) N times, each in a fresh clone of this checkout's HEAD — what a newcomer and CI run,
 * with nothing left over from the last run — one after the other, optionally with K CPU hogs
 * (`yes > /dev/null`) running the whole time. It prints passes and failures per file, and counts
 * the runs a case could not judge (an action came late: "running it once more"), which are not
 * false verdicts but are said. Flaky cases are fixed at the root, never by retrying: this only finds them.
 */
const USAGE = 'usage: npm run soak -- N [--hogs K] [-- vitest filters…]   (N suite runs from fresh clones; K CPU hogs beside them)';

interface JsonReport {
  numTotalTests: number;
  numFailedTests: number;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages?: string[] }> }>;
}

interface SuiteRun {
  label: string;
  seconds: number;
  exitCode: number;
  report?: JsonReport;
  error?: string;
  /** runs a case could not judge and ran again ("running it once more") */
  unjudged: number;
}

async function suite(label: string, workdir: string, filters: string[]): Promise<SuiteRun> {
  const clone = join(workdir, `clone-${label}`);
  const out = join(workdir, `${label}.json`);
  const t0 = performance.now();
  await execa('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone]);
  // the README's test command, as a newcomer types it; the JSON report beside the usual output
  const r = await execa('bash', ['-c', 'bash setup.sh && npm test -- "$@"', 'soak', ...filters, '--reporter=default', '--reporter=json', `--outputFile=${out}`], {
    cwd: clone,
    reject: false,
    all: true,
    env: { CI: 'true', DEADPEER_RUN_ID: `soak-${label}-${Date.now()}` },
    stdin: 'ignore',
  });
  const seconds = (performance.now() - t0) / 1000;
  const all = String(r.all ?? '');
  const unjudged = all.split('\n').filter((l) => /running it once more$/.test(l)).length;
  const exitCode = r.exitCode ?? 1;
  await execa('rm', ['-rf', clone]);
  try {
    return { label, seconds, exitCode, unjudged, report: JSON.parse(readFileSync(out, 'utf8')) as JsonReport };
  } catch {
    return { label, seconds, exitCode, unjudged, error: all.split('\n').filter(Boolean).slice(-3).join(' ') || `exit ${exitCode}` };
  }
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const [own, filters] = dash < 0 ? [argv, []] : [argv.slice(0, dash), argv.slice(dash + 1)];
  let parsed;
  try {
    parsed = parseArgs({ args: own, allowPositionals: true, strict: true, options: { hogs: { type: 'string' } } });
  } catch (e) {
    process.stderr.write(`deadpeer soak: ${(e as Error).message.split('\n')[0]} — ${USAGE}\n`);
    return 2;
  }
  const n = Number(parsed.positionals[0] ?? 10);
  const hogs = Number(parsed.values.hogs ?? 0);
  if (parsed.positionals.length > 1 || !Number.isInteger(n) || n < 1 || n > 1000) {
    process.stderr.write(`deadpeer soak: the number of suite runs must be one whole number from 1 to 1000, not "${parsed.positionals.join(' ')}" — ${USAGE}\n`);
    return 2;
  }
  if (!Number.isInteger(hogs) || hogs < 0 || hogs > 64) {
    process.stderr.write(`deadpeer soak: --hogs must be a whole number from 0 to 64, not "${parsed.values.hogs}"\n`);
    return 2;
  }
  if (!existsSync(join(ROOT, '.git'))) {
    process.stderr.write('deadpeer soak: it clones this checkout for every run, and this is no git checkout\n');
    return 2;
  }
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer soak: ${problem}\n`);
    return 2;
  }
  const head = (await execa('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout;
  const dirty = (await execa('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT })).stdout.trim();
  process.stderr.write(
    `soak: ${n} run${n === 1 ? '' : 's'} of "bash setup.sh && npm test${filters.length ? ` -- ${filters.join(' ')}` : ''}", each in a fresh clone of ${head}${dirty ? ' (uncommitted changes are not in it)' : ''}${hogs ? `, ${hogs} CPU hog${hogs === 1 ? '' : 's'} running` : ''}\n`,
  );
  const tmp = await tmpDir({ unsafeCleanup: true, prefix: 'deadpeer-soak-' });
  const running = startHogs(hogs);
  const runs: SuiteRun[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      const r = await suite(String(i), tmp.path, filters);
      runs.push(r);
      const failed = r.report?.numFailedTests ?? '?';
      process.stderr.write(
        `soak ${i}/${n}: ${r.report?.numTotalTests ?? '?'} tests, ${failed} failed, exit ${r.exitCode}, ${r.seconds.toFixed(1)} s${r.unjudged ? `, ${r.unjudged} run${r.unjudged === 1 ? '' : 's'} could not be judged (ran again)` : ''}${r.error ? ` — ${r.error}` : ''}\n`,
      );
    }
  } finally {
    running.stop();
    await tmp.cleanup();
  }
  return summarise(runs);
}

/** Per file: in how many runs it passed and failed; per failing test: how often, and the first line of each distinct reason. */
function summarise(runs: SuiteRun[]): number {
  const files = new Map<string, { passed: number; failed: number }>();
  const failures = new Map<string, { count: number; why: Set<string> }>();
  for (const r of runs)
    for (const f of r.report?.testResults ?? []) {
      const file = f.name.replace(/^.*\/clone-[^/]+\//, '');
      const entry = files.get(file) ?? { passed: 0, failed: 0 };
      const bad = f.assertionResults.filter((a) => a.status === 'failed');
      entry[bad.length ? 'failed' : 'passed']++;
      files.set(file, entry);
      for (const a of bad) {
        const key = `${file} › ${a.fullName}`;
        const e = failures.get(key) ?? { count: 0, why: new Set<string>() };
        e.count++;
        e.why.add(`run ${r.label}: ${(a.failureMessages?.[0] ?? '').split('\n')[0]!.slice(0, 240)}`);
        failures.set(key, e);
      }
    }
  const total = runs.reduce((s, r) => s + (r.report?.numTotalTests ?? 0), 0);
  const failed = runs.reduce((s, r) => s + (r.report?.numFailedTests ?? 0), 0);
  const broken = runs.filter((r) => !r.report || (r.exitCode !== 0 && !r.report.numFailedTests));
  const unjudged = runs.reduce((s, r) => s + r.unjudged, 0);
  const green = runs.filter((r) => r.exitCode === 0).length;
  const out: string[] = ['', `soak: ${green} of ${runs.length} runs green, ${total} tests, ${failed} failed${broken.length ? `, ${broken.length} runs failed outside a test` : ''}; ${unjudged} run${unjudged === 1 ? '' : 's'} could not be judged and ran again`];
  out.push(`wall per run (clone + setup + suite): min ${Math.min(...runs.map((r) => r.seconds)).toFixed(1)} s, max ${Math.max(...runs.map((r) => r.seconds)).toFixed(1)} s`);
  out.push('', 'per file (runs passed / failed):');
  for (const [file, e] of [...files].sort((a, b) => b[1].failed - a[1].failed || a[0].localeCompare(b[0]))) out.push(`  ${String(e.passed).padStart(3)} / ${String(e.failed).padEnd(3)} ${file}`);
  if (failures.size) out.push('', 'failures:');
  for (const [k, v] of [...failures].sort((a, b) => b[1].count - a[1].count)) {
    out.push(`  ${v.count}× ${k}`);
    for (const why of v.why) out.push(`      ${why}`);
  }
  for (const r of broken) out.push(`  run ${r.label}: exit ${r.exitCode}${r.error ? ` — ${r.error}` : ''}`);
  process.stdout.write(out.join('\n') + '\n');
  return green === runs.length ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
