import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, resultsDir, runId } from '../../harness/core/paths.js';
import { currentProfile, withProfile } from '../../harness/core/profile.js';

/**
 * A library call must not change its caller's environment: check() used to leave
 * DEADPEER_PROFILE set to its profile (the next exec() in the same process ran under it), and the
 * first resultsDir() wrote DEADPEER_RUN_ID. What a call chooses stays with the call.
 */

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? tsFiles(join(dir, d.name)) : d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [join(dir, d.name)] : [],
  );
}

/**
 * The places that still write process.env, and why each may: none is reached from the API's
 * check(), exec(), recommend(), runScenario() or VanishingPeer except through the timing lock.
 */
const ALLOWED: Record<string, string> = {
  // the vitest runner's main process hands the run id and the jiffies clock to the workers it starts
  'harness/vitest/global-setup.ts': 'DEADPEER_RUN_ID',
  'harness/engine/kernel-clock.ts': 'JIFFIES_ENV',
  // the lock's holder tells the processes it starts that they run under it (set on acquire, gone on release)
  'harness/suite/timing-lock.ts': 'ENV',
  // the CLI's own process: ip and nft live in /usr/sbin
  'cli/main.ts': 'PATH',
};

describe('nothing mutates process.env', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  it('no assignment to process.env in harness/ or cli/ but the ones listed, each with its reason', () => {
    const writes = /process\.env(?:\.([A-Za-z_]+)|\[([^\]]+)\])\s*(?:=(?!=)|\?\?=|\|\|=)|delete process\.env|Object\.assign\(process\.env/g;
    const found: string[] = [];
    for (const f of [...tsFiles('harness'), ...tsFiles('cli')]) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(writes)) {
        const name = m[1] ?? m[2];
        if (ALLOWED[f] !== undefined && ALLOWED[f] === name) continue;
        if (ALLOWED[f] === 'ENV' && m[0].startsWith('delete')) continue; // the lock's release
        found.push(`${f}: ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('resultsDir() fixes a run id without writing DEADPEER_RUN_ID; a given one is used', () => {
    delete process.env.DEADPEER_RUN_ID;
    const first = resultsDir();
    expect(process.env.DEADPEER_RUN_ID).toBeUndefined();
    expect(resultsDir()).toBe(first);
    expect(first.endsWith(runId())).toBe(true);
    process.env.DEADPEER_RUN_ID = 'given';
    expect(runId()).toBe('given');
  });

  it('withProfile: the call that chose a profile sees it, the caller does not', async () => {
    delete process.env.DEADPEER_PROFILE;
    const seen = await withProfile('faithful', async () => {
      await new Promise((r) => setTimeout(r, 1));
      return currentProfile();
    });
    expect(seen).toBe('faithful');
    expect(currentProfile()).toBe('fast');
    expect(process.env.DEADPEER_PROFILE).toBeUndefined();
  });
});
