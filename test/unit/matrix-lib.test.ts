import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';

/** matrix/lib.sh's pure functions (apt sources, QEMU option values, the NO RESULT diagnosis), called through bash. */
function lib(call: string, stdin = '', ...args: string[]) {
  const r = spawnSync('bash', ['-c', `. "$0"; ${call}`, join(ROOT, 'matrix/lib.sh'), ...args], { input: stdin, encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
const entries = (format: 'list' | 'sources', text: string) => lib('apt_source_entries "$1"', text, format).out.split('\n').filter(Boolean);
const mirror = (lines: string[], codename: string, kind: 'archive' | 'security') => lib('apt_mirror "$1" "$2"', lines.join('\n') + '\n', codename, kind);

describe('apt sources, one-line format (sources.list, *.list)', () => {
  it('deb lines with options, comments, deb-src and cdrom', () => {
    const text = [
      '# deb http://commented.invalid/debian bookworm main',
      'deb [ arch=amd64 signed-by=/usr/share/keyrings/x.gpg ] http://m.invalid/debian bookworm main contrib # trailing',
      'deb-src http://m.invalid/debian bookworm main',
      'deb cdrom:[Debian GNU/Linux 12]/ bookworm main',
      '  deb\thttp://m.invalid/debian-security  bookworm-security main',
      'deb [trusted=yes] file:/srv/mirror ./',
      '',
    ].join('\n');
    expect(entries('list', text)).toEqual([
      'http://m.invalid/debian bookworm main contrib',
      'http://m.invalid/debian-security bookworm-security main',
      'file:/srv/mirror ./',
    ]);
  });
});

describe('apt sources, deb822 format (*.sources)', () => {
  it('stanzas with several suites and URIs, folded fields, disabled stanzas, any case', () => {
    const text = [
      'Types: deb deb-src',
      '# a comment inside a stanza',
      'URIs: http://a.invalid/debian http://b.invalid/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main non-free-firmware',
      'Signed-By:',
      ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
      ' .',
      ' mQINBGPt',
      '',
      'Types: deb',
      'URIs: http://off.invalid/debian',
      'Suites: bookworm',
      'Components: main',
      'Enabled: no',
      '',
      'Types: deb-src',
      'URIs: http://src.invalid/debian',
      'Suites: bookworm',
      'Components: main',
      '',
      'types: deb',
      'uris: mirror+file:/etc/apt/mirrors/debian-security.list',
      'suites: bookworm-security',
      'components: main',
    ].join('\n');
    expect(entries('sources', text)).toEqual([
      'http://a.invalid/debian bookworm main non-free-firmware',
      'http://a.invalid/debian bookworm-updates main non-free-firmware',
      'http://b.invalid/debian bookworm main non-free-firmware',
      'http://b.invalid/debian bookworm-updates main non-free-firmware',
      'mirror+file:/etc/apt/mirrors/debian-security.list bookworm-security main',
    ]);
  });

  it('an unknown format is refused', () => {
    expect(lib('apt_source_entries yaml', '').status).toBe(2);
  });
});

describe("the host distribution's mirror among the entries", () => {
  const host = [
    'https://download.invalid/linux/debian bookworm stable', // a third-party repository named after the codename
    'https://deb.nodesource.invalid/node_20.x nodistro main',
    'http://m.invalid/debian/ bookworm-updates main',
    'http://m.invalid/debian/ bookworm main',
    'http://s.invalid/debian-security bookworm-security main',
  ];
  it('the archive: the first main entry of the codename or its -updates/-backports, without a trailing slash', () => {
    expect(mirror(host, 'bookworm', 'archive')).toMatchObject({ status: 0, out: 'http://m.invalid/debian\n' });
  });
  it('the security archive: <codename>-security', () => {
    expect(mirror(host, 'bookworm', 'security')).toMatchObject({ status: 0, out: 'http://s.invalid/debian-security\n' });
  });
  it('nothing for another codename (an Ubuntu suite on a Debian host): status 1, no output', () => {
    expect(mirror(host, 'jammy', 'archive')).toMatchObject({ status: 1, out: '' });
    expect(mirror(host.slice(0, 2), 'bookworm', 'archive')).toMatchObject({ status: 1, out: '' });
  });
});

describe('QEMU option values and guest tmpfs coverage', () => {
  it('commas are doubled, spaces kept', () => {
    expect(lib('qemu_opt_escape "$1"', '', '/tmp/a b,c,,d').out).toBe('/tmp/a b,,c,,,,d');
  });
  it('paths under /tmp, /run, /dev are covered in the guest; /tmpx and /root are not', () => {
    expect(lib('guest_covered "$1"', '', '/tmp/clone/x').out).toBe('/tmp');
    expect(lib('guest_covered "$1"', '', '/run').out).toBe('/run');
    expect(lib('guest_covered "$1"', '', '/tmpx/clone').status).toBe(1);
    expect(lib('guest_covered "$1"', '', '/root/.cache').status).toBe(1);
  });
});

describe('why a kernel gave no result (the NO RESULT line)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  function folder(files: Record<string, string>) {
    const d = mkdtempSync(join(tmpdir(), 'dp-diagnose-'));
    dirs.push(d);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  }
  const diagnose = (d: string, rc: number) => lib('diagnose "$1" "$2" 1800', '', d, String(rc)).out.trim();

  it("the guest's own diagnosis, from its failure file", () => {
    const d = folder({ failure: 'deadpeer-guest: no /deadpeer-src (the checkout share)\n', status: '125\n', 'console.log': 'boot\n' });
    expect(diagnose(d, 0)).toBe('deadpeer-guest: no /deadpeer-src (the checkout share)');
  });
  it("the guest's last word on the console when it wrote no file (the issue's case)", () => {
    const d = folder({ status: '125\n', 'console.log': '[    1.2] virtio\r\nx deadpeer-guest: no /tmp/clone/.checkout in the shared root\r\n' });
    expect(diagnose(d, 0)).toBe('deadpeer-guest: no /tmp/clone/.checkout in the shared root');
  });
  it("the initramfs's", () => {
    const d = folder({ 'console.log': 'deadpeer-init: insmod 01-a.ko failed\ndeadpeer-init: cannot mount the dpsrc share (9p)\n' });
    expect(diagnose(d, 0)).toBe('deadpeer-init: cannot mount the dpsrc share (9p)');
  });
  it('a timeout, a panic', () => {
    expect(diagnose(folder({ 'console.log': 'x\n' }), 124)).toMatch(/^timed out after 1800 s .*console\.log\)$/);
    expect(diagnose(folder({ 'console.log': 'Kernel panic - not syncing: VFS\n' }), 0)).toBe('Kernel panic - not syncing: VFS');
  });
  it('otherwise it says which log to read', () => {
    const d = folder({ 'console.log': 'SeaBIOS\n' });
    expect(diagnose(d, 1)).toBe(`qemu exited with 1 before the guest wrote a status, and the console says nothing of it; see ${d}/console.log`);
    const e = folder({ 'console.log': 'x\n', status: '125\n' });
    expect(diagnose(e, 0)).toBe(`the guest gave up without saying why (status 125); see ${e}/console.log`);
  });
});
