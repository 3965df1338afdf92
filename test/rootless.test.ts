import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from '../harness/core/paths.js';
import { helperPath } from '../harness/helper/build.js';
import { kernelCases } from '../harness/vitest/cases.js';
import { inUserNamespace } from '../netns/userns.js';

/**
 * Rootless mode from the outside: a normal user's deadpeer, refused a user namespace, says so in
 * one line; it waits for a root run's timing lock; it runs where the host has no /run/netns. The
 * "normal user" is uid 65534 of a user namespace made for the test (`unshare --map-user`): it is
 * not root to deadpeer, yet keeps this run's own access to the checkout, so the tests hold
 * whoever owns it and in rootless mode too (there, inside the run's own user namespace).
 */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'main.js'));
const rootless = inUserNamespace();
const folders: string[] = [];
afterAll(() => folders.forEach((d) => rmSync(d, { recursive: true, force: true })));
const asNormalUser = ['unshare', '--user', '--map-user=65534', '--map-group=65534'];

kernelCases('rootless mode, as a normal user sees it', () => {
  it.runIf(built)('user namespaces refused (user.max_user_namespaces = 0 where it runs): one line naming the setting and the fix, exit 2, nothing made', { timeout: 30_000 }, async () => {
    const results = mkdtempSync(join(tmpdir(), 'deadpeer-refused-'));
    folders.push(results);
    // its own namespace's limit set to 0 (keep-caps: by the namespace's creator), then no capability left
    const script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --inh-caps=-all --ambient-caps=-all -- "$@"';
    const r = await execa(...cmd([...asNormalUser, '--keep-caps', '--', 'sh', '-c', script, 'sh', process.execPath, BIN, 'check', '--preset', 'reference']), {
      reject: false,
      env: { DEADPEER_RESULTS: results },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^deadpeer check: unprivileged user namespaces are refused here \(unshare failed: No space left on device\): user\.max_user_namespaces = 0 — as root: sysctl -w user\.max_user_namespaces=15000 \(or run deadpeer as root\)$/,
    );
    expect(readdirSync(results)).toEqual([]);
  });

  it.runIf(built && !rootless)('a normal user’s run waits for a root run’s timing lock: one abstract socket in the host’s network namespace', { timeout: 30_000 }, async () => {
    // this suite holds the lock (its global setup, or its parent's); a run that did not inherit it must wait
    const { DEADPEER_TIMING_LOCK: _held, ...env } = process.env;
    const sub = execa(...cmd([...asNormalUser, '--', process.execPath, BIN, 'run', '--', 'true']), { reject: false, env, extendEnv: false, buffer: false });
    const said = await new Promise<string>((resolve) => {
      let err = '';
      sub.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/\n/.test(err)) resolve(err);
      });
      void sub.then(() => resolve(err));
    });
    sub.kill('SIGTERM'); // by its pid: the wrapper this test started, still waiting
    await sub;
    // the holder: this suite, or whatever started it under its hold (npm run bench, deadpeer report)
    expect(said).toMatch(/^deadpeer: waiting for .+ \(pid \d+\) to finish — one timing run per machine/);
  });

  it.runIf(built && !rootless)('a host without /run/netns: the run has a /run of its own, the host’s entries bound back in, and its namespaces work', { timeout: 30_000 }, async () => {
    // the host as seen from a private mount namespace: a /run with an entry or two, and no netns/
    const inside = `test -e /run/dp-marker && test -d /run/dp-dir && test -d /run/netns && printf '{"cmd":"ping","id":1}\\n' | ${helperPath()} --create-netns dp-${process.pid}x0-1-c`;
    const host = `mount -t tmpfs dp-sim /run && touch /run/dp-marker && mkdir /run/dp-dir && exec "$@"`;
    const r = await execa(...cmd(['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', host, 'sh', ...asNormalUser, '--', process.execPath, BIN, 'run', '--', 'sh', '-c', inside]), {
      reject: false,
    });
    expect(r.stderr).toMatch(/^deadpeer: rootless \(uid 65534\), in a user namespace of its own: the helpers run without SCHED_FIFO and the model's times are the ideal ones .*\n?$/);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/"ev":"hello".*"rt":false,"rt_off":"EPERM"\}\n\{"ev":"ok"/s);
  });
});

function cmd(argv: string[]): [string, string[]] {
  return [argv[0]!, argv.slice(1)];
}
