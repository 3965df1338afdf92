import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ExecArgs } from '../harness/apps/exec/args.js';
import { runExecArgs } from '../harness/apps/exec/exec.js';
import type { AppReport } from '../harness/apps/exec/run.js';
import { ROOT } from '../harness/core/paths.js';
import { withTimingMachine } from './machine.js';
import { pool } from './pool.js';
import { PG_BIN, PG_CLIENT_CONN, PG_LOCAL_CONN, pgMissing, pgReadyWait, pgServerCommand, pgTemplate, pgVersion } from './postgres.js';
import { type ServerRun, renderServersTable } from './servers-table.js';

/**
 * `npm run servers`: real servers through `deadpeer exec --role server` — PostgreSQL, redis-server
 * and a Node http server — each holding a client that vanishes: when the kernel aborts the accepted
 * socket, when the server lets go of it, when what the client held is released → docs/SERVERS.md.
 * Servers not installed are skipped with what to install. Slow (minutes), like `npm run clients`.
 */
const CONCURRENCY = 3;

interface Row {
  family: 'postgres' | 'redis' | 'node';
  server: string;
  phase: 'idle' | 'busy';
  client: string;
  /** the shell command for --client, given the server's own dir (a client may wait for the server there); absent = the builtin client */
  clientCmd?: string | ((dir: string) => string);
  released?: string;
  /** the server command, given the run's scratch dir (shared: PostgreSQL's template) and a dir of its own */
  command: (tmp: string, dir: string) => string;
  /** watch this long (--timeout): a server the kernel would never free is watched for its own release */
  timeoutS?: number;
  graceS?: number;
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const has = (cmd: string) => sh('sh', ['-c', `command -v ${cmd}`]).status === 0;

// a psql session that takes a lock in a transaction and then: stays idle in it, runs a long query, or reads a stream
// (once the server accepts logins, asked over its Unix socket in the run's own dir: see pgReadyWait)
const psql = (then: string) => (dir: string) => `${pgReadyWait(join(dir, 'pg'))}; conn="${PG_CLIENT_CONN}"; (echo "CREATE TABLE IF NOT EXISTS t (x int); BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; ${then}"; sleep 3600) | psql -X -q -At "$conn" >/dev/null`;
const PG_LOCK_FREE = `psql -X -q "${PG_LOCAL_CONN}" -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE NOWAIT; COMMIT" >/dev/null 2>&1`;
const pg = (settings: Record<string, number>) => (tmp: string, dir: string) => pgServerCommand(pgTemplate(tmp), join(dir, 'pg'), settings);
const KA = { tcp_keepalives_idle: 2, tcp_keepalives_interval: 1, tcp_keepalives_count: 2 };

const redis = (args: string) => () => `exec redis-server --port "$DEADPEER_PORT" --bind "$DEADPEER_LISTEN_HOST" --save '' --appendonly no --protected-mode no ${args}`;
const SUBSCRIBE = 'exec redis-cli -h "$DEADPEER_HOST" -p "$DEADPEER_PORT" SUBSCRIBE ch >/dev/null';
const NO_SUBSCRIBER = 'test "$(redis-cli -h "$DEADPEER_LISTEN_HOST" -p "$DEADPEER_PORT" PUBSUB NUMSUB ch | tail -1)" = 0';
// the probe itself is one client: free = nobody else is connected
const NO_OTHER_CLIENT = 'test "$(redis-cli -h "$DEADPEER_LISTEN_HOST" -p "$DEADPEER_PORT" INFO clients | tr -d "\\r" | sed -n "s/^connected_clients://p")" -le 1';

const NODE_SERVER = join(ROOT, 'examples', 'servers', 'node-http.mjs');
const node = (env: string) => () => `exec env ${env} node ${NODE_SERVER}`;

const ROWS: Row[] = [
  { family: 'postgres', server: 'PostgreSQL, defaults', phase: 'idle', client: 'psql: a lock, idle in transaction', clientCmd: psql('SELECT 1;'), released: PG_LOCK_FREE, command: pg({}) },
  { family: 'postgres', server: 'PostgreSQL, tcp_keepalives_idle=2 interval=1 count=2', phase: 'idle', client: 'psql: a lock, idle in transaction', clientCmd: psql('SELECT 1;'), released: PG_LOCK_FREE, command: pg(KA) },
  {
    family: 'postgres',
    server: 'PostgreSQL, tcp_user_timeout=3000',
    phase: 'busy',
    client: 'psql: a lock, then reads a large result',
    clientCmd: psql("SELECT repeat('x', 200) FROM generate_series(1, 3000000);"),
    released: PG_LOCK_FREE,
    command: pg({ tcp_user_timeout: 3000 }),
  },
  {
    family: 'postgres',
    server: 'PostgreSQL, client_connection_check_interval=1000 (keepalive defaults)',
    phase: 'idle',
    client: 'psql: a lock, idle in transaction',
    clientCmd: psql('SELECT 1;'),
    released: PG_LOCK_FREE,
    command: pg({ client_connection_check_interval: 1000 }),
    timeoutS: 20,
  },
  {
    family: 'postgres',
    server: 'PostgreSQL, tcp_keepalives 2/1/2, no client_connection_check_interval',
    phase: 'idle',
    client: 'psql: a lock, then SELECT pg_sleep(3600)',
    clientCmd: psql('SELECT pg_sleep(3600);'),
    released: PG_LOCK_FREE,
    command: pg(KA),
    timeoutS: 20,
    graceS: 10,
  },
  {
    family: 'postgres',
    server: 'PostgreSQL, tcp_keepalives 2/1/2 and client_connection_check_interval=1000',
    phase: 'idle',
    client: 'psql: a lock, then SELECT pg_sleep(3600)',
    clientCmd: psql('SELECT pg_sleep(3600);'),
    released: PG_LOCK_FREE,
    command: pg({ ...KA, client_connection_check_interval: 1000 }),
    graceS: 10,
  },
  { family: 'redis', server: 'redis-server, tcp-keepalive 300 (default)', phase: 'idle', client: 'redis-cli SUBSCRIBE ch', clientCmd: SUBSCRIBE, released: NO_SUBSCRIBER, command: redis('') },
  { family: 'redis', server: 'redis-server, tcp-keepalive 2', phase: 'idle', client: 'redis-cli SUBSCRIBE ch', clientCmd: SUBSCRIBE, released: NO_SUBSCRIBER, command: redis('--tcp-keepalive 2') },
  { family: 'redis', server: 'redis-server, timeout 3, tcp-keepalive 0', phase: 'idle', client: 'builtin: connects, sends nothing', released: NO_OTHER_CLIENT, command: redis('--timeout 3 --tcp-keepalive 0'), timeoutS: 20 },
  { family: 'redis', server: 'redis-server, timeout 3, tcp-keepalive 0', phase: 'idle', client: 'redis-cli SUBSCRIBE ch', clientCmd: SUBSCRIBE, released: NO_SUBSCRIBER, command: redis('--timeout 3 --tcp-keepalive 0'), timeoutS: 20 },
  { family: 'node', server: 'Node http, defaults', phase: 'idle', client: 'curl: a long poll never answered', clientCmd: 'exec curl -sS "http://$DEADPEER_SERVER/hold"', command: node('NODE_DEFAULTS=1'), timeoutS: 30 },
  {
    family: 'node',
    server: "Node http, server.on('connection', s => s.setKeepAlive(true, 2000))",
    phase: 'idle',
    client: 'curl: a long poll never answered',
    clientCmd: 'exec curl -sS "http://$DEADPEER_SERVER/hold"',
    command: node('KEEPALIVE_MS=2000'),
  },
  { family: 'node', server: 'Node http, defaults', phase: 'busy', client: 'curl: reads a stream', clientCmd: 'exec curl -sS -N "http://$DEADPEER_SERVER/stream" -o /dev/null', command: node('NODE_DEFAULTS=1') },
];

function missing(family: Row['family']): string | undefined {
  if (family === 'postgres') return pgMissing();
  if (family === 'redis') return has('redis-server') && has('redis-cli') ? undefined : 'redis-server (apt-get install redis-server)';
  return has('node') && has('curl') ? undefined : 'node and curl';
}

function version(family: Row['family']): string {
  if (family === 'postgres') return `PostgreSQL ${pgVersion(`${PG_BIN}/postgres`)}`;
  if (family === 'redis') return `redis-server ${/v=(\S+)/.exec(sh('redis-server', ['--version']).stdout)?.[1] ?? '?'}`;
  return `node ${process.version}`;
}

/** The options the accepted socket held, for the table. */
function setsLine(r: AppReport): string {
  const o = r.options ?? {};
  const parts = [o.SO_KEEPALIVE === 1 ? `SO_KEEPALIVE=1 KEEPIDLE=${o.TCP_KEEPIDLE} KEEPINTVL=${o.TCP_KEEPINTVL} KEEPCNT=${o.TCP_KEEPCNT}` : 'SO_KEEPALIVE=0'];
  if (o.TCP_USER_TIMEOUT) parts.push(`TCP_USER_TIMEOUT=${o.TCP_USER_TIMEOUT}`);
  return parts.join(' ');
}

const rel = (r: AppReport, t: number | undefined) => (t === undefined || r.t.origin === undefined ? null : Math.round((t - r.t.origin) * 100) / 100);

function toRun(row: Row, r: AppReport): ServerRun {
  const sd = r.serverSide!;
  const verdict = sd.verdict === 'agree' ? 'the kernel agrees with the model' : sd.verdict === 'differ' ? `DIFFERS: ${sd.verdictWhy}` : sd.verdict === 'cannot judge' ? `cannot judge: ${sd.verdictWhy}` : 'not run';
  return {
    server: row.server,
    version: version(row.family),
    phase: row.phase,
    client: row.client,
    sets: setsLine(r),
    modelS: r.prediction?.closeAt ?? null,
    ...(sd.notRun ? { notRun: sd.notRun } : {}),
    kernelAbortS: rel(r, r.t.kernelAbort),
    serverReleasedS: rel(r, r.t.serverReleased),
    ...(sd.releasedBy ? { releasedBy: sd.releasedBy === 'exit' ? 'the process exited' : 'fd closed' } : {}),
    ...(sd.closedFirst ? { closedFirst: true } : {}),
    ...(row.released ? { releasedS: rel(r, r.t.released) } : {}),
    verdict,
    watchedS: r.t.origin !== undefined ? r.t.end - r.t.origin : r.t.end - r.t.start,
    problems: r.problems,
  };
}


async function regenerate(): Promise<number> {
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'deadpeer-servers-'));
  // PostgreSQL runs as postgres (as root) and must reach its part of it
  spawnSync('chmod', ['755', tmp]);
  try {
    const rows = ROWS.filter((row) => {
      const m = missing(row.family);
      if (m) process.stderr.write(`deadpeer servers: ${row.server}: skipped, not installed (${m})\n`);
      return !m;
    });
    let n = 0;
    const jobs = rows.map((row, i) => async () => {
      const dir = join(tmp, `run-${i}`);
      spawnSync('mkdir', ['-m', '755', dir]);
      const args: ExecArgs = {
        role: 'server',
        phase: row.phase,
        fault: 'blackhole',
        family: 4,
        profile: 'fast',
        ...(row.timeoutS !== undefined ? { timeoutS: row.timeoutS } : {}),
        graceS: row.graceS ?? 5,
        json: true,
        strace: false,
        ...(row.clientCmd ? { client: typeof row.clientCmd === 'string' ? row.clientCmd : row.clientCmd(dir) } : {}),
        ...(row.released ? { released: row.released } : {}),
        command: [row.command(tmp, dir)],
      };
      const r = await runExecArgs(args);
      const run = toRun(row, r);
      process.stderr.write(`deadpeer servers: [${++n}/${rows.length}] ${row.server}, ${row.phase}: ${r.problems[0] ?? (run.notRun ? 'predicted, not run' : `abort ${run.kernelAbortS ?? '—'} s, let go ${run.serverReleasedS ?? '—'} s, released ${run.releasedS ?? '—'} s`)}\n`);
      return run;
    });
    const runs = await pool(jobs, CONCURRENCY);
    const versions = [...new Set(rows.map((r) => version(r.family)))];
    const wallS = (performance.now() - t0) / 1000;
    writeFileSync(join(ROOT, 'docs', 'SERVERS.md'), renderServersTable(runs, { date: new Date().toISOString().slice(0, 10), kernel: release(), profile: 'fast', wallS, versions }));
    process.stdout.write(`docs/SERVERS.md: ${runs.length} runs in ${wallS.toFixed(0)} s\n`);
    return runs.some((r) => r.problems.length) ? 1 : 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.length) {
    process.stderr.write(`deadpeer servers: unexpected argument "${argv[0]}" (it takes none)\n`);
    return 2;
  }
  return withTimingMachine('deadpeer servers', 'npm run servers', regenerate);
}

process.exitCode = await main(process.argv.slice(2));
