import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../harness/core/errors.js';
import { TimingLockError, acquireTimingLock, lockWaitS, socketOwner } from '../../harness/suite/timing-lock.js';

/**
 * The machine-wide timing lock, on a name of its own per test (the suite running this test holds
 * the real one). Needs no root: an abstract Unix socket is an ordinary process resource.
 */
const uniqueName = () => `\0deadpeer-test-lock-${process.pid}-${Math.random().toString(36).slice(2)}`;

// each test starts processes that take and ask for the lock, and some wait by design (a squatter is
// asked twice, 1 s then 3 s; DEADPEER_LOCK_WAIT_S of 1–2 s): ≈ 5 s of work at most, 6× that for a loaded machine
describe('one timing run per machine', { timeout: 30_000 }, () => {
  /** Another process holding the lock the way acquireTimingLock does: it answers who it is. Ends when its stdin closes. */
  const otherHolder = async (name: string, what: string) => {
    const code = `const s = require('net').createServer((c) => c.end(${JSON.stringify(what)} + ' (pid ' + process.pid + ')'));
      s.listen({ path: ${JSON.stringify(name)} }, () => console.log('held'));
      process.stdin.on('end', () => s.close(() => process.exit(0))); process.stdin.resume();`;
    const p = execa('node', ['-e', code], { reject: false, buffer: false, stdin: 'pipe' });
    await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
    return { proc: p }; // not p itself: an async function returning a promise would wait for the process to end
  };

  it('a second run waits, says for whom, and gets the lock once the first releases it', async () => {
    const name = uniqueName();
    const { proc: first } = await otherHolder(name, 'the first run');
    const said: string[] = [];
    let second: Awaited<ReturnType<typeof acquireTimingLock>> | undefined;
    const waiting = acquireTimingLock('the second run', (l) => said.push(l), name).then((l) => (second = l));
    await new Promise((r) => setTimeout(r, 600));
    expect(second).toBeUndefined();
    expect(said[0]).toMatch(new RegExp(`waiting for the first run \\(pid ${first.pid}\\) to finish`));
    first.stdin!.end();
    await first;
    await waiting;
    expect(second).toBeDefined();
    await second!.release();
  });

  it('experiments of one process share its hold: the lock is free again only when the last one releases', async () => {
    const name = uniqueName();
    const a = await acquireTimingLock('experiment a', undefined, name);
    const b = await acquireTimingLock('experiment b', undefined, name); // does not wait for a
    const other = () => execa('node', ['-e', `require('net').createServer().listen({ path: ${JSON.stringify(name)} }, function () { this.close(); })`], { reject: false });
    await a.release();
    expect((await other()).exitCode).not.toBe(0); // b still holds it: EADDRINUSE
    await b.release();
    expect((await other()).exitCode).toBe(0);
  });

  it('a holder killed with SIGKILL frees it: the kernel drops its socket, no lock file goes stale', async () => {
    const name = uniqueName();
    // a holder that can be killed: another process binding the same abstract name
    const holder = execa('node', ['-e', `require('net').createServer().listen({ path: ${JSON.stringify(name)} }, () => console.log('held'))`], { reject: false, buffer: false });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    let got = false;
    const waiting = acquireTimingLock('after the kill', undefined, name).then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(got).toBe(false);
    holder.kill('SIGKILL'); // a process this test started, by its pid
    await holder;
    const lock = await waiting;
    expect(got).toBe(true);
    await lock.release();
  });

  it('a waiter that hangs up before the answer does not take the holder down', async () => {
    const name = uniqueName();
    const lock = await acquireTimingLock('the holder', undefined, name);
    // connect and hang up at once, many times: the holder's answer meets a closed socket (EPIPE)
    const { createConnection } = await import('node:net');
    await Promise.all(
      Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
        const c = createConnection({ path: name });
        c.on('connect', () => c.destroy());
        c.on('error', () => resolve());
        c.on('close', () => resolve());
      })),
    );
    await new Promise((r) => setTimeout(r, 100));
    await lock.release(); // still here to release it
  });

  /** A process binding `name` that never says who it is (a squatter), as uid `uid` when given (root only). Ends when its stdin closes. */
  const squatter = async (name: string, uid?: number) => {
    const code = `${uid !== undefined ? `process.setgid(${uid}); process.setuid(${uid});` : ''}
      const s = require('net').createServer((c) => {}); // accepts, answers nothing
      s.listen({ path: ${JSON.stringify(name)} }, () => console.log('held'));
      process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
    const p = execa('node', ['-e', code], { reject: false, buffer: false, stdin: 'pipe' });
    await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
    return { proc: p };
  };
  const withWait = async <T>(value: string | undefined, f: () => Promise<T>): Promise<T> => {
    const before = process.env.DEADPEER_LOCK_WAIT_S;
    if (value === undefined) delete process.env.DEADPEER_LOCK_WAIT_S;
    else process.env.DEADPEER_LOCK_WAIT_S = value;
    try {
      return await f();
    } finally {
      if (before === undefined) delete process.env.DEADPEER_LOCK_WAIT_S;
      else process.env.DEADPEER_LOCK_WAIT_S = before;
    }
  };

  it('the holder is read from the kernel (/proc/net/unix, /proc/<pid>/fd): its pid, uid and command', async () => {
    const name = uniqueName();
    const { proc } = await otherHolder(name, 'a run');
    try {
      const o = socketOwner(name);
      expect(o).toMatchObject({ pid: proc.pid, uid: process.geteuid!() });
      expect(o!.command).toMatch(/node -e /);
    } finally {
      proc.stdin!.end();
      await proc;
    }
    expect(socketOwner(name)).toBeUndefined(); // released: nothing listens on it
  });

  it.runIf(process.geteuid?.() === 0)('a squatter of another uid (binds the name, answers nothing) is named in one line — its uid and pid — not waited for', async () => {
    const name = uniqueName();
    const { proc } = await squatter(name, 65534);
    try {
      const t0 = Date.now();
      const said: string[] = [];
      const err = await acquireTimingLock('root run', (l) => said.push(l), name).then(
        (l) => l.release().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TimingLockError);
      const message = (err as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toMatch(new RegExp(`is held by pid ${proc.pid}, uid 65534, command "node -e .*…" \\(\\d+ characters\\), which does not answer as a deadpeer run — not waiting for it: stop it \\(kill ${proc.pid}\\)`));
      expect(Date.now() - t0).toBeLessThan(8000); // two short questions, not DEADPEER_LOCK_WAIT_S
      expect(said).toEqual([]);
    } finally {
      proc.stdin!.end();
      await proc;
    }
  });

  it.runIf(process.geteuid?.() === 0)('a timing run of another uid (a rootless run: it answers) is waited for, its uid named', async () => {
    const name = uniqueName();
    const code = `process.setgid(65534); process.setuid(65534);
      const s = require('net').createServer((c) => c.end('deadpeer check (rootless, uid 65534) (pid ' + process.pid + ')'));
      s.listen({ path: ${JSON.stringify(name)} }, () => console.log('held'));
      process.stdin.on('end', () => s.close(() => process.exit(0))); process.stdin.resume();`;
    const proc = execa('node', ['-e', code], { reject: false, buffer: false, stdin: 'pipe' });
    await new Promise<void>((resolve) => proc.stdout!.once('data', () => resolve()));
    const said: string[] = [];
    let got: Awaited<ReturnType<typeof acquireTimingLock>> | undefined;
    const waiting = acquireTimingLock('root run', (l) => said.push(l), name).then((l) => (got = l));
    await new Promise((r) => setTimeout(r, 600));
    expect(got).toBeUndefined();
    expect(said[0]).toMatch(new RegExp(`^deadpeer: waiting for deadpeer check \\(rootless, uid 65534\\) \\(pid ${proc.pid}\\) to finish — .*; holder pid ${proc.pid}, uid 65534, command "node -e .*…" \\(\\d+ characters\\); gives up after 30 min \\(DEADPEER_LOCK_WAIT_S\\)$`));
    proc.stdin!.end();
    await proc;
    await waiting;
    await got!.release();
  });

  it('every wait is bounded: past DEADPEER_LOCK_WAIT_S the waiter gives up with one line naming the holder', async () => {
    const name = uniqueName();
    const { proc } = await otherHolder(name, 'a long run');
    try {
      const t0 = Date.now();
      const err = await withWait('1', () => acquireTimingLock('a waiter', undefined, name).then(() => undefined, (e: unknown) => e));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      expect(Date.now() - t0).toBeLessThan(6000);
      expect(err).toBeInstanceOf(TimingLockError);
      const message = (err as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toMatch(
        new RegExp(`^gave up after 1 s waiting for the machine's timing lock: a long run \\(pid ${proc.pid}\\) still holds it \\(pid ${proc.pid}, uid \\d+, command "node -e .*…" \\(\\d+ characters\\)\\) — let it finish, stop it \\(kill ${proc.pid}\\), or wait longer: DEADPEER_LOCK_WAIT_S=SECONDS$`),
      );
      // 0: do not wait at all
      const t1 = Date.now();
      expect(await withWait('0', () => acquireTimingLock('a waiter', undefined, name).then(() => undefined, (e: unknown) => e))).toBeInstanceOf(TimingLockError);
      expect(Date.now() - t1).toBeLessThan(3000);
    } finally {
      proc.stdin!.end();
      await proc;
    }
  });

  it('a silent holder of this same uid is waited for (bounded), named by the kernel', async () => {
    const name = uniqueName();
    const { proc } = await squatter(name);
    try {
      const said: string[] = [];
      const err = await withWait('1', () => acquireTimingLock('a waiter', (l) => said.push(l), name).then(() => undefined, (e: unknown) => e));
      expect(said[0]).toMatch(new RegExp(`^deadpeer: waiting for another timing run to finish — .*; holder pid ${proc.pid}, uid \\d+, command "node -e`));
      expect((err as Error).message).toMatch(/^gave up after 1 s waiting for the machine's timing lock: a process that does not say what it is still holds it/);
    } finally {
      proc.stdin!.end();
      await proc;
    }
  });

  it('what the holder says is escaped and cut: it cannot put lines or escape sequences on the waiter’s terminal', async () => {
    const name = uniqueName();
    const { proc } = await otherHolder(name, `evil\n\u001b[2Jrun ${'x'.repeat(300)}`);
    try {
      const said: string[] = [];
      const err = await withWait('0.5', () => acquireTimingLock('a waiter', (l) => said.push(l), name).then(() => undefined, (e: unknown) => e));
      for (const line of [...said, (err as Error).message]) {
        expect(line).not.toMatch(/[\n\u001b]/);
        expect(line).toContain('evil\\n\\u001b[2Jrun xxx');
        expect(line.length).toBeLessThan(600);
      }
    } finally {
      proc.stdin!.end();
      await proc;
    }
  });

  it('DEADPEER_LOCK_WAIT_S is validated: seconds from 0 to 7 days, else one line (an InputError)', async () => {
    expect(lockWaitS({})).toBe(1800);
    expect(lockWaitS({ DEADPEER_LOCK_WAIT_S: '' })).toBe(1800);
    expect(lockWaitS({ DEADPEER_LOCK_WAIT_S: '0' })).toBe(0);
    expect(lockWaitS({ DEADPEER_LOCK_WAIT_S: '90.5' })).toBe(90.5);
    for (const bad of ['-1', 'abc', '1e3', '30m', ' 5', '604801', 'Infinity', 'NaN', '5\nrm -rf /']) {
      expect(() => lockWaitS({ DEADPEER_LOCK_WAIT_S: bad })).toThrow(InputError);
      try {
        lockWaitS({ DEADPEER_LOCK_WAIT_S: bad });
      } catch (e) {
        expect((e as Error).message).toMatch(/^DEADPEER_LOCK_WAIT_S=".*" is not allowed: the longest wait for another run's timing lock, in seconds from 0 \(do not wait\) to 604800 \(7 days\); unset it for the default 1800$/);
      }
    }
    // before anything is taken: a free lock is not taken with a bad value either
    const name = uniqueName();
    await expect(withWait('soon', () => acquireTimingLock('x', undefined, name))).rejects.toThrow(InputError);
    const l = await acquireTimingLock('x', undefined, name); // still free
    await l.release();
  });
});
