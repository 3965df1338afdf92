import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ROOT } from '../harness/core/paths.js';

/**
 * The library gallery's second half (issue 21): mysql2 against a real MariaDB, @grpc/grpc-js against
 * the gallery's grpc-js server, undici (Pool, and Node's global fetch) against a node http server —
 * each started in the server's namespace by `--server`. bench/clients.ts appends LIBS_B_CLIENTS to
 * its list; the shape is its Client's (structural: this module does not import bench/clients.ts,
 * which runs on import).
 */
export interface LibClient {
  id: string;
  name: string;
  probe: () => { version: string } | { missing: string };
  prepare?: (tmp: string) => void;
  command: (phase: 'idle' | 'busy', tmp: string) => string[];
  server?: (tmp: string, run: string) => string;
}

const LIBS = join(ROOT, 'examples', 'libs');
const SERVERS = join(ROOT, 'examples', 'servers');
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const firstLine = (r: ReturnType<typeof sh>) => `${r.stdout}${r.stderr}`.trim().split('\n')[0]!;
const require = createRequire(join(ROOT, 'package.json'));

/** The installed version of a dev dependency, or undefined (npm ci not run). */
export function libVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

const MARIADBD = '/usr/sbin/mariadbd';
/** "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for …" → "10.11.19" */
export const mariadbVersion = () => /Ver (\d+(?:\.\d+)+)/.exec(firstLine(sh(MARIADBD, ['--version'])))?.[1] ?? '?';

/** A MariaDB data directory made once by mariadb-install-db under `dir`, copied for each run. */
export function mariadbTemplate(dir: string): string {
  const data = join(dir, 'mariadb-template');
  if (existsSync(join(data, 'mysql'))) return data;
  mkdirSync(data, { recursive: true });
  const r = sh('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db']);
  if (r.status !== 0) throw new Error(`mariadb-install-db failed: ${firstLine(r)}`);
  return data;
}

/**
 * mariadbd on DEADPEER_LISTEN in the server's namespace, as root (--user=root), on a copy of the
 * template; --skip-grant-tables: any user, no password — it listens on a test address only.
 */
export function mariadbServerCommand(template: string, run: string): string {
  return `cp -a ${template} ${run} && exec ${MARIADBD} --no-defaults --user=root --datadir=${run} --socket=${run}/sock --pid-file=${run}/pid --bind-address="$DEADPEER_LISTEN_HOST" --port="$DEADPEER_PORT" --skip-grant-tables --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=16M --log-error=${run}/err`;
}

const npmLib = (pkg: string, extra?: () => string | undefined) => () => {
  const v = libVersion(pkg);
  if (!v) return { missing: `${pkg} (npm ci: a devDependency)` };
  const x = extra?.();
  return x === undefined ? { version: `${pkg} ${v}` } : x.startsWith('!') ? { missing: x.slice(1) } : { version: `${pkg} ${v}, ${x}` };
};
const mariadbProbe = () => (existsSync(MARIADBD) && sh('sh', ['-c', 'command -v mariadb-install-db']).status === 0 ? `server MariaDB ${mariadbVersion()}` : '!mariadb-server (RUNLEVEL=1 apt-get install mariadb-server)');

function mysql2Client(id: string, name: string, opts: Record<string, unknown>): LibClient {
  return {
    id,
    name,
    probe: npmLib('mysql2', mariadbProbe),
    prepare: (tmp) => void mariadbTemplate(tmp),
    command: (p) => ['env', `MYSQL2_OPTS=${JSON.stringify(opts)}`, 'node', join(LIBS, 'mysql2.mjs'), p],
    server: (tmp, run) => mariadbServerCommand(mariadbTemplate(tmp), run),
  };
}

function grpcClient(id: string, name: string, opts: Record<string, unknown>): LibClient {
  return {
    id,
    name,
    probe: npmLib('@grpc/grpc-js'),
    command: (p) => ['env', `GRPC_OPTS=${JSON.stringify(opts)}`, 'node', join(LIBS, 'grpc.mjs'), p],
    server: () => `exec node ${join(SERVERS, 'grpc-server.mjs')}`,
  };
}

function undiciClient(id: string, name: string, kind: 'pool' | 'fetch'): LibClient {
  return {
    id,
    name,
    probe: kind === 'pool' ? npmLib('undici') : () => ({ version: `Node ${process.version}, bundled undici ${process.versions.undici}` }),
    command: (p) => ['env', `UNDICI=${kind}`, 'node', join(LIBS, 'undici.mjs'), p],
    server: () => `exec node ${join(SERVERS, 'node-http.mjs')}`,
  };
}

const KA = { 'grpc.keepalive_time_ms': 2000, 'grpc.keepalive_timeout_ms': 1000 };
export const LIBS_B_CLIENTS: LibClient[] = [
  mysql2Client('mysql2', 'mysql2 pool (defaults) against MariaDB', {}),
  mysql2Client('mysql2-keepalive', 'mysql2 pool enableKeepAlive: true against MariaDB', { enableKeepAlive: true }),
  mysql2Client('mysql2-keepalive-2s', 'mysql2 pool enableKeepAlive + keepAliveInitialDelay: 2000 against MariaDB', { enableKeepAlive: true, keepAliveInitialDelay: 2000 }),
  grpcClient('grpc-js', '@grpc/grpc-js (defaults): idle = an open server stream, busy = a unary call', {}),
  grpcClient('grpc-js-keepalive', '@grpc/grpc-js keepalive_time_ms 2000, keepalive_timeout_ms 1000', KA),
  undiciClient('undici', 'undici Pool (defaults)', 'pool'),
  undiciClient('undici-fetch', 'Node global fetch (its bundled undici): pooled request', 'fetch'),
];
