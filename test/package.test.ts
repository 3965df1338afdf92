import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../harness/core/paths.js';
import { kernelCases } from '../harness/vitest/cases.js';
import { consumerLock, type Lockfile } from './fixtures/consumer-lock.js';

/**
 * deadpeer as another team uses it: `npm pack`, a fresh project outside the checkout, the tarball
 * installed offline (the tarball and the local npm cache only), a TypeScript test written as a user
 * would — the README's example, against a small client of that project — run by that project's own
 * vitest, its types checked by that project's tsc, and `npx deadpeer check` from there. Internals
 * must not be importable. The project's vitest inherits this suite's timing lock (one timing run).
 */
const FIXTURE = join(ROOT, 'test', 'fixtures', 'consumer');
const DEV_TOOLS = ['vitest', 'typescript', '@types/node'];
let project = '';
let packDir = '';

/** In the project, as its own developer would run it: where results go is deadpeer's default, not this suite's. */
const run = (cmd: string, args: string[], timeout = 120_000) => {
  const { DEADPEER_RESULTS: _ours, ...env } = process.env;
  return execa(cmd, args, { cwd: project, reject: false, timeout, env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_update_notifier: 'false' }, extendEnv: false });
};

beforeAll(async () => {
  packDir = mkdtempSync(join(tmpdir(), 'deadpeer-pack-'));
  project = mkdtempSync(join(tmpdir(), 'our-service-'));
  // the build is setup.sh's (npm run build): pack what it built, without running it again
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT });
  const file = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename;
  copyFileSync(join(packDir, file), join(project, file));
  const tgz = readFileSync(join(project, file));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const { lock, devDependencies } = consumerLock(
    JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile,
    { pkg, tarball: file, integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}` },
    DEV_TOOLS,
    'our-service',
  );
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'our-service', private: true, type: 'module', dependencies: { deadpeer: `file:${file}` }, devDependencies }, null, 2));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock, null, 2));
  for (const f of ['client.js', 'client.test.ts', 'vitest.config.ts', 'tsconfig.json']) copyFileSync(join(FIXTURE, f), join(project, f));
}, 60_000);

afterAll(() => {
  for (const d of [project, packDir]) if (d) rmSync(d, { recursive: true, force: true });
});

kernelCases('deadpeer installed into a fresh project', () => {
  let installed: Promise<{ exitCode?: number; stderr: string }>;
  const install = () => (installed ??= run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']));

  it('installs offline from the tarball and the local npm cache', { timeout: 120_000 }, async () => {
    const r = await install();
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it("the user's test runs with the project's own vitest and passes", { timeout: 180_000 }, async () => {
    await install();
    const r = await run('npx', ['vitest', 'run', '--reporter=verbose'], 170_000);
    process.stdout.write(`\n--- our-service: npx vitest run ---\n${r.stdout}\n`);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ client\.test\.ts > our client notices a vanished database within 20 s/);
  });

  it("the project's tsc accepts the user's test and refuses a misuse: the API and the matchers are typed", { timeout: 120_000 }, async () => {
    await install();
    // one tsc over the project and a misuse beside it: the errors must be exactly the misuse's two
    const dir = join(project, 'misuse');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', include: ['../*.ts', '*.ts'] }));
    writeFileSync(
      join(dir, 'misuse.ts'),
      "import { exec } from 'deadpeer';\nimport 'deadpeer/vitest';\nconst r = await exec({ phase: 'lunch', command: ['node'] });\nexpect(r).toNoticeWithin(true);\n",
    );
    const r = await run('npx', ['tsc', '--noEmit', '-p', 'misuse']);
    const errors = String(r.stdout).split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^misuse\/misuse\.ts\(3,.*'"lunch"' is not assignable/);
    expect(errors[1]).toMatch(/^misuse\/misuse\.ts\(4,.*'boolean' is not assignable/);
  });

  it('internal modules cannot be imported from outside; the public entry points can', { timeout: 60_000 }, async () => {
    await install();
    const load = (spec: string) => run('node', ['--input-type=module', '-e', `await import(${JSON.stringify(spec)})`]);
    for (const internal of ['deadpeer/dist/harness/engine/topology.js', 'deadpeer/harness/engine/topology', 'deadpeer/dist/cli/main.js']) {
      const r = await load(internal);
      expect(r.exitCode, internal).not.toBe(0);
      expect(r.stderr, internal).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    }
    expect((await load('deadpeer')).exitCode).toBe(0);
  });

  it('npx deadpeer check --preset reference works from there', { timeout: 120_000 }, async () => {
    await install();
    const r = await run('npx', ['deadpeer', 'check', '--preset', 'reference', '--json'], 110_000);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.phases.map((p: { verdict: string }) => p.verdict)).toEqual(['agrees', 'agrees', 'agrees', 'agrees']);
    // results go under the project, never into node_modules
    expect(report.artifacts.startsWith(join(project, 'deadpeer-results'))).toBe(true);
  });
});
