import { existsSync } from 'node:fs';
import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import { kernelCases } from '../harness/vitest/cases.js';
import { Helper, HelperError } from '../harness/helper/client.js';
import { ensureHelper } from '../harness/helper/build.js';
import { vethCommand, wireEndCommand } from '../netns/link.js';
import { uniqueBase } from '../netns/namespace.js';

/**
 * The helper's protocol, without namespaces (so no root needed): it must survive bad input and
 * say what was wrong in one line.
 */
const built = !ensureHelper();

describe.skipIf(!built)('native helper protocol', () => {
  let h: Helper;
  beforeAll(async () => {
    // no --netns: the helper stays where it was started; these commands touch no network
    h = await Helper.start('client', '');
  });
  afterAll(() => h?.stop());

  it('answers a malformed line with an error event naming the problem, and keeps running', async () => {
    const e = await h.sendRaw('{"cmd": "socket", family: 4}');
    expect(e.ev).toBe('error');
    expect(e.error).toBe('malformed command');
    expect(String(e.detail)).toMatch(/bad key/);
    expect((await h.request({ cmd: 'ping' })).ev).toBe('ok');
  });

  it('names an unknown command and lists the known ones', async () => {
    await expect(h.request({ cmd: 'explode' })).rejects.toThrow(/unknown command "explode" \(known: socket, setopt/);
  });

  it('rejects an unknown socket option with a one-line error listing the known ones', async () => {
    const s = await h.socket(4);
    const err = await s.set('TCP_NOPE' as never, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HelperError);
    expect((err as Error).message).toMatch(/unknown socket option "TCP_NOPE" \(known: SO_KEEPALIVE/);
    expect((err as Error).message.split('\n')).toHaveLength(1);
  });

  it('turns a refused setsockopt into an error with the errno name', async () => {
    const s = await h.socket(4);
    await expect(s.set('TCP_KEEPIDLE', 0)).rejects.toThrow(/setsockopt TCP_KEEPIDLE=0: EINVAL/);
  });

  it('reads back what the kernel really holds (TCP_DEFER_ACCEPT is rounded up)', async () => {
    const s = await h.socket(6);
    expect(await s.set('TCP_KEEPIDLE', 5)).toBe(5);
    expect(await s.set('TCP_DEFER_ACCEPT', 5)).toBeGreaterThanOrEqual(5);
  });

  it('reports a missing field by name', async () => {
    await expect(h.request({ cmd: 'socket' })).rejects.toThrow(/missing or non-numeric field "family"/);
    await expect(h.request({ cmd: 'socket', family: 5 })).rejects.toThrow(/family must be 4 or 6/);
  });

  it('snapshots TCP_INFO and the queue sizes', async () => {
    const s = await h.socket(4);
    const info = await s.info();
    expect(info.state).toBe('CLOSE');
    expect(info).toHaveProperty('notsent_bytes');
    expect(info).toHaveProperty('outq', 0);
  });

  it('refuses sysctls outside net.*', async () => {
    await expect(h.sysctl('kernel.hostname', 'x')).rejects.toThrow(/only net\.\* sysctls/);
  });
});

/** The wire's commands one at a time, out of Topology.create's order, so that their waits are what is tested. */
kernelCases('the wire, one end at a time', () => {
  it.skipIf(!built)('an end asked for before its veth exists waits for it, then replies once it carries packets', async () => {
    const base = uniqueBase();
    const [ch, sh] = await Promise.all([Helper.start('client', `${base}-c`, { create: true }), Helper.start('server', `${base}-s`, { create: true })]);
    try {
      const server = sh.request(wireEndCommand('server'));
      await new Promise((r) => setTimeout(r, 100));
      const veth = await ch.request(vethCommand(`${base}-s`));
      await ch.request(wireEndCommand('client'));
      const ready = await server;
      expect(ready.t).toBeGreaterThan(veth.t);
      expect(ready.qdisc).not.toBe('noop');
    } finally {
      await Promise.all([ch.stop(), sh.stop()]);
    }
  });

  it.skipIf(!built)('a helper waiting for an end that never comes gives up when its stdin closes, and removes its namespace', async () => {
    const ns = `${uniqueBase()}-s`;
    const sh = await Helper.start('server', ns, { create: true });
    const waiting = sh.request(wireEndCommand('server')).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    await sh.stop();
    // not killed after stop()'s grace period (which would leave the namespace behind): it answered
    expect(String(await waiting)).toMatch(/dp0 did not appear within \d+ ms \(ECANCELED\)/);
    expect(existsSync(`/run/netns/${ns}`)).toBe(false);
  });
});
