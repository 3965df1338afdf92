import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelCases, timeoutFor } from '../harness/vitest/cases.js';
import { ROOT } from '../harness/core/paths.js';
import type { CheckReport, PhaseResult } from '../harness/apps/check/run.js';
import type { Observation } from '../harness/core/observation.js';
import { USER_PHASES } from '../harness/recipes/phases.js';
import { listNamespaces } from '../netns/namespace.js';

/**
 * `deadpeer check` as a user runs it: the compiled bin, a preset, the fast profile. Every phase
 * runs on the kernel and is judged against the model by the CLI itself; these tests read its
 * table / JSON and exit code. Each run gets its own results folder (runs of the same phase would
 * otherwise share a run id's folder).
 */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'check.js'));
const folders: string[] = [];
afterAll(() => folders.forEach((d) => rmSync(d, { recursive: true, force: true })));

function check(...args: string[]) {
  const results = mkdtempSync(join(tmpdir(), 'deadpeer-check-'));
  folders.push(results);
  const sub = execa('node', [BIN, 'check', ...args], { reject: false, env: { DEADPEER_RESULTS: results } });
  return sub.then((r) => ({ ...r, results, pid: sub.pid! }));
}

/** The table's rows by phase: the cells after the phase name, split on the column gaps. */
function tableRows(stdout: string): Record<string, string[]> {
  const lines = stdout.split('\n');
  const head = lines.findIndex((l) => /^phase\s+t = 0\s+model/.test(l));
  const rows: Record<string, string[]> = {};
  for (const l of lines.slice(head + 2)) {
    if (!l.trim()) break;
    const cells = l.split(/\s{2,}/);
    rows[cells[0]!] = cells.slice(1);
  }
  return rows;
}

// the longest phase of these presets is ≈ 20 s in the fast profile (connect: tcp_syn_retries 3)
const RUN = { timeout: timeoutFor(22) };

describe.runIf(built)('deadpeer check', () => {
  kernelCases('on the kernel (fast profile)', () => {
    it('--preset node-keepalive-5s: every phase agrees with the model, read back as libuv sets it', RUN, async () => {
      const r = await check('--preset', 'node-keepalive-5s');
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^deadpeer check: keepalive 5\/1\/10, no TCP_USER_TIMEOUT \(preset node-keepalive-5s/);
      expect(r.stdout).toContain('socket options: SO_KEEPALIVE=1 TCP_KEEPIDLE=5 TCP_KEEPINTVL=1 TCP_KEEPCNT=10');
      expect(r.stdout).toContain('profile fast: the client\'s namespace runs with tcp_syn_retries=3, tcp_retries2=5');
      const rows = tableRows(r.stdout);
      expect(Object.keys(rows)).toEqual([...USER_PHASES]);
      for (const phase of USER_PHASES) {
        const [, model, kernel, errno, verdict] = rows[phase]!;
        expect({ phase, verdict }).toEqual({ phase, verdict: 'agrees with the model' });
        expect(errno).toBe('ETIMEDOUT');
        expect(model).toMatch(/^\d+\.\d{3} s$/);
        expect(kernel).toMatch(/^\d+\.\d{3} s$/);
      }
      // idle: IDLE + CNT × INTVL as this test chose it (5 + 10 × 1), kernel within the wheel's lateness
      expect(rows.idle![1]).toBe('15.000 s');
      // no TCP_USER_TIMEOUT: the advice quotes the model's busy time at this host's tcp_retries2
      expect(r.stdout).toMatch(/- no TCP_USER_TIMEOUT: a peer that vanishes while data is unacknowledged is noticed after ≈\d+ min/);
      expect(readdirSync(r.results)).toHaveLength(1);
    });

    it('--side server --preset node-keepalive-5s --keepalive 2:1:2 --phases idle: set on the listener, inherited by the accepted socket, the vanished client noticed as modelled', { timeout: timeoutFor(5) }, async () => {
      const r = await check('--side', 'server', '--preset', 'node-keepalive-5s', '--keepalive', '2:1:2', '--phases', 'idle', '--json', '--max-detect', '10s');
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as CheckReport;
      expect(report.side).toBe('server');
      expect(report.phases.map((p) => p.phase)).toEqual(['idle']);
      const idle = report.phases[0]!;
      expect({ verdict: idle.verdict, why: idle.why }).toEqual({ verdict: 'agrees', why: [] });
      expect(idle.origin).toBe('the last packet from the client');
      // read back from the ACCEPTED socket: what it inherited from the listener
      expect(idle.readBack).toMatchObject({ keepalive: true, keepIdle: 2, keepIntvl: 1, keepCnt: 2 });
      expect(idle.predicted).toEqual({ closeAt: 4, errno: 'ETIMEDOUT' });
      expect(idle.measured!.errno).toBe('ETIMEDOUT');
      expect(report.exitCode).toBe(0);
      expect(r.exitCode).toBe(0);
      expect(report.advice[0]).toMatch(/^set these on the listening socket: every socket accept\(\) returns inherits SO_KEEPALIVE/);
    });

    it('--preset reference --json --max-detect 30s: one JSON object, every phase within budget, exit 0', RUN, async () => {
      const r = await check('--preset', 'reference', '--json', '--max-detect', '30s');
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      const j = JSON.parse(r.stdout) as { preset: string; phases: PhaseResult[]; gate: { over: string[] }; exitCode: number; advice: string[] };
      expect(j).toMatchObject({ preset: 'reference', exitCode: 0, gate: { over: [], errors: [] } });
      expect(j.phases.map((p) => p.phase)).toEqual([...USER_PHASES]);
      for (const p of j.phases) {
        expect({ phase: p.phase, verdict: p.verdict, why: p.why }).toEqual({ phase: p.phase, verdict: 'agrees', why: [] });
        expect(p.readBack).toMatchObject({ keepalive: true, keepIdle: 5, keepIntvl: 3, keepCnt: 3, userTimeoutMs: 14000 });
        expect(p.measured!.errno).toBe('ETIMEDOUT');
        expect(p.budgetS).toBe(30);
        expect(p.measured!.closeAt!).toBeLessThan(30);
        expect(p.overBudget).toBe(false);
      }
      // U = IDLE + INTVL × CNT: the user timeout ends idle and connect at U (what this test chose: 14 s)
      expect(j.phases.find((p) => p.phase === 'idle')!.predicted.closeAt).toBe(14);
      expect(j.phases.find((p) => p.phase === 'connect')!.predicted.closeAt).toBe(14);
      expect(j.advice.some((a) => a.includes('TCP_KEEPCNT is meaningless'))).toBe(true);
    });

    it('--fault blip:5s: the heal is the helpers\', at its planned moment; the run records when it was due and when it happened', RUN, async () => {
      const r = await check('--phases', 'idle', '--keepalive', '5:3:3', '--fault', 'blip:5s', '--json');
      const report = JSON.parse(r.stdout) as { phases: Array<{ phase: string; verdict: string; artifacts: string }> };
      const idle = report.phases.find((x) => x.phase === 'idle')!;
      expect(idle.verdict).not.toBe('differs');
      const obs = JSON.parse(readFileSync(join(idle.artifacts, 'observation.json'), 'utf8')) as Observation;
      const heal = obs.timed?.find((a) => a.name === 'heal');
      expect(heal).toBeDefined();
      expect(obs.marks.healed).toBe(heal!.at);
      // planned 5 s after the phase's t = 0 (the blackhole's own planned moment, the handshake), and
      // performed then: not when a Node timer got round to it
      const armed = obs.timed?.find((a) => a.name.startsWith('arm '));
      expect(armed?.due).toBe(obs.marks.established);
      expect(heal!.due).toBeCloseTo(armed!.due + 5, 6);
      expect(heal!.at - heal!.due).toBeLessThan(heal!.allowedMs !== undefined ? heal!.allowedMs / 1000 : Infinity);
      expect(obs.cannotJudge).toBeUndefined();
    });

    it('--preset kernel-defaults --max-detect idle=10s,busy=30s: idle never detects → over budget, exit 1', RUN, async () => {
      const r = await check('--preset', 'kernel-defaults', '--max-detect', 'idle=10s,busy=30s');
      expect(r.exitCode).toBe(1);
      const rows = tableRows(r.stdout);
      for (const phase of USER_PHASES) expect(rows[phase]![4]).toBe('agrees with the model');
      expect(rows.idle!.slice(1, 4)).toEqual(['never', expect.stringMatching(/^open at \d+\.\d s$/), '—']);
      expect(rows.idle![5]).toBe('10 s: OVER');
      expect(rows.busy![5]).toBe('30 s: ok');
      expect(rows.connect![5]).toBe('—');
      expect(r.stdout).toContain('gate: FAILED — over budget: idle (never > 10 s)');
      expect(r.stdout).toContain('- keepalive is off: a peer that vanishes while the connection is idle is never noticed');
    });
  });

  kernelCases('--middlebox on the kernel (fast profile)', () => {
    // idle alone: its phase holds 3 s (no keepalive: never), the path ≈ 6 s — concurrent, so ≈ 10 s of wall time
    it('--middlebox idle-expiry:4s:reset, no keepalive: the path runs beside the phases — the entry gone at 4 s, the write 1.5 s later gets ECONNRESET, agreeing', RUN, async () => {
      const r = await check('--phases', 'idle', '--middlebox', 'idle-expiry:4s:reset', '--json', '--max-detect', 'idle=1s');
      const j = JSON.parse(r.stdout) as CheckReport;
      const m = j.middlebox!;
      expect(m).toMatchObject({
        basis: 'measured',
        keepsMapping: { kept: 'no' },
        firstWrite: { atS: 5.5, noticeAfterS: 0, errno: 'ECONNRESET' },
        measured: { verdict: 'agrees', why: [], errno: 'ECONNRESET', reachedServer: false },
        budgetS: 1,
        overBudget: false,
      });
      expect(m.notRun).toBeUndefined();
      // observed, not inferred: the router's table lost the entry at the timeout (its reader looks every 10 ms), before the write
      expect(m.measured!.entryGoneAtS).toBeGreaterThan(4 - 0.01);
      expect(m.measured!.entryGoneAtS).toBeLessThan(4.1);
      expect(m.measured!.writeAtS).toBeCloseTo(5.5, 1);
      // the router's RST: one round trip after the write
      expect(m.measured!.noticeAfterS).toBeLessThan(0.05);
      const obs = JSON.parse(readFileSync(join(m.measured!.artifacts, 'observation.json'), 'utf8')) as Observation;
      expect(obs.path!.conntrack.some((s) => !s.present)).toBe(true);
      // the idle phase never detects (no keepalive): over its 1 s budget, so exit 1 — the middlebox's RST is within it
      expect(j.gate.over).toEqual(['idle']);
      expect(r.exitCode).toBe(1);
    });
  });

  // 30 s is a guard, not a tolerance (no time is asserted): these CLI processes start together, and
  // a node start takes seconds while the tools group runs PostgreSQL and the libraries beside them
  // (a soak run once saw five of them pass 10 s)
  describe.concurrent('bad input: one line on stderr, exit 2, nothing left behind', { timeout: 30_000 }, () => {
    it.each([
      [['--preset', 'nope'], /^deadpeer check: --preset: unknown preset "nope"/],
      [['--config', join(ROOT, 'package-lock.json.missing')], /^deadpeer check: --config: cannot read /],
      [['--user-timeout', '-1000'], /^deadpeer check: --user-timeout: "-1000" is not allowed/],
      [['--phases', 'idle,teardown'], /^deadpeer check: --phases: unknown phase "teardown"/],
      [['--user-timeout', 'abc'], /^deadpeer check: --user-timeout: "abc" is not allowed: expected a whole number of ms/],
      [['--max-detect', 'idle=fast'], /^deadpeer check: --max-detect idle: "fast" is not allowed: expected a duration/],
    ])('%j', async (argv, message) => {
      const r = await check(...argv);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(readdirSync(r.results)).toEqual([]);
      expect((await listNamespaces()).filter((n) => n.startsWith(`dp-${r.pid}x`))).toEqual([]);
    });

    it('a malformed YAML config', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'deadpeer-config-'));
      folders.push(dir);
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'keepalive: {idle: 5, interval: [\n');
      const r = await check('--config', file);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^deadpeer check: ${file}: not valid YAML: .+$`));
    });
  });
});
