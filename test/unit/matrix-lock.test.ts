import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';

/**
 * matrix/timing-lock.mjs, the helper through which matrix/run.sh holds the machine's timing lock
 * while it boots kernels: it says "held" once it has the lock, keeps it until its stdin closes
 * (the script ended), and a second one waits, saying for whom. On a lock name of its own (the
 * suite running this test holds the real one). Needs the build (dist/), as run.sh does.
 */
const script = join(ROOT, 'matrix', 'timing-lock.mjs');

function holder(name: string, who: string, env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [script, '--name', name, who], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}
const until = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

// node processes holding and waiting for the lock, one with a 2 s DEADPEER_LOCK_WAIT_S: ≈ 3.5 s of work, 8× that
describe("the matrix runner's hold on the timing lock", { timeout: 30_000 }, () => {
  it('held until stdin closes; a second waits and says for whom', async () => {
    const name = `deadpeer-test-matrix-lock-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const first = holder(name, 'the kernel matrix (6.1)');
    await until(() => /^held \d+\n$/.test(first.out()));
    const second = holder(name, 'the kernel matrix (6.12)');
    await until(() => /waiting for the kernel matrix \(6\.1\) \(pid \d+\) to finish/.test(second.err()));
    await new Promise((r) => setTimeout(r, 300));
    expect(second.out()).toBe('');
    first.child.stdin.end(); // the script that started it ended
    expect(await first.exited).toBe(0);
    await until(() => second.out().startsWith('held '));
    second.child.stdin.end();
    expect(await second.exited).toBe(0);
  });

  it('a wait is bounded (DEADPEER_LOCK_WAIT_S): past it, one line naming the holder, exit 2; a malformed value is refused the same way', async () => {
    const name = `deadpeer-test-matrix-lock-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const first = holder(name, 'the kernel matrix (6.1)');
    try {
      await until(() => /^held \d+\n$/.test(first.out()));
      const second = holder(name, 'the kernel matrix (6.12)', { ...process.env, DEADPEER_LOCK_WAIT_S: '1' });
      expect(await second.exited).toBe(2);
      expect(second.out()).toBe('');
      const lines = second.err().trimEnd().split('\n');
      expect(lines.at(-1)).toMatch(
        new RegExp(`^deadpeer matrix: gave up after 1 s waiting for the machine's timing lock: the kernel matrix \\(6\\.1\\) \\(pid ${first.child.pid}\\) still holds it \\(pid ${first.child.pid}, uid \\d+, command ".*timing-lock\\.mjs[^"]*"( \\(\\d+ characters\\))?\\) — let it finish, stop it \\(kill ${first.child.pid}\\), or wait longer: DEADPEER_LOCK_WAIT_S=SECONDS$`),
      );
      const bad = holder(name, 'x', { ...process.env, DEADPEER_LOCK_WAIT_S: 'forever' });
      expect(await bad.exited).toBe(2);
      expect(bad.err()).toMatch(/^deadpeer matrix: DEADPEER_LOCK_WAIT_S="forever" is not allowed: .*\n$/);
    } finally {
      first.child.stdin.end();
      await first.exited;
    }
  });

  it('bad arguments: one line, exit 2', async () => {
    const h = holder('x', '');
    expect(await h.exited).toBe(2);
    expect(h.err()).toMatch(/^deadpeer matrix: usage: .*\n$/);
  });
});
