import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { acquireTimingLock } from '../../harness/suite/timing-lock.js';

/**
 * The machine-wide timing lock, on a name of its own per test (the suite running this test holds
 * the real one). Needs no root: an abstract Unix socket is an ordinary process resource.
 */
const uniqueName = () => `\0deadpeer-test-lock-${process.pid}-${Math.random().toString(36).slice(2)}`;

describe('one timing run per machine', () => {
  it('a second run waits, says for whom, and gets the lock once the first releases it', async () => {
    const name = uniqueName();
    const first = await acquireTimingLock('the first run', undefined, name);
    const said: string[] = [];
    let second: Awaited<ReturnType<typeof acquireTimingLock>> | undefined;
    const waiting = acquireTimingLock('the second run', (l) => said.push(l), name).then((l) => (second = l));
    await new Promise((r) => setTimeout(r, 600));
    expect(second).toBeUndefined();
    expect(said[0]).toMatch(new RegExp(`waiting for the first run \\(pid ${process.pid}\\) to finish`));
    await first.release();
    await waiting;
    expect(second).toBeDefined();
    await second!.release();
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
});
