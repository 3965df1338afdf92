import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { runExecArgs } from '../harness/apps/exec/exec.js';
import type { ExecArgs } from '../harness/apps/exec/args.js';
import type { AppReport } from '../harness/apps/exec/run.js';
import { ROOT } from '../harness/core/paths.js';
import { withTimingMachine } from './machine.js';
import { parseMiddlebox } from '../harness/model/middlebox.js';
import { pool } from './pool.js';
import { REDIS_SERVER, redisMissing, redisVersion } from './redis.js';
import { pgMissing, pgServerCommand, pgTemplate, pgVersion, PG_BIN } from './postgres.js';
import { LIBS_B_CLIENTS, inLibsBSections, renderLibsBSections, runLibsBMiddlebox, writeOnly } from './clients-libs-b.js';
import { type ClientRun, renderClientsTable, renderVerifiedModule, unbackedReasons, verifiedPresets } from './clients-table.js';

/**
 * `npm run clients`: every client found on this machine through `deadpeer exec`, idle and busy,
 * and what it really did — docs/CLIENTS.md, and the presets' evidence
 * (harness/apps/check/verified.ts). Clients whose toolchain is missing are listed as skipped, with
 * what to install. Slow (minutes): its own command, like the faithful profile, not the fast suite.
 */
const EX = join(ROOT, 'examples');
const WATCH_S = 60; // the longest a phase is watched: clients that rely on the kernel's 2-hour keepalive never notice within it
const CONCURRENCY = 3;

interface Client {
  /** what presets call it (Preset.backedBy) */
  id: string;
  name: string;
  /** its version, or why it is not here */
  probe: () => { version: string } | { missing: string };
  /** build what it needs into `tmp` (once) */
  prepare?: (tmp: string) => void;
  command: (phase: 'idle' | 'busy', tmp: string) => string[];
  /** a shell command for the server's namespace (a real server), given `tmp` and the run's own folder */
  server?: (tmp: string, run: string) => string;
  /** also run behind `--middlebox` (MIDDLEBOXES), with this command: it goes quiet, then asks again */
  quiet?: (tmp: string) => string[];
}

const sh = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });
const firstLine = (r: ReturnType<typeof sh>) => `${r.stdout}${r.stderr}`.trim().split('\n')[0]!;
const has = (cmd: string) => sh('sh', ['-c', `command -v ${cmd}`]).status === 0;
const versionOf = (cmd: string, args: string[], missing: string, short: (v: string) => string = (v) => v) => () => (has(cmd) ? { version: short(firstLine(sh(cmd, args))) } : { missing });
/** psql against a real PostgreSQL in the server's namespace, with these libpq connection parameters. */
function psqlClient(id: string, name: string, params: string): Client {
  const conn = `conn="host=$DEADPEER_HOST port=$DEADPEER_PORT user=postgres${params}";`;
  const client: Client = {
    id,
    name,
    probe: () => {
      const missing = pgMissing();
      return missing ? { missing } : { version: `psql ${pgVersion('psql')}, server ${pgVersion(`${PG_BIN}/postgres`)}` };
    },
    // one template cluster for both psql clients, copied for each run
    prepare: (tmp) => void pgTemplate(tmp),
    // idle: a query the server takes an hour to answer (sent, acknowledged, then silence);
    // busy: psql connects, and its first query comes 3 s later
    command: (p) =>
      p === 'idle'
        ? ['sh', '-c', `${conn} exec psql "$conn" -c "select pg_sleep(3600)"`]
        : ['sh', '-c', `${conn} (sleep 3; echo "select 1;"; sleep 3600) | psql "$conn"`],
    server: (tmp, run) => pgServerCommand(pgTemplate(tmp), run),
  };
  return client;
}

/** A Node library from the gallery's dev dependencies (package.json), its version from its package.json. */
function npmVersion(pkg: string): () => { version: string } | { missing: string } {
  return () => {
    try {
      return { version: `${pkg} ${JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version}` };
    } catch {
      return { missing: `${pkg} (npm ci: it is a dev dependency)` };
    }
  };
}
/** A library client of examples/libs/ against its real server: idle, busy, and quiet behind the middleboxes. */
function libClient(id: string, name: string, pkg: string, file: string, config: string, server: 'postgres' | 'redis'): Client {
  const lib = npmVersion(pkg);
  const cmd = (mode: string) => ['node', join(EX, 'libs', file), mode, config];
  return {
    id,
    name,
    probe: () => {
      const v = lib();
      if ('missing' in v) return v;
      if (server === 'postgres') {
        const missing = pgMissing();
        return missing ? { missing } : { version: `${v.version}, PostgreSQL ${pgVersion(`${PG_BIN}/postgres`)}` };
      }
      const rv = redisVersion();
      return rv ? { version: `${v.version}, redis-server ${rv}` } : { missing: redisMissing()! };
    },
    ...(server === 'postgres' ? { prepare: (tmp: string) => void pgTemplate(tmp) } : {}),
    command: (p) => cmd(p),
    quiet: () => cmd('quiet'),
    server: (tmp, run) => (server === 'postgres' ? pgServerCommand(pgTemplate(tmp), run) : REDIS_SERVER),
  };
}
/** The idle-expiry middleboxes every library client also runs behind (issue 19): the entry goes after 6 s of quiet. */
const MIDDLEBOXES = ['idle-expiry:6s:reset', 'idle-expiry:6s:drop'];
const middleboxOf = (text: string) => {
  const m = parseMiddlebox(text);
  if ('error' in m) throw new Error(m.error);
  return m;
};

const CLIENTS: Client[] = [
  { id: 'node-net-5s', name: 'Node.js net + setKeepAlive(true, 5000)', probe: versionOf('node', ['--version'], 'node'), command: (p) => ['node', join(EX, 'node-client.mjs'), p] },
  { id: 'node-net-keepalive', name: 'Node.js net + setKeepAlive(true)', probe: versionOf('node', ['--version'], 'node'), command: (p) => ['node', join(EX, 'node-client.mjs'), p, '0'] },
  { id: 'node-http', name: 'Node.js http.get (global agent)', probe: versionOf('node', ['--version'], 'node'), command: (p) => ['node', join(EX, 'clients', 'node-http.mjs'), p] },
  { id: 'node-fetch', name: 'Node.js fetch (undici)', probe: versionOf('node', ['--version'], 'node'), command: (p) => ['node', join(EX, 'clients', 'node-fetch.mjs'), p] },
  { id: 'python-plain', name: 'Python socket.create_connection', probe: versionOf('python3', ['--version'], 'python3'), command: (p) => ['python3', join(EX, 'clients', 'python-plain.py'), p] },
  {
    id: 'python-reference',
    name: 'Python with the reference\'s advice (examples/python-client.py)',
    probe: versionOf('python3', ['--version'], 'python3'),
    command: (p) => ['python3', join(EX, 'python-client.py'), p],
  },
  {
    id: 'curl',
    name: 'curl',
    probe: versionOf('curl', ['--version'], 'curl (apt-get install curl)', (v) => v.split(' ').slice(0, 2).join(' ')),
    // busy: curl sends the headers at once, the body 3 s later (chunked upload from a pipe)
    command: (p) =>
      p === 'idle'
        ? ['sh', '-c', 'exec curl -sS "http://$DEADPEER_SERVER/answer"']
        : ['sh', '-c', '(sleep 3; echo hello) | curl -sS -T - "http://$DEADPEER_SERVER/answer"'],
  },
  psqlClient('psql', 'psql (libpq) against PostgreSQL', ''),
  psqlClient('psql-keepalive-params', 'psql (libpq) with keepalives_idle=10 keepalives_interval=5 keepalives_count=3 tcp_user_timeout=25000', ' keepalives_idle=10 keepalives_interval=5 keepalives_count=3 tcp_user_timeout=25000'),
  {
    id: 'go',
    name: 'Go net.Dial (default Dialer)',
    probe: versionOf('go', ['version'], 'Go (apt-get install golang-go)', (v) => v.split(' ')[2] ?? v),
    prepare: (tmp) => {
      const r = sh('go', ['build', '-o', join(tmp, 'go-client'), '.'], { cwd: join(EX, 'clients', 'go'), env: { ...process.env, GOCACHE: join(tmp, 'gocache'), GOFLAGS: '-mod=mod', GOPROXY: 'off' } });
      if (r.status !== 0) throw new Error(`go build failed: ${firstLine(r)}`);
    },
    command: (p, tmp) => [join(tmp, 'go-client'), p],
  },
  {
    id: 'java',
    name: 'Java java.net.Socket',
    probe: () => (has('javac') && has('java') ? { version: firstLine(sh('java', ['-version'])).replace(/^openjdk version "([^"]+)".*/, 'OpenJDK $1') } : { missing: 'a JDK (apt-get install default-jdk-headless)' }),
    prepare: (tmp) => {
      const r = sh('javac', ['-d', join(tmp, 'java'), join(EX, 'clients', 'JavaClient.java')]);
      if (r.status !== 0) throw new Error(`javac failed: ${firstLine(r)}`);
    },
    command: (p, tmp) => ['java', '-cp', join(tmp, 'java'), 'JavaClient', p],
  },
  libClient('pg', 'node-postgres (pg) Pool, defaults', 'pg', 'pg.mjs', 'defaults', 'postgres'),
  libClient('pg-keepalive', 'node-postgres (pg) Pool, keepAlive: true', 'pg', 'pg.mjs', 'keepalive', 'postgres'),
  libClient('pg-keepalive-2s', 'node-postgres (pg) Pool, keepAlive: true, keepAliveInitialDelayMillis: 2000', 'pg', 'pg.mjs', 'keepalive-2s', 'postgres'),
  libClient('ioredis', 'ioredis, defaults', 'ioredis', 'ioredis.mjs', 'defaults', 'redis'),
  libClient('ioredis-keepalive-2s', 'ioredis, keepAlive: 2000', 'ioredis', 'ioredis.mjs', 'keepalive-2s', 'redis'),
  libClient('node-redis', 'node-redis (redis) createClient, defaults', 'redis', 'node-redis.mjs', 'defaults', 'redis'),
  libClient('node-redis-keepalive-2s', 'node-redis (redis), socket.keepAliveInitialDelay: 2000', 'redis', 'node-redis.mjs', 'keepalive-2s', 'redis'),
  // the library gallery's mysql2, @grpc/grpc-js and undici (issue 21)
  ...LIBS_B_CLIENTS,
];

/** The options its socket held that a plain socket would not, for the table. */
function setsLine(r: AppReport): string {
  const o = r.options ?? {};
  const parts: string[] = [];
  if (o.SO_KEEPALIVE === 1) parts.push(`SO_KEEPALIVE=1 KEEPIDLE=${o.TCP_KEEPIDLE} KEEPINTVL=${o.TCP_KEEPINTVL} KEEPCNT=${o.TCP_KEEPCNT}`);
  if (o.TCP_USER_TIMEOUT) parts.push(`TCP_USER_TIMEOUT=${o.TCP_USER_TIMEOUT}`);
  if (o.TCP_NODELAY) parts.push('TCP_NODELAY=1');
  const syn = r.asked?.find((a) => a.opt === 'TCP_SYNCNT' && a.result === '0');
  if (syn) parts.push(`TCP_SYNCNT=${syn.value}`);
  return parts.join(' ');
}

const rel = (r: AppReport, t: number | undefined) => (t === undefined || r.t.origin === undefined ? null : Math.round((t - r.t.origin) * 100) / 100);

/** What the program printed about its request after the loss (examples/libs: "next request: …"). */
const nextLine = (r: AppReport) => r.app.output.find((l) => /^next request: /.test(l.text))?.text.replace(/^next request: /, '').replace(/ \[mono [\d.]+\]$/, '');

function toRun(c: Client, version: string, phase: 'idle' | 'busy', r: AppReport, middlebox?: string): ClientRun {
  const next = nextLine(r);
  return {
    id: c.id,
    client: c.name,
    version,
    phase,
    ...(middlebox ? { middlebox } : {}),
    ...(next ? { next } : {}),
    ...(middlebox && r.app.output.some((l) => /^second request: ok/.test(l.text)) ? { gotThrough: true } : {}),
    sets: setsLine(r),
    // once per kind: a library that reconnects asks again on its new socket
    refused: [...new Set((r.asked ?? []).filter((a) => a.result !== '0').map((a) => `${a.opt}=${a.value} → ${a.result}`))],
    kernelAbortS: rel(r, r.t.kernelAbort),
    noticedS: r.unnoticed ? null : rel(r, r.t.appNoticed),
    ...(r.app.noticedBy ? { noticedBy: r.app.noticedBy } : {}),
    ...(r.app.noticedLine ? { printed: r.app.noticedLine.trim() } : {}),
    ...(r.app.errno ? { errno: r.app.errno } : {}),
    // behind a middlebox the model is the path's (the forgotten mapping meets the next request), not the blackhole idle chain
    modelS: middlebox ? (r.path?.predicted?.outcome.noticeAtS ?? null) : (r.prediction?.closeAt ?? null),
    watchedS: r.t.origin !== undefined ? r.t.end - r.t.origin : r.t.end - r.t.start,
    presets: r.presets,
    problems: r.problems,
  };
}


async function main(argv: string[]): Promise<number> {
  // --only ID,…: just these clients; their rows update docs/CLIENTS.md's library section and the verified presets (bench/clients-libs-b.ts)
  const only = argv[0] === '--only' && argv.length === 2 ? argv[1]!.split(',') : undefined;
  if (argv.length && !only) {
    process.stderr.write(`deadpeer clients: unexpected argument "${argv[0]}" (it takes none, or --only ID,ID…)\n`);
    return 2;
  }
  return withTimingMachine('deadpeer clients', 'npm run clients', () => regenerate(only));
}

/** Every installed client through exec, idle and busy → docs/CLIENTS.md and the verified presets. */
async function regenerate(only?: string[]): Promise<number> {
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'deadpeer-clients-'));
  // programs run as other users (PostgreSQL as postgres) must reach their part of it
  spawnSync('chmod', ['755', tmp]);
  try {
    const found: Array<{ c: Client; version: string }> = [];
    for (const c of CLIENTS.filter((x) => !only || only.includes(x.id))) {
      const p = c.probe();
      if ('missing' in p) {
        process.stderr.write(`deadpeer clients: ${c.name}: skipped, not installed (${p.missing})\n`);
        continue;
      }
      try {
        c.prepare?.(tmp);
      } catch (e) {
        process.stderr.write(`deadpeer clients: ${c.name}: skipped, ${(e as Error).message}\n`);
        continue;
      }
      found.push({ c, version: p.version });
    }
    if (found.length < CLIENTS.filter((x) => !only || only.includes(x.id)).length)
      process.stderr.write('deadpeer clients: the skipped ones install from Debian and npm with: sudo bash setup.sh --gallery\n');
    let n = 0;
    const shapes = (c: Client): Array<{ phase: 'idle' | 'busy'; middlebox?: string }> => [...(['idle', 'busy'] as const).map((phase) => ({ phase })), ...(c.quiet ? MIDDLEBOXES.map((middlebox) => ({ phase: 'idle' as const, middlebox })) : [])];
    const total = found.reduce((n, { c }) => n + shapes(c).length, 0);
    const jobs = found.flatMap(({ c, version }) =>
      shapes(c).map(({ phase, middlebox }) => async () => {
        const args: ExecArgs = {
          phase,
          fault: 'blackhole',
          family: 4,
          profile: 'fast',
          timeoutS: WATCH_S,
          graceS: 5,
          json: true,
          strace: true,
          command: middlebox && c.quiet ? c.quiet(tmp) : c.command(phase, tmp),
          ...(middlebox ? { middlebox: middleboxOf(middlebox) } : {}),
          ...(c.server ? { server: c.server(tmp, join(tmp, `pg-${c.id}-${phase}${middlebox ? `-${middlebox.replace(/\W/g, '-')}` : ''}`)) } : {}),
        };
        const r = await runExecArgs(args);
        process.stderr.write(`deadpeer clients: [${++n}/${total}] ${c.name}, ${middlebox ?? phase}: ${r.problems[0] ?? (r.t.appNoticed !== undefined && !r.unnoticed ? `noticed ${rel(r, r.t.appNoticed)} s after t = 0` : 'did not notice')}\n`);
        return toRun(c, version, phase, r, middlebox);
      }),
    );
    const runs = await pool(jobs, CONCURRENCY);
    // the libraries behind a middlebox that forgets idle connections (bench/clients-libs-b.ts)
    const mb = await runLibsBMiddlebox(found, tmp, (l) => process.stderr.write(`deadpeer clients: middlebox ${l}\n`));
    const date = new Date().toISOString().slice(0, 10);
    const wallS = (performance.now() - t0) / 1000;
    if (only) writeOnly(runs, mb, date);
    else writeFileSync(join(ROOT, 'docs', 'CLIENTS.md'), renderClientsTable(runs, { date, kernel: release(), profile: 'fast', wallS }, inLibsBSections) + renderLibsBSections(runs, mb));
    if (!only) writeFileSync(join(ROOT, 'harness', 'apps', 'check', 'verified.ts'), renderVerifiedModule(verifiedPresets(runs, date), unbackedReasons(runs)));
    process.stdout.write(`docs/CLIENTS.md: ${runs.length} runs of ${found.length} clients in ${wallS.toFixed(0)} s; harness/apps/check/verified.ts regenerated (npm run build to ship it)\n`);
    return runs.some((r) => r.problems.length) || mb.some((r) => r.problems.length) ? 1 : 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
