import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { inUserNamespace } from '../netns/userns.js';

/**
 * A real PostgreSQL for deadpeer's runs (`npm run clients`, `npm run servers`, test/exec.test.ts):
 * Debian's binaries, a template cluster made once by initdb and copied for each run, started in
 * the server's namespace on DEADPEER_LISTEN. PostgreSQL refuses to run as root, so:
 * - as root it runs as the `postgres` user (runuser);
 * - rootless (uid 0 of deadpeer's own user namespace, where only that uid is mapped) it runs as the
 *   invoking user: a nested user namespace maps one unprivileged uid onto ours, so initdb and
 *   postgres see a non-root uid that owns the data directory — on the host, the invoking user.
 * Trust authentication for the test ranges only (198.18.0.0/15, 2001:2::/48) and the Unix socket.
 */
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const firstLine = (r: ReturnType<typeof sh>) => `${r.stdout}${r.stderr}`.trim().split('\n')[0]!;

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin), if any. */
export const PG_BIN: string | undefined = (() => {
  try {
    const v = readdirSync('/usr/lib/postgresql').filter((d) => existsSync(`/usr/lib/postgresql/${d}/bin/postgres`)).sort((a, b) => Number(b) - Number(a))[0];
    return v ? `/usr/lib/postgresql/${v}/bin` : undefined;
  } catch {
    return undefined;
  }
})();

/** "psql (PostgreSQL) 15.18 (Debian …)" → "15.18" */
export const pgVersion = (bin: string): string => /\) (\S+)/.exec(firstLine(sh(bin, ['--version'])))?.[1] ?? '?';

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function pgMissing(): string | undefined {
  if (!PG_BIN || sh('sh', ['-c', 'command -v psql']).status !== 0) return 'psql and a PostgreSQL server (apt-get install postgresql)';
  if (!rootless() && sh('id', ['-u', 'postgres']).status !== 0) return 'the postgres user (Debian\'s postgresql package makes it)';
  return undefined;
}

const rootless = () => process.getuid?.() !== 0 || inUserNamespace();

/** The argv prefix that runs a PostgreSQL program as a non-root user (see above). */
export function asPgUser(): string[] {
  // any unprivileged uid will do inside: on the host it is whoever runs deadpeer
  return rootless() ? ['unshare', '--user', '--map-user=1000', '--map-group=1000', '--'] : ['runuser', '-u', 'postgres', '--'];
}

/** initdb a template cluster under `dir` (once: a second call finds it made); returns its path. */
export function pgTemplate(dir: string): string {
  const data = join(dir, 'pg-template');
  if (existsSync(join(data, 'PG_VERSION'))) return data;
  if (rootless()) mkdirSync(data, { recursive: true, mode: 0o700 });
  else sh('install', ['-d', '-m', '700', '-o', 'postgres', '-g', 'postgres', data]);
  const r = sh(asPgUser()[0]!, [...asPgUser().slice(1), `${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  if (r.status !== 0) throw new Error(`initdb failed: ${firstLine(r)}`);
  // the test addresses, and nothing else, may connect without a password
  appendFileSync(join(data, 'pg_hba.conf'), 'host all all 198.18.0.0/15 trust\nhost all all 2001:2::/48 trust\n');
  return data;
}

/**
 * The server command (for --server or exec --role server): a copy of the template at `run`, then
 * postgres on DEADPEER_LISTEN with these settings (`-c name=value` each, e.g. tcp_keepalives_idle=2).
 */
export function pgServerCommand(template: string, run: string, settings: Record<string, string | number> = {}): string {
  const c = Object.entries(settings).map(([k, v]) => ` -c ${k}=${v}`).join('');
  return `cp -a ${template} ${run} && exec ${asPgUser().join(' ')} ${PG_BIN}/postgres -D ${run} -k ${run} -p "$DEADPEER_PORT" -c listen_addresses="$DEADPEER_LISTEN_HOST" -c fsync=off${c}`;
}

/**
 * A client's wait, as a shell snippet, for the server to accept logins. PostgreSQL listens before
 * it has finished starting and refuses logins until then ("the database system is starting up"),
 * longer on a loaded machine. pg_isready asks over the Unix socket in `run` (the -k directory of
 * pgServerCommand), so deadpeer's discovery of the client's TCP connection never sees it. Gives up
 * (exit 1) after 30 s.
 */
export const pgReadyWait = (run: string): string =>
  `n=0; until ${PG_BIN}/pg_isready -q -h ${run} -p "$DEADPEER_PORT"; do n=$((n+1)); [ $n -lt 300 ] || exit 1; sleep 0.1; done`;

/** libpq connection parameters for a client in the client's namespace (DEADPEER_HOST/PORT). */
export const PG_CLIENT_CONN = 'host=$DEADPEER_HOST port=$DEADPEER_PORT user=postgres dbname=postgres';
/** … and for a probe in the server's namespace, over the server's own address (DEADPEER_LISTEN_HOST). */
export const PG_LOCAL_CONN = 'host=$DEADPEER_LISTEN_HOST port=$DEADPEER_PORT user=postgres dbname=postgres connect_timeout=3';
