import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, SETUP_HINT } from '../core/paths.js';

/**
 * Where the native helper binary is, building it when it is missing or older than its source.
 * A checkout builds it in place (`npm run build`); an installed package compiles it on first use
 * from the C sources it ships — beside them when the package directory is writable, else in a
 * cache directory keyed by the sources' hash ($XDG_CACHE_HOME/deadpeer, ~/.cache/deadpeer), so a
 * read-only node_modules (a system-wide install, a container layer) still works. $DEADPEER_HELPER
 * names a binary to use instead.
 */
export const HELPER_DIR = join(ROOT, 'harness', 'helper');
const BINARY = 'deadpeer-helper';

const isSource = (f: string) => /\.(c|h)$/.test(f) || f === 'Makefile';
const sources = (dir = HELPER_DIR) => readdirSync(dir).filter(isSource).sort();

/** A hash of the helper's sources: a cached binary is reused only for exactly these sources. */
export function sourceHash(dir = HELPER_DIR): string {
  const h = createHash('sha256');
  for (const f of sources(dir)) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

const writable = (dir: string) => {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** Where the binary goes (pure: the environment and what is writable are its inputs). */
export function helperLocation(env: { override?: string; dirWritable: boolean; cacheHome: string; hash: () => string }): string {
  if (env.override) return env.override;
  if (env.dirWritable) return join(HELPER_DIR, BINARY);
  return join(env.cacheHome, 'deadpeer', `helper-${env.hash()}`, BINARY);
}

function location(): string {
  return helperLocation({
    override: process.env.DEADPEER_HELPER,
    dirWritable: writable(HELPER_DIR),
    cacheHome: process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    hash: () => sourceHash(),
  });
}

const newest = () => Math.max(...sources().map((f) => statSync(join(HELPER_DIR, f)).mtimeMs));

/** Why the binary at `path` cannot be used as it is (absent, or older than its sources), if it cannot. */
function staleness(path: string): string | undefined {
  if (!existsSync(path)) return 'not built';
  // a cached binary is named by its sources' hash: it is current by construction
  if (path.startsWith(HELPER_DIR) && existsSync(HELPER_DIR) && newest() > statSync(path).mtimeMs) return 'older than its source';
  return undefined;
}

let resolved: string | undefined;

/** The helper's path once ensureHelper() has found or built it (or where it would be). */
export function helperPath(): string {
  return resolved ?? location();
}

/**
 * Find the helper, building it if needed. Returns a one-line problem (with the fix) when it can
 * neither be found nor built, else undefined. Built into a temporary name and renamed, so
 * concurrent first uses never run a half-written binary.
 */
export function ensureHelper(): string | undefined {
  if (resolved) return undefined; // found (or built) once per process: topologies start two helpers each
  const path = location();
  if (process.env.DEADPEER_HELPER) {
    if (!existsSync(path)) return `DEADPEER_HELPER names ${path}, which does not exist`;
    resolved = path;
    return undefined;
  }
  if (!staleness(path)) {
    resolved = path;
    return undefined;
  }
  const missing = ['cc', 'make'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length) return `the native helper must be compiled and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing — install: apt-get install -y gcc make libc6-dev linux-libc-dev (or run: ${SETUP_HINT})`;
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const r = spawnSync('make', ['-s', '-C', HELPER_DIR, `OUT=${tmp}`], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const first = (r.stderr || r.stdout || '').split('\n').find((l) => /error/i.test(l)) ?? (r.stderr || '').split('\n')[0] ?? '';
    const headers = /No such file|fatal error/.test(r.stderr ?? '') ? ' — the C headers are missing: apt-get install -y libc6-dev linux-libc-dev' : '';
    return `the native helper did not compile (${first.trim()})${headers || ` (or run: ${SETUP_HINT})`}`;
  }
  renameSync(tmp, path);
  resolved = path;
  return undefined;
}
