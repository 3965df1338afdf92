import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import type { AppReport } from '../harness/apps/exec/run.js';
import { kernelCases, timeoutFor } from '../harness/vitest/cases.js';
import { ROOT } from '../harness/core/paths.js';
import { pgMissing, pgServerCommand, pgTemplate } from '../bench/postgres.js';
import { REDIS_SERVER, redisMissing } from '../bench/redis.js';

/**
 * The libraries of docs/CLIENTS.md against their real servers (issue 21), the idle rows: a pooled
 * connection, quiet, when the server vanishes. Where the library's options turn keepalive on with
 * a short delay (pg keepAliveInitialDelayMillis, ioredis keepAlive: 2000 → 2/1/10), the kernel
 * aborts at ≈ 12 s and the library surfaces it within 1 s, with the errno; where they do not (pg's
 * defaults: no keepalive; ioredis's: a 30 s delay), nothing happens within the watch. The library
 * clients are examples/libs/*.mjs; pg, ioredis are dev dependencies (npm ci).
 * Root and rootless (PostgreSQL runs as a mapped user there, bench/postgres.ts).
 */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'exec.js'));
const libs = existsSync(join(ROOT, 'node_modules', 'pg')) && existsSync(join(ROOT, 'node_modules', 'ioredis'));
const folders: string[] = [];
afterAll(() => folders.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  folders.push(d);
  return d;
};

async function execLib(server: string, file: string, config: string, watchS: number): Promise<AppReport> {
  const results = tmp('deadpeer-libs-');
  const r = await execa('node', [BIN, 'exec', '--phase', 'idle', '--timeout', `${watchS}s`, '--server', server, '--json', '--', 'node', join('examples', 'libs', file), 'idle', config], {
    reject: false,
    cwd: ROOT,
    env: { DEADPEER_RESULTS: results },
  });
  if (!r.stdout) throw new Error(`exec printed no report: ${r.stderr}`);
  return JSON.parse(r.stdout) as AppReport;
}

let pgDir: string | undefined;
const pgServer = (name: string) => {
  if (!pgDir) {
    pgDir = tmp('deadpeer-libs-pg-');
    chmodSync(pgDir, 0o755); // PostgreSQL runs as postgres (root) and must reach its copy
  }
  return pgServerCommand(pgTemplate(pgDir), join(pgDir, name));
};

/** keepalive 2/1/10 from the library's own option: the kernel aborts per keepalive, the library errors within 1 s of it. */
function expectNoticedWithinASecond(r: AppReport, preset: string, how: RegExp): void {
  expect(r.problems, story(r)).toEqual([]);
  expect(r.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 10, TCP_USER_TIMEOUT: 0 });
  expect(r.presets).toContain(preset);
  expect(r.prediction!.closeAt).toBe(2 + 10 * 1);
  expect(r.t.kernelAbort, story(r)).toBeDefined();
  expect(r.unnoticed).toBe(false);
  // the library's own report is what the row asks for; ioredis closes its socket just before it
  // emits 'error', so exec's 20 ms poll may see the descriptor go first: either sign may lead, the
  // line is judged by its own time
  expect(['output', 'fd closed']).toContain(r.app.noticedBy);
  const said = r.app.output.find((l) => l.t >= r.t.fault! && how.test(l.text));
  expect(said?.text, story(r)).toMatch(/ETIMEDOUT/);
  expect(r.app.errno).toBe('ETIMEDOUT');
  // the program stamps its own lines on CLOCK_MONOTONIC (examples/libs/report.mjs): when the library
  // spoke, not when exec got round to reading it
  const spokeAt = Number(/\[mono ([\d.]+)\]/.exec(said!.text)?.[1] ?? said!.t);
  expect(Math.abs(spokeAt - r.t.kernelAbort!), story(r)).toBeLessThanOrEqual(1);
}

/** What a failed assertion prints: the run's times (from t = 0), its verdict and the program's last lines. */
const story = (r: AppReport) => {
  const at = (t: number | undefined) => (t === undefined || r.t.origin === undefined ? t : +(t - r.t.origin).toFixed(3));
  return JSON.stringify({ t: Object.fromEntries(Object.entries(r.t).map(([k, v]) => [k, at(v)])), problems: r.problems, connection: r.connection, output: r.app.output.slice(-12).map((l) => `${at(l.t)} ${l.text}`) });
};

/** options that do not ask for an early abort: no abort, nothing surfaced, within the watch. */
function expectNothingWithin(r: AppReport): void {
  expect(r.problems).toEqual([]);
  expect(r.t.kernelAbort).toBeUndefined();
  expect(r.app.noticedLine).toBeUndefined();
  expect(r.app.output.filter((l) => l.t >= r.t.fault! && /error/.test(l.text))).toEqual([]);
}

kernelCases('libraries against their real servers: the idle rows of docs/CLIENTS.md', () => {
  const pgSkip = !built || !libs || !!pgMissing();
  const redisSkip = !built || !libs || !!redisMissing();

  it.skipIf(pgSkip)('pg Pool, keepAlive: true, keepAliveInitialDelayMillis: 2000: abort at ≈ 12 s, the pool\'s \'error\' event within 1 s of it, ETIMEDOUT', { timeout: timeoutFor(20) }, async () => {
    expectNoticedWithinASecond(await execLib(pgServer('ka'), 'pg.mjs', 'keepalive-2s', 18), 'pg', /pool 'error' event, idle client/);
  });

  it.skipIf(pgSkip)('pg Pool, defaults: a plain socket, no abort and nothing from the pool within 15 s', { timeout: timeoutFor(20) }, async () => {
    const r = await execLib(pgServer('defaults'), 'pg.mjs', 'defaults', 15);
    expect(r.options).toMatchObject({ SO_KEEPALIVE: 0, TCP_USER_TIMEOUT: 0 });
    expectNothingWithin(r);
  });

  it.skipIf(redisSkip)('ioredis, keepAlive: 2000: abort at ≈ 12 s, its \'error\' event within 1 s of it, ETIMEDOUT', { timeout: timeoutFor(20) }, async () => {
    expectNoticedWithinASecond(await execLib(REDIS_SERVER, 'ioredis.mjs', 'keepalive-2s', 18), 'ioredis', /'error' event/);
  });

  it.skipIf(redisSkip)('ioredis, defaults: keepalive 30/1/10 (keepAlive 30000), no abort and no error within 15 s', { timeout: timeoutFor(20) }, async () => {
    const r = await execLib(REDIS_SERVER, 'ioredis.mjs', 'defaults', 15);
    expect(r.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 30, TCP_USER_TIMEOUT: 0 });
    expectNothingWithin(r);
  });
});
