import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { dir } from 'tmp-promise';
import { describe, expect, it } from 'vitest';
import { preflightProblem } from '../../harness/suite/preflight.js';
import { ownerOf } from '../../netns/namespace.js';

describe('preflight says in one line what is missing', () => {
  it('not root', async () => {
    const p = await preflightProblem({ uid: 1000 });
    expect(p).toMatch(/^not root: .* run as root/);
    expect(p!.split('\n')).toHaveLength(1);
  });

  it('no nft on the PATH names the package to install', async () => {
    // a PATH with `ip` but without `nft`
    const tmp = await dir({ unsafeCleanup: true });
    try {
      const bin = join(tmp.path, 'bin');
      mkdirSync(bin);
      symlinkSync('/usr/sbin/ip', join(bin, 'ip'));
      const p = await preflightProblem({ uid: 0, path: bin });
      expect(p).toBe('`nft` not found — install it: apt-get install -y nftables (or run: bash setup.sh)');
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('namespace names identify their owner for the reaper', () => {
  it('parses ours and refuses others', () => {
    expect(ownerOf('dp-1234x5678-3-c')).toEqual({ pid: 1234, start: '5678' });
    expect(ownerOf('dp-1234x5678-3-s')).toEqual({ pid: 1234, start: '5678' });
    expect(ownerOf('docker-1234')).toBeUndefined();
    expect(ownerOf('dp-something-else')).toBeUndefined();
  });
});
