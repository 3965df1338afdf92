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

  it('performs a command at its planned moment on CLOCK_MONOTONIC, and its reply says when it was due', async () => {
    const t0 = (await h.request({ cmd: 'ping' })).t;
    // out of order on purpose: the helper keeps its own queue, earliest first
    const late = h.request({ cmd: 'ping' }, { at: t0 + 0.3 });
    const early = h.request({ cmd: 'ping' }, { at: t0 + 0.15 });
    // while they wait, the helper answers everything else at once
    expect((await h.request({ cmd: 'ping' })).t).toBeLessThan(t0 + 0.1);
    const [a, b] = await Promise.all([early, late]);
    for (const [r, due] of [[a, t0 + 0.15], [b, t0 + 0.3]] as const) {
      expect(r.due).toBeCloseTo(due, 6);
      expect(r.t).toBeGreaterThanOrEqual(due);
      // when its timer woke the helper: at or after the moment, before the reply
      expect(r.began).toBeGreaterThanOrEqual(due);
      expect(r.began).toBeLessThanOrEqual(r.t);
      // a guard against a helper that ignores "at", not the lateness figure (npm run bench prints that)
      expect(r.t - due).toBeLessThan(0.1);
    }
    expect(b.t).toBeGreaterThan(a.t);
  });

  it('a moment already past is performed at once, its reply saying how late', async () => {
    const t0 = (await h.request({ cmd: 'ping' })).t;
    const r = await h.request({ cmd: 'ping' }, { at: t0 - 0.5 });
    expect(r.due).toBeCloseTo(t0 - 0.5, 6);
    expect(r.t - (r.due as number)).toBeGreaterThan(0.45);
  });

  it('unschedule cancels what still waits: each such request fails, saying so', async () => {
    const t0 = (await h.request({ cmd: 'ping' })).t;
    const waiting = h.request({ cmd: 'ping' }, { at: t0 + 30 });
    await h.unschedule();
    await expect(waiting).rejects.toThrow(/cancelled before it was due/);
  });

  it('every reply names its request, a line it cannot parse too: nothing waits for ever', async () => {
    for (const [line, why] of [
      ['{"cmd":"ping","id":9001,"v":nan}', /bad value/],
      ['{"cmd":"ping","id":9002,"v":1e999}', /finite/],
      ['{"cmd":"ping","id":9003,"v":[1]}', /nested/],
      [`{"cmd":"ping","id":9004,"v":"${'x'.repeat(300)}"}`, /bad string value/],
      [`{"cmd":"ping","id":9005,"v":"${'x'.repeat(5000)}"}`, /longer than 4096/],
    ] as const) {
      const e = await h.sendRaw(line);
      expect(e.ev).toBe('error');
      expect(e.re).toBe(Number(line.match(/"id":(\d+)/)![1]));
      expect(String(e.detail)).toMatch(why);
    }
    expect((await h.request({ cmd: 'ping' })).ev).toBe('ok');
  });

  it('refuses ports outside 0..65535 instead of binding them modulo 65536', async () => {
    const s = await h.socket(4);
    await expect(s.bind('127.0.0.1', 70000)).rejects.toThrow(/port must be a whole number 0\.\.65535, not 70000/);
  });

  it('what the helper could not read is refused before it is sent, in one line naming the field', async () => {
    await expect(h.request({ cmd: 'capture', ifname: 'x', pcap: `/${'d'.repeat(300)}/capture.pcap` })).rejects.toThrow(/"pcap" is 31\d bytes long; the helper takes at most 255 \(a shorter results folder: DEADPEER_RESULTS\)/);
    await expect(h.request({ cmd: 'sysctl', name: 'net.ipv4.tcp_syn_retries', value: '3\n4' })).rejects.toThrow(/"value" holds a control character/);
    await expect(h.request({ cmd: 'diag', interval_ms: Number.NaN })).rejects.toThrow(/"interval_ms" is NaN, not a finite number/);
  });

  it('a request that gets no answer fails with a clear error instead of waiting for ever', async () => {
    // a helper that cannot answer (stopped, as a wedged one would be): the guard runs out and says so
    process.kill(h.pid, 'SIGSTOP');
    try {
      await expect(h.request({ cmd: 'ping' }, { timeoutMs: 200 })).rejects.toThrow(/gave no answer to "ping" within 200 ms/);
    } finally {
      process.kill(h.pid, 'SIGCONT');
    }
    expect((await h.request({ cmd: 'ping' })).ev).toBe('ok');
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
