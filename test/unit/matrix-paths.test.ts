import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';

/**
 * The kernel matrix's path handling, without booting: `matrix/run.sh --plan` prints, per kernel,
 * the host folders shared with the guest and where the guest mounts them, QEMU's arguments and
 * the job file. The runner is copied into throw-away checkouts where a new user's clone or a CI
 * workspace would be — under /tmp (which the guest covers with its own tmpfs), under a path with
 * spaces and a comma, behind a symlink — and what it would hand QEMU and the guest is checked.
 */
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A checkout of just the runner (all --plan needs) at `dir`. */
function checkout(dir: string): string {
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'matrix'), join(dir, 'matrix'), { recursive: true });
  return dir;
}
function tmp(prefix: string): string {
  const d = mkdtempSync(prefix);
  made.push(d);
  return d;
}

interface Plan {
  fields: Record<string, string>;
  shares: { tag: string; host: string; guest: string; mode: string }[];
  qemu: string[];
  job: string[];
  apt: string[];
}
function plan(script: string, args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync('bash', [script, '--plan', ...args], {
    encoding: 'utf8',
    // a PATH that names none of the throw-away folders, so their paths can only reach the job file through the runner
    env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', DEADPEER_DEBIAN_MIRROR: 'http://mirror.invalid/debian', ...env },
  });
  const p: Plan = { fields: {}, shares: [], qemu: [], job: [], apt: [] };
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [kind, ...rest] = line.split('\t');
    if (kind === 'share') p.shares.push({ tag: rest[0], host: rest[1], guest: rest[2], mode: rest[3] });
    else if (kind === 'qemu') p.qemu.push(rest.join('\t'));
    else if (kind === 'job') p.job.push(rest.join('\t'));
    else if (kind === 'apt') p.apt.push(rest.join('\t'));
    else p.fields[kind] = rest.join('\t');
  }
  return { ...r, plan: p };
}

/** The folders guest.sh covers with a tmpfs, read from guest.sh itself. */
const tmpfsMounts = [...readFileSync(join(ROOT, 'matrix', 'guest.sh'), 'utf8').matchAll(/^mount -t tmpfs .* (\/\S+)$/gm)].map((m) => m[1]);
const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** Source the job file in bash and print the named variables, one per line. */
function sourced(job: string[], names: string[]): string[] {
  const r = spawnSync('bash', ['-c', `eval "$1"; for v in ${names.join(' ')}; do printf '%s\\n' "\${!v}"; done; printf '%s\\n' "\${DP_CASES[@]}"`, 'x', job.join('\n')], { encoding: 'utf8' });
  return r.stdout.split('\n').slice(0, -1);
}

function expectFixedGuestPaths(p: Plan, root: string) {
  expect(tmpfsMounts).toEqual(expect.arrayContaining(['/tmp', '/run']));
  const src = p.shares.find((s) => s.tag === 'dpsrc')!;
  expect(src).toEqual({ tag: 'dpsrc', host: join(root, 'deadpeer-results/matrix/.checkout'), guest: '/deadpeer-src', mode: 'ro' });
  expect(p.shares.map((s) => s.tag)).toEqual(['hostroot', 'dpsrc', 'dpmodules', 'dpkernel', 'dpout']);
  expect(p.shares.find((s) => s.tag === 'dpout')!.host).toBe(join(root, 'deadpeer-results/matrix/6.1'));
  expect(p.shares.find((s) => s.tag === 'dpmodules')!.host).toBe(join(root, 'node_modules'));
  for (const s of p.shares) {
    for (const m of tmpfsMounts) expect(under(s.guest, m), `${s.tag} at ${s.guest} is under the guest's tmpfs ${m}`).toBe(false);
  }
  // the kernel command line splits at spaces: no host path on it
  const append = p.qemu[p.qemu.indexOf('-append') + 1];
  expect(append).not.toContain(root);
  expect(append).not.toMatch(/\/(tmp|run)\//);
  // the guest is told guest paths only
  for (const line of p.job.filter((l) => !l.startsWith('DP_PATH='))) expect(line).not.toContain(root);
  const [cwd, out, kernel] = sourced(p.job, ['DP_CWD', 'DP_OUT', 'DP_KERNEL']);
  expect([cwd, out, kernel]).toEqual(['/deadpeer-src', '/deadpeer-out', '/deadpeer-kernel']);
}

describe('the kernel matrix from wherever the project is checked out', () => {
  it('init.sh mounts every share run.sh hands QEMU, at the guest path run.sh tells the guest', () => {
    const root = checkout(tmp('/tmp/dp-matrix-paths-'));
    const { status, plan: p } = plan(join(root, 'matrix/run.sh'), ['6.1']);
    expect(status).toBe(0);
    const init = readFileSync(join(ROOT, 'matrix', 'init.sh'), 'utf8');
    for (const s of p.shares) {
      const at = s.guest === '/' ? '/newroot' : `/newroot${s.guest}`;
      const mounted = new RegExp(`^(writable|ro9p|mount -t 9p .*) ${s.tag} ${at}( |$)`, 'm');
      expect(init, `init.sh mounts ${s.tag} at ${at}`).toMatch(mounted);
      // read-only on the host, and in the guest writable through an overlay or read-only, never written through
      const how = init.match(mounted)![1];
      expect(s.mode === 'rw' ? how.startsWith('mount -t 9p') && !how.includes(',ro') : how !== 'mount -t 9p').toBe(true);
    }
    // stage 2 is read from the checkout share, at its fixed path
    expect(init).toMatch(/^stage2=\/deadpeer-src\/matrix\/guest\.sh$/m);
  });

  it('a checkout under /tmp (hidden in the guest by its own /tmp) is shared at fixed guest paths', () => {
    const root = realpathSync(checkout(tmp('/tmp/dp-matrix-paths-')));
    const { status, stderr, plan: p } = plan(join(root, 'matrix/run.sh'), ['6.1'], { DEADPEER_KERNEL_CACHE: join(root, 'kernels') });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(p.fields.root).toBe(root);
    expectFixedGuestPaths(p, root);
    // the kernel cache under /tmp too: its tree is a share, not a path through the host root
    expect(p.shares.find((s) => s.tag === 'dpkernel')!.host).toBe(join(root, 'kernels/trees/6.1-ABI/root'));
    expect(p.qemu[p.qemu.indexOf('-initrd') + 1]).toBe(join(root, 'kernels/trees/6.1-ABI/initramfs.gz'));
  });

  it('a checkout whose path has spaces and a comma: one argument each, commas doubled for QEMU', () => {
    const root = realpathSync(checkout(join(tmp('/tmp/dp matrix paths '), 'my checkout, v2')));
    const { status, stderr, plan: p } = plan(join(root, 'matrix/run.sh'), ['6.1', '--cases', 'cases/syn-sent cases/idle-keepalive'], {
      DEADPEER_KERNEL_CACHE: join(root, 'kernel cache'),
    });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expectFixedGuestPaths(p, root);
    const fsdev = p.qemu.filter((a) => a.startsWith('local,id=dpsrc,'));
    expect(fsdev).toEqual([`local,id=dpsrc,path=${join(root, 'deadpeer-results/matrix/.checkout').replaceAll(',', ',,')},security_model=none,multidevs=remap,readonly=on`]);
    expect(p.qemu[p.qemu.indexOf('-kernel') + 1]).toBe(join(root, 'kernel cache/trees/6.1-ABI/root/boot/vmlinuz-RELEASE'));
    // the case filters survive the job file as separate words
    expect(sourced(p.job, []).slice(-2)).toEqual(['cases/syn-sent', 'cases/idle-keepalive']);
  });

  it('a checkout reached through a symlink is shared by its real path', () => {
    const base = tmp('/tmp/dp-matrix-paths-');
    const real = realpathSync(checkout(join(base, 'real')));
    symlinkSync(real, join(base, 'link'));
    const { status, plan: p } = plan(join(base, 'link', 'matrix/run.sh'), ['6.1']);
    expect(status).toBe(0);
    expect(p.fields.root).toBe(real);
    expectFixedGuestPaths(p, real);
  });

  it('a checkout under $HOME, results under /run (--out): the results are their own share', () => {
    const home = tmp('/tmp/dp-matrix-home-');
    const root = realpathSync(checkout(join(home, 'src', 'deadpeer')));
    const out = join(realpathSync(tmp('/tmp/dp-matrix-out-')), 'matrix');
    const { status, plan: p } = plan(join(root, 'matrix/run.sh'), ['--out', out, '6.1'], { HOME: home, XDG_CACHE_HOME: undefined, DEADPEER_KERNEL_CACHE: undefined });
    expect(status).toBe(0);
    expect(p.fields.cache).toBe(join(realpathSync(home), '.cache/deadpeer/kernels'));
    expect(p.shares.find((s) => s.tag === 'dpout')).toEqual({ tag: 'dpout', host: join(out, '6.1'), guest: '/deadpeer-out', mode: 'rw' });
    expect(p.shares.find((s) => s.tag === 'dpsrc')!.host).toBe(join(out, '.checkout'));
  });

  it('node under a folder the guest covers with a tmpfs: one line saying so, exit 2', () => {
    const root = checkout(tmp('/tmp/dp-matrix-paths-'));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
    const r = plan(join(root, 'matrix/run.sh'), ['6.1'], { PATH: `${bin}:/usr/bin:/bin` });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/node is .*\/bin\/node, under \/tmp, which the guest covers with its own tmpfs/);
  });
});

describe('the kernel matrix: mirrors and kernels', () => {
  const script = join(ROOT, 'matrix/run.sh');

  it('DEADPEER_DEBIAN_MIRROR overrides; a backports suite gets no -updates or -security', () => {
    const { status, plan: p } = plan(script, ['6.18'], { DEADPEER_DEBIAN_MIRROR: 'http://mirror.invalid/debian/', DEADPEER_DEBIAN_SECURITY: 'http://mirror.invalid/sec' });
    expect(status).toBe(0);
    expect(p.apt).toEqual(['deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.invalid/debian trixie-backports main']);
    const q = plan(script, ['6.1'], { DEADPEER_DEBIAN_MIRROR: 'http://mirror.invalid/debian', DEADPEER_DEBIAN_SECURITY: 'http://mirror.invalid/sec' });
    expect(q.plan.apt.map((l) => l.split(' ').slice(-3).join(' '))).toEqual([
      'http://mirror.invalid/debian bookworm main',
      'http://mirror.invalid/debian bookworm-updates main',
      'http://mirror.invalid/sec bookworm-security main',
    ]);
  });

  const osRelease = (() => {
    try {
      return readFileSync('/etc/os-release', 'utf8');
    } catch {
      return '';
    }
  })();
  const hostId = /^ID=(.*)$/m.exec(osRelease)?.[1]?.replace(/"/g, '');

  it.runIf(hostId === 'debian')("without the variable, a Debian host's own apt sources give the Debian mirror", () => {
    const { status, plan: p } = plan(script, ['6.1'], { DEADPEER_DEBIAN_MIRROR: undefined, DEADPEER_DEBIAN_SECURITY: undefined });
    expect(status).toBe(0);
    const uri = p.apt[0].split(' ')[2];
    expect(uri).toMatch(/^[a-z+]+:/);
    const apt = spawnSync('bash', ['-c', 'cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null'], { encoding: 'utf8' }).stdout;
    expect(apt).toContain(uri);
  });

  it.runIf(hostId !== undefined && hostId !== 'ubuntu')('an Ubuntu kernel on a non-Ubuntu host without DEADPEER_UBUNTU_MIRROR: one line naming it, exit 2', () => {
    const r = plan(script, ['5.15'], { DEADPEER_UBUNTU_MIRROR: undefined });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/set DEADPEER_UBUNTU_MIRROR/);
  });

  it('an unknown or cloud kernel: one line, exit 2, before anything else', () => {
    for (const [k, said] of [
      ['6.3', /unknown kernel "6\.3" \(known: .*6\.18/],
      ['6.1-cloud', /no 9p module/],
    ] as const) {
      const r = plan(script, [k]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(said);
    }
  });
});
