import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { kernelCases } from '../harness/vitest/cases.js';
import { ROOT } from '../harness/core/paths.js';
import { vethInHost } from '../netns/link.js';
import { listNamespaces } from '../netns/namespace.js';
import { reapStale } from '../netns/reaper.js';



/**
 * A run interrupted mid-case (SIGINT/SIGTERM) releases its topology itself; a run killed with
 * SIGKILL cannot, so the next run's reaper must. Each test drives a real child process holding a
 * real topology (test/fixtures/hold-scenario.mjs, on the compiled harness).
 */
const FIXTURE = `${ROOT}/test/fixtures/hold-scenario.mjs`;
const built = existsSync(`${ROOT}/dist/harness/engine/scenario.js`);

async function startHolding() {
  const child = execa('node', [FIXTURE], { cwd: ROOT, reject: false, buffer: false });
  const ready = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) resolve(out);
    });
    void child.then((r) => reject(new Error(`fixture exited early (${r.exitCode}): ${String(r.stderr ?? '')}`)));
  });
  const [, c, s] = /READY (\d+) (\d+)/.exec(ready)!;
  return { child, pid: child.pid!, helpers: [Number(c), Number(s)] };
}

const namespacesOf = async (pid: number) => (await listNamespaces()).filter((n) => n.startsWith(`dp-${pid}x`));
const alive = (pid: number) => existsSync(`/proc/${pid}`);
const settle = async (cond: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

kernelCases('cleanup when the run is interrupted or killed', () => {
  it.skipIf(!built)('SIGINT mid-case: the run releases its namespaces and helpers before it exits', { timeout: 20_000 }, async () => {
    const { child, pid, helpers } = await startHolding();
    expect(await namespacesOf(pid)).toHaveLength(2);
    child.kill('SIGINT');
    const r = await child;
    expect(r.signal).toBe('SIGINT'); // it still dies of the signal, after cleaning up
    expect(await namespacesOf(pid)).toEqual([]);
    expect(vethInHost()).toBe(false);
    await settle(() => helpers.every((h) => !alive(h)));
    expect(helpers.filter(alive)).toEqual([]);
  });

  it.skipIf(!built)('SIGKILL of the run: its helpers see their stdin close, remove their namespaces and exit', { timeout: 20_000 }, async () => {
    const { child, pid, helpers } = await startHolding();
    child.kill('SIGKILL');
    await child;
    await settle(async () => helpers.every((h) => !alive(h)) && (await namespacesOf(pid)).length === 0);
    expect(helpers.filter(alive)).toEqual([]);
    expect(await namespacesOf(pid)).toEqual([]);
    expect(vethInHost()).toBe(false);
  });

  it.skipIf(!built)('SIGKILL of the run and its helpers: nothing can clean up, the next run reaps the namespaces', { timeout: 20_000 }, async () => {
    const { child, pid, helpers } = await startHolding();
    // the helpers are processes this test started (through the fixture): ended by pid, nothing else
    for (const h of helpers) process.kill(h, 'SIGKILL');
    child.kill('SIGKILL');
    await child;
    await settle(() => helpers.every((h) => !alive(h)));
    expect(await namespacesOf(pid)).toHaveLength(2);
    // the reaper (run by every suite's global setup and by `deadpeer reap`) removes them; here
    // limited to this dead run, so that a second suite running at once keeps its own evidence
    const reaped = await reapStale({ ownerPid: pid });
    expect(reaped.filter((n) => n.startsWith(`dp-${pid}x`))).toHaveLength(2);
    expect(await namespacesOf(pid)).toEqual([]);
    expect(vethInHost()).toBe(false);
  });
});
