import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { acquireTimingLock } from '../../harness/suite/timing-lock.js';

/**
 * The machine-wide timing lock, on a name of its own per test (the suite running this test holds
 * the real one). Needs no root: an abstract Unix socket is an ordinary process resource.
 */
const uniqueName = () => `\0deadpeer-test-lock-${process.pid}-${Math.random().toString(36).slice(2)}`;

describe('one timing run per machine', () => {
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
});
