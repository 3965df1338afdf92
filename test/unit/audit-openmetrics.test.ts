import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { audited, FIXTURE } from './audit-fixture.js';
import { escapeLabel, renderOpenMetrics, sampleValue } from '../../harness/apps/audit/openmetrics.js';
import { ROOT } from '../../harness/core/paths.js';

/**
 * `deadpeer audit --openmetrics` from the recorded reader output: names, units, escaping, +Inf,
 * bounded labels — and the exposition as Prometheus' own promtool reads it (`check metrics`), with
 * the example alert rules of docs/audit checked (`check rules`) and exercised (`test rules`).
 * promtool is Debian's `prometheus` package (setup.sh installs it): missing in CI is a failure.
 */
const INFO = { version: '0.1.0', nowS: 1_765_000_000.25, durationS: 0.042 };
const report = (lines: readonly string[] = FIXTURE) => audited({ output: 'openmetrics' }, lines);

const samples = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));

describe('deadpeer audit --openmetrics', () => {
  const text = renderOpenMetrics(report(), INFO);

  it('every family has HELP and TYPE (gauge; UNIT where it has one), and the exposition ends in # EOF', () => {
    expect(text.endsWith('# EOF\n')).toBe(true);
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(families).toEqual([
      ['deadpeer_audit_detection_seconds', 'gauge'],
      ['deadpeer_audit_connections', 'gauge'],
      ['deadpeer_audit_verdict_connections', 'gauge'],
      ['deadpeer_audit_denied_processes', 'gauge'],
      ['deadpeer_audit_build_info', 'gauge'],
      ['deadpeer_audit_last_run_timestamp_seconds', 'gauge'],
      ['deadpeer_audit_duration_seconds', 'gauge'],
    ]);
    for (const [name] of families) expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    expect([...text.matchAll(/^# UNIT (\S+) seconds$/gm)].map((m) => m[1])).toEqual(['deadpeer_audit_detection_seconds', 'deadpeer_audit_last_run_timestamp_seconds', 'deadpeer_audit_duration_seconds']);
  });

  it('per group and phase, the latest detection: +Inf for never; the group is the service, never a pid, fd or ephemeral port', () => {
    expect(text).toContain('deadpeer_audit_detection_seconds{program="node",direction="outbound",remote_address="198.18.0.2",remote_port="5432",phase="idle"} +Inf');
    // the latest the kernel may notice: the close window's late end
    const app = report().connections.find((c) => c.program === 'app')!.phases.idle as { closeAt: number; closeWindow: [number, number] };
    expect(app.closeAt).toBe(14);
    expect(text).toContain(`deadpeer_audit_detection_seconds{program="app",direction="outbound",remote_address="198.18.0.2",remote_port="4242",phase="idle"} ${sampleValue(app.closeWindow[1])}`);
    expect(text).toContain('deadpeer_audit_connections{program="postgres",direction="inbound",local_port="5432",verdict="notices"} 2');
    expect(text).toContain('deadpeer_audit_connections{program="node",direction="outbound",remote_address="198.18.0.2",remote_port="5432",verdict="never"} 3');
    const labels = new Set(samples(text).flatMap((l) => [...l.matchAll(/([a-z_]+)="/g)].map((m) => m[1])));
    expect([...labels].sort()).toEqual(['direction', 'kernel', 'local_port', 'phase', 'program', 'remote_address', 'remote_port', 'verdict', 'version']);
    // the unreadable sshd has no detection series: no answer is guessed
    expect(text).not.toMatch(/detection_seconds\{program="sshd"/);
    expect(text).toContain('deadpeer_audit_verdict_connections{verdict="unreadable"} 1');
  });

  it('a thousand connections of one group are as many series as one', () => {
    const node = FIXTURE.filter((l) => l.includes('"pid":913,"fd"'));
    const many = Array.from({ length: 1000 }, (_, i) => node[0]!.replace('"fd":20', `"fd":${100 + i}`).replace('"sport":41000', `"sport":${33000 + i}`).replace('"inode":7000', `"inode":${90000 + i}`));
    const big = renderOpenMetrics(report([...FIXTURE.slice(0, -2), ...many, ...FIXTURE.slice(-2)]), INFO);
    expect(samples(big)).toHaveLength(samples(text).length);
    expect(big).toContain('deadpeer_audit_connections{program="node",direction="outbound",remote_address="198.18.0.2",remote_port="5432",verdict="never"} 1003');
  });

  it('label values escaped as the format says: a comm may hold a quote, a backslash, a line feed', () => {
    expect(escapeLabel('we"ird\\na\nme')).toBe('we\\"ird\\\\na\\nme');
    expect(text).toContain('program="we\\"ird\\\\na\\nme"');
    expect(samples(text).every((l) => /^[a-z_]+(\{.*\})? \S+$/.test(l))).toBe(true);
    expect([Infinity, 14.25, 3, 948.2679999999999, 1_765_000_000.25].map(sampleValue)).toEqual(['+Inf', '14.25', '3', '948.268', '1765000000.25']);
  });

  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  // in CI a missing promtool is a failure, not a skip: setup.sh installs it
  const skip = !promtool && process.env.CI !== 'true';
  describe.skipIf(skip)(`promtool${skip ? ' — skipped: promtool is not installed (Debian package prometheus; setup.sh installs it)' : ''}`, () => {
    const run = (args: string[], input?: string) => {
      if (!promtool) throw new Error('promtool is not installed (Debian package prometheus): setup.sh installs it, and CI must have it');
      return spawnSync(promtool, args, { input, encoding: 'utf8', cwd: join(ROOT, 'docs', 'audit') });
    };

    it('promtool check metrics takes the exposition without a word', () => {
      const r = run(['check', 'metrics'], text);
      expect(r.stderr + r.stdout).toBe('');
      expect(r.status).toBe(0);
    });

    it('… and says so when it is broken (the check can fail)', () => {
      const r = run(['check', 'metrics'], text.replace('program="node"', 'program="no"de"'));
      expect(r.status).not.toBe(0);
    });

    it('the example alert rules: promtool check rules, and promtool test rules fires them on what they are for', () => {
      const check = run(['check', 'rules', 'deadpeer-alerts.yml']);
      expect(check.stdout).toMatch(/SUCCESS: 4 rules found/);
      expect(check.status).toBe(0);
      const test = run(['test', 'rules', 'deadpeer-alerts.test.yml']);
      expect(test.stdout + test.stderr).toMatch(/SUCCESS/);
      expect(test.status).toBe(0);
    });
  });
});
