import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { dir, file } from 'tmp-promise';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';

/** The `deadpeer` command as a user runs it (the compiled bin): bad input → one line, exit 2. */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'main.js'));
const run = (...args: string[]) => execa('node', [BIN, ...args], { reject: false });

// each test starts node processes: a guard of 30 s, not the default 10 s, for a loaded machine
describe.skipIf(!built)('deadpeer CLI input handling', { timeout: 30_000 }, () => {
  it('unknown command: one line naming the commands, exit 2', async () => {
    const r = await run('frobnicate');
    expect(r.exitCode).toBe(2);
    // the list grows as commands are added: check its shape and that it names them
    expect(r.stderr).toMatch(/^deadpeer: unknown command "frobnicate" \(commands: [a-z]+(, [a-z]+)+\)$/);
    for (const c of ['report', 'model', 'show', 'html', 'help']) expect(r.stderr).toContain(c);
  });

  it('help exits 0 and lists the commands', async () => {
    const r = await run('help');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/report .*main job/);
  });

  it('run without a command: one line, exit 2; with one, its exit is ours', async () => {
    const none = await run('run', '--');
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toBe('deadpeer run: no command: deadpeer run -- <command…>, e.g. deadpeer run -- vitest run');
    expect((await run('run', '--', 'sh', '-c', 'exit 7')).exitCode).toBe(7);
  });

  it('report takes no arguments', async () => {
    const r = await run('report', '--fast');
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
  });

  it('show: a missing file and a malformed one each get one line and exit 2', async () => {
    const missing = await run('show', '/nonexistent/observation.json');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toBe('deadpeer show: no such file: /nonexistent/observation.json');
    const f = await file({ postfix: '.json' });
    try {
      writeFileSync(f.path, '{"not": "an observation"');
      const bad = await run('show', f.path);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/^deadpeer show: .* is not an Observation \(invalid JSON/);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await f.cleanup();
    }
  });

  it('html: re-renders a run folder’s report and prints its path; bad input exits 2 with one line', async () => {
    const none = await run('html');
    expect(none.exitCode).toBe(2);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const missing = await run('html', '/nonexistent/run');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^deadpeer html: no such folder/);
    const d = await dir({ unsafeCleanup: true });
    try {
      mkdirSync(join(d.path, 'idle-ipv4'));
      copyFileSync(join(ROOT, 'test', 'fixtures', 'idle-keepalive-on-ipv4.observation.json'), join(d.path, 'idle-ipv4', 'observation.json'));
      const r = await run('html', d.path);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe(join(d.path, 'report.html'));
      expect(readFileSync(join(d.path, 'report.html'), 'utf8')).toContain('<svg ');
    } finally {
      await d.cleanup();
    }
  });

  it('model: an unknown phase and a malformed value exit 2 with one line', async () => {
    const phase = await run('model', 'half-open', '--json');
    expect(phase.exitCode).toBe(2);
    expect(phase.stderr.trim().split('\n')).toHaveLength(1);
    const value = await run('model', 'idle', '--user-timeout', 'abc');
    expect(value.exitCode).toBe(2);
    expect(value.stderr).toMatch(/--user-timeout/);
  });

  it('an option given twice: one line naming it, exit 2, no stack trace', async () => {
    for (const [args, line] of [
      [['check', '--max-detect', '30s', '--max-detect', '10s'], 'deadpeer check: --max-detect is given twice: keep one'],
      [['model', 'busy', '--sysctl', 'tcp_retries2=1', '--sysctl', 'tcp_retries2=2'], 'deadpeer model: --sysctl tcp_retries2 is given twice: keep one'],
      [['kernels', '--out', 'a.md', '--out', 'b.md', '.'], 'deadpeer kernels: --out is given twice: keep one (deadpeer kernels --help for the usage)'],
    ] as const) {
      const r = await run(...args);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe(line);
    }
  });

  it('model: prints one JSON object for the running kernel', async () => {
    const r = await run('model', 'syn-sent', '--json', '--sysctl', 'tcp_syn_retries=3');
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as { phase: string; closeAt: number; errno: string; events: unknown[] };
    expect(j.phase).toBe('syn-sent');
    expect(j.errno).toBe('ETIMEDOUT');
    expect(j.events.length).toBeGreaterThan(3);
  });

  it('a value with a newline or an escape sequence is echoed escaped, a long one cut: one line, exit 2, in every command', async () => {
    const nl = 'x\ny\u001b[2J';
    const cases: string[][] = [
      [nl], // the command itself
      ['model', nl],
      ['model', 'idle', '--kernel', nl],
      ['check', `--${nl}`],
      ['check', '--keepalive', nl],
      ['exec', `--${nl}`],
      ['exec', '--phase', nl, '--', 'x'],
      ['recommend', '--detect', nl],
      ['audit', nl],
      ['audit', '--netns', nl],
      ['audit', '--all', '--max-detect', nl],
      ['show', `/nonexistent/${nl}`],
      ['html', `/nonexistent/${nl}`],
      ['kernels', `/nonexistent/${nl}`],
      ['reap', nl],
      ['setup', nl],
      ['report', nl],
    ];
    for (const argv of cases) {
      const r = await run(...argv);
      expect(r.exitCode, argv.join(' ')).toBe(2);
      const first = r.stderr.split('\n')[0]!;
      expect(first, argv.join(' ')).toContain('x\\ny\\u001b[2J');
      expect(first).not.toMatch(/\u001b/);
      if (argv[0] !== 'kernels') expect(r.stderr.split('\n'), argv.join(' ')).toHaveLength(1); // kernels adds its usage
    }
    const long = await run('model', 'idle', '--peer', 'z'.repeat(100_000));
    expect(long.exitCode).toBe(2);
    expect(long.stderr).toMatch(/^deadpeer model: --peer: "z{79}…" \(100000 characters\) is not allowed: expected alive or gone$/);
  });

  it('a reader that stops reading (deadpeer model … | head) gets no stack trace: EPIPE ends the output quietly', async () => {
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, [BIN, 'model', 'busy'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the reader is gone before the first write
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      expect(err).toBe('');
      expect(code).toBe(0);
    }
  });

  it('html on a folder without cases refuses first and leaves nothing (no report.html), exit 2', async () => {
    const d = await dir({ unsafeCleanup: true });
    try {
      mkdirSync(join(d.path, 'not-a-case'));
      const r = await run('html', d.path);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe(`deadpeer html: no case folders with an observation.json in ${d.path} — give a run folder, e.g. deadpeer-results/<run id>`);
      expect(readdirSync(d.path)).toEqual(['not-a-case']);
    } finally {
      await d.cleanup();
    }
  });
});
