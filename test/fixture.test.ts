import { existsSync } from 'node:fs';
import { afterAll, expect } from 'vitest';
import { kernelCases } from '../harness/vitest/cases.js';
import { test } from '../harness/vitest/fixture.js';
import type { PeerProgram } from '../harness/engine/peer.js';

/**
 * The vanishing-peer fixture of deadpeer/vitest: a test that asks for `peer` gets its own pair of
 * namespaces with a server, starts its program there, makes the server vanish when it chooses, and
 * leaves nothing behind however it ends — here a passing test and a failing one.
 */
const made: string[] = [];
const programs: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function line(p: PeerProgram, re: RegExp, timeoutS: number): Promise<number> {
  for (const deadline = Date.now() + timeoutS * 1000; Date.now() < deadline; await sleep(20)) {
    const l = p.lines.find((x) => re.test(x.text));
    if (l) return l.t;
  }
  throw new Error(`the program printed nothing matching ${re} within ${timeoutS} s: ${JSON.stringify(p.lines.map((l) => l.text))}`);
}

afterAll(() => {
  // every namespace a peer made here is gone once the tests (and their fixtures' teardown) are over
  expect(made.length).toBe(4);
  expect(made.filter((n) => existsSync(`/run/netns/${n}`))).toEqual([]);
  // and so is every program it started (the process group: `ip netns exec` and what it ran)
  expect(programs.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
});

kernelCases('the vanishing-peer fixture', () => {
  test('a test gets its own peer: the program connects, the peer vanishes, the kernel aborts and the program hears ETIMEDOUT', { timeout: 60_000 }, async ({ peer }) => {
    made.push(peer.topo.client.netns, peer.topo.server.netns);
    const program = peer.spawn(['node', 'examples/node-client.mjs', 'idle']);
    const conn = await peer.connection(15, () => program.exit !== undefined);
    expect(conn).toMatchObject({ family: 4, dst: peer.host, dport: peer.port });
    await line(program, /^connected from/, 10);
    const vanished = await peer.vanish('blackhole');
    // Node's setKeepAlive(true, 5000): probes from 5 s, every 1 s, 10 of them → about 15 s
    const heard = await line(program, /ETIMEDOUT/, 30);
    const aborted = await peer.whenAborted(conn!, vanished);
    expect(aborted).toBeGreaterThan(vanished + 14);
    expect(heard).toBeGreaterThanOrEqual(aborted - 0.02); // sock_diag is polled every 5 ms
  });

  test.fails('a failing test still releases its peer (this one fails on purpose)', { timeout: 30_000 }, async ({ peer }) => {
    made.push(peer.topo.client.netns, peer.topo.server.netns);
    programs.push(peer.spawn(['sleep', '60']).pid); // a program that would outlive the test if nobody ended it
    expect(peer.address).toBe('not the address');
  });
});
