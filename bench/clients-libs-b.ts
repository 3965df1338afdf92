import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ROOT } from '../harness/core/paths.js';
import { runExecArgs } from '../harness/apps/exec/exec.js';
import type { ExecArgs } from '../harness/apps/exec/args.js';
import type { AppReport } from '../harness/apps/exec/run.js';
import { parseMiddlebox } from '../harness/model/middlebox.js';
import { type ClientRun, renderVerifiedModule, unbackedReasons, verifiedPresets } from './clients-table.js';
import { UNBACKED, VERIFIED } from '../harness/apps/check/verified.js';
import { PRESETS } from '../harness/apps/check/presets.js';
import { pool } from './pool.js';

/**
 * The library gallery's second half (issue 21): mysql2 against a real MariaDB, @grpc/grpc-js against
 * the gallery's grpc-js server, undici (Pool, and Node's global fetch) against a node http server —
 * each started in the server's namespace by `--server`. bench/clients.ts appends LIBS_B_CLIENTS to
 * its list, which checks them against its Client (this module cannot import bench/clients.ts: it runs on import).
 */
/** What the middlebox runs need of a client (bench/clients.ts's Client has the rest; the factories below are checked against it there). */
interface MiddleboxClient {
  id: string;
  name: string;
  server?: (tmp: string, run: string) => string;
  /** behind --middlebox: one call, quiet QUIET_S (9) s, the next call, one more if it failed (examples/libs/report-calls.mjs) */
  middleboxCommand?: (tmp: string) => string[];
}
type Phase = 'idle' | 'busy';
type LibClient = MiddleboxClient & { probe: () => { version: string } | { missing: string }; prepare?: (tmp: string) => void; command: (phase: Phase) => string[] };

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
    middleboxCommand: () => ['env', `MYSQL2_OPTS=${JSON.stringify(opts)}`, 'node', join(LIBS, 'mysql2.mjs'), 'quiet'],
    server: (tmp, run) => mariadbServerCommand(mariadbTemplate(tmp), run),
  };
}

function grpcClient(id: string, name: string, opts: Record<string, unknown>): LibClient {
  return {
    id,
    name,
    probe: npmLib('@grpc/grpc-js'),
    command: (p) => ['env', `GRPC_OPTS=${JSON.stringify(opts)}`, 'node', join(LIBS, 'grpc.mjs'), p],
    middleboxCommand: () => ['env', `GRPC_OPTS=${JSON.stringify(opts)}`, 'node', join(LIBS, 'grpc.mjs'), 'quiet'],
    server: () => `exec node ${join(SERVERS, 'grpc-server.mjs')}`,
  };
}

/** undici against node-http.mjs: serverKeepAliveS is the server's keepAliveTimeout (Node's own is 5 s: undici then drops its pooled socket after 3 s) */
function undiciClient(id: string, name: string, kind: 'pool' | 'fetch', serverKeepAliveS = 65): LibClient {
  return {
    id,
    name,
    probe: kind === 'pool' ? npmLib('undici') : () => ({ version: `Node ${process.version}, bundled undici ${process.versions.undici}` }),
    command: (p) => ['env', `UNDICI=${kind}`, 'node', join(LIBS, 'undici.mjs'), p],
    middleboxCommand: () => ['env', `UNDICI=${kind}`, 'node', join(LIBS, 'undici.mjs'), 'quiet'],
    server: () => `HTTP_KEEPALIVE_TIMEOUT_MS=${serverKeepAliveS * 1000} exec node ${join(SERVERS, 'node-http.mjs')}`,
  };
}

const KA = { 'grpc.keepalive_time_ms': 2000, 'grpc.keepalive_timeout_ms': 1000 };
export const LIBS_B_CLIENTS = [
  mysql2Client('mysql2', 'mysql2 pool (defaults) against MariaDB', {}),
  mysql2Client('mysql2-keepalive', 'mysql2 pool enableKeepAlive: true against MariaDB', { enableKeepAlive: true }),
  mysql2Client('mysql2-keepalive-2s', 'mysql2 pool enableKeepAlive + keepAliveInitialDelay: 2000 against MariaDB', { enableKeepAlive: true, keepAliveInitialDelay: 2000 }),
  grpcClient('grpc-js', '@grpc/grpc-js (defaults): idle = an open server stream, busy = a unary call', {}),
  grpcClient('grpc-js-keepalive', '@grpc/grpc-js keepalive_time_ms 2000, keepalive_timeout_ms 1000', KA),
  undiciClient('undici', 'undici Pool (defaults), server keep-alive 65 s', 'pool'),
  undiciClient('undici-fetch', 'Node global fetch (its bundled undici), server keep-alive 65 s', 'fetch'),
];

/**
 * Behind the middlebox only: against Node's default 5 s keep-alive server undici drops its pooled
 * socket after 3 s, so its busy run's request goes out on a new connection and exec's busy phase has
 * nothing to watch — what it shows is the middlebox row: the next call takes a fresh connection.
 */
export const LIBS_B_MIDDLEBOX_ONLY = [undiciClient('undici-server-5s', "undici Pool (defaults), server keep-alive 5 s (Node's default)", 'pool', 5)];

/** The middleboxes every library runs behind: a 6 s idle expiry that answers with a RST, and one that drops. */
export const LIBS_B_MIDDLEBOXES = ['idle-expiry:6s:reset', 'idle-expiry:6s:drop'] as const;

/** One library run behind a middlebox: quiet past its expiry, then its next call. */
export interface MiddleboxRun {
  id: string;
  client: string;
  version: string;
  middlebox: string;
  sets: string;
  /** the router's entry: kept (refreshed N times) or forgotten */
  mapping: string;
  /** what the next call met at the router */
  met: string;
  kernelAbortS: number | null;
  noticedS: number | null;
  printed?: string;
  /** the line after the failure: did the next call get through? */
  recovery?: string;
  problems: string[];
}

/** The socket options a run read back that a plain socket would not have. */
export function socketLine(r: AppReport): string {
  const o = r.options ?? {};
  const parts: string[] = [];
  if (o.SO_KEEPALIVE === 1) parts.push(`SO_KEEPALIVE=1 KEEPIDLE=${o.TCP_KEEPIDLE} KEEPINTVL=${o.TCP_KEEPINTVL} KEEPCNT=${o.TCP_KEEPCNT}`);
  if (o.TCP_USER_TIMEOUT) parts.push(`TCP_USER_TIMEOUT=${o.TCP_USER_TIMEOUT}`);
  return parts.join(' ') || '(no keepalive, no TCP_USER_TIMEOUT)';
}

const rel = (r: AppReport, t: number | undefined) => (t === undefined || r.t.origin === undefined ? null : Math.round((t - r.t.origin) * 100) / 100);
const stripT = (l: string) => l.replace(/^\[[\d.]+\] /, '').trim();

/** Every library with a middlebox command, behind each of LIBS_B_MIDDLEBOXES (the caller holds the timing lock). */
export async function runLibsBMiddlebox(found: Array<{ c: MiddleboxClient; version: string }>, tmp: string, say: (line: string) => void = () => {}): Promise<MiddleboxRun[]> {
  const extra = LIBS_B_MIDDLEBOX_ONLY.flatMap((c) => {
    const p = c.probe();
    return 'version' in p ? [{ c, version: p.version }] : [];
  });
  const todo = [...found.filter((f) => f.c.middleboxCommand), ...extra];
  let n = 0;
  const jobs = todo.flatMap(({ c, version }) =>
    LIBS_B_MIDDLEBOXES.map((mb) => async (): Promise<MiddleboxRun> => {
      const m = parseMiddlebox(mb);
      if ('error' in m) throw new Error(m.error);
      const args: ExecArgs = {
        phase: 'idle',
        fault: 'blackhole', // what exec's parser leaves with --middlebox: nobody vanishes
        family: 4,
        profile: 'fast',
        timeoutS: 60,
        graceS: 5,
        json: true,
        strace: false,
        middlebox: m,
        command: c.middleboxCommand!(tmp),
        ...(c.server ? { server: c.server(tmp, join(tmp, `mb-${c.id}-${mb.replace(/\W+/g, '-')}`)) } : {}),
      };
      const r = await runExecArgs(args);
      const p = r.path;
      const out = r.app.output.map((l) => l.text);
      const run: MiddleboxRun = {
        id: c.id,
        client: c.name,
        version,
        middlebox: mb,
        sets: socketLine(r),
        mapping: !p ? '—' : p.mapping.observed === 'kept' ? `kept (refreshed ${p.mapping.refreshes}×)` : p.mapping.observed === 'forgotten' ? `forgotten at ${p.mapping.goneWithin?.[1].toFixed(1)} s` : (p.mapping.atEnd ?? '—'),
        met: p?.met ?? '—',
        kernelAbortS: p?.notice.fromT0S ?? rel(r, r.t.kernelAbort),
        noticedS: r.unnoticed ? null : rel(r, r.t.appNoticed),
        ...(r.app.noticedLine ? { printed: stripT(r.app.noticedLine) } : {}),
        ...(out.find((l) => /recovery/.test(l)) ? { recovery: stripT(out.find((l) => /recovery/.test(l))!) } : {}),
        problems: r.problems,
      };
      say(`[${++n}/${todo.length * LIBS_B_MIDDLEBOXES.length}] ${c.name}, ${mb}: ${r.problems[0] ?? run.printed ?? run.mapping}`);
      return run;
    }),
  );
  return pool(jobs, 3);
}

const cell = (t: string) => t.replace(/\|/g, '\\|');
const s = (t: number | null | undefined) => (t === null || t === undefined ? '—' : `${t.toFixed(2)} s`);

/** What each library is, for its section: the runs' ids, its defaults and fixes in words. */
const LIBRARIES: Array<{ title: string; ids: string[]; about: string[] }> = [
  {
    title: 'mysql2 (against MariaDB)',
    ids: ['mysql2', 'mysql2-keepalive', 'mysql2-keepalive-2s'],
    about: [
      "- **Defaults:** `enableKeepAlive` is on, but with no `keepAliveInitialDelay` mysql2 calls `setKeepAlive(true, undefined)` after 'connect': Node asks TCP_KEEPIDLE 0, the kernel refuses it (EINVAL) and libuv stops before TCP_KEEPINTVL/TCP_KEEPCNT — the socket keeps the kernel's 7200 s (the rows' \"what it really sets\"; preset `mysql2`). `enableKeepAlive: true` alone changes nothing.",
      '- **Idle:** `keepAliveInitialDelay: 2000` reaches the socket (TCP_KEEPIDLE 2, libuv\'s 1 s × 10): the dead server is noticed by keepalive, as ETIMEDOUT on the query in flight and on the pool\'s connection \'error\' event (preset `mysql2-2s`).',
      '- **Busy:** no mysql2 option reaches TCP_USER_TIMEOUT: a query on a dead connection waits for tcp_retries2 (13 s here in the fast profile, ≈15 min on a default host) — its `stream` option and setsockopt do (`deadpeer recommend --client mysql2`).',
      '- **Behind a middlebox:** only a keepalive below the path\'s timeout keeps the mapping; otherwise the first query after idle meets the RST (ECONNRESET at once) or the drop (ETIMEDOUT after the retransmissions). The pool then opens a new connection: the recovery column.',
    ],
  },
  {
    title: '@grpc/grpc-js (against the gallery\'s grpc-js server)',
    ids: ['grpc-js', 'grpc-js-keepalive'],
    about: [
      '- **Defaults:** grpc-js sets no TCP option at all (no SO_KEEPALIVE, no TCP_USER_TIMEOUT; preset `grpc-js`) and sends no PING: an idle server stream on a dead connection is never noticed.',
      '- **The fix is application-level:** `grpc.keepalive_time_ms: 2000, grpc.keepalive_timeout_ms: 1000` — an HTTP/2 PING every 2 s, the connection dropped when one is not answered within 1 s; the socket shows nothing of it, and the library drops the connection long before the kernel gives up on it (idle: 2.95 s against the kernel\'s 15.7 s). It covers idle and busy alike, but only while a call is open: between calls grpc-js sends no PING unless `grpc.keepalive_permit_without_calls: 1`, so behind the middlebox the keepalive rows lose their mapping like the defaults (with drop, the PING still ends the next call after 1 s instead of the kernel\'s 13 s). The library surfaces every loss as status 14 UNAVAILABLE on the open call; the errno is only in its message (`read ECONNRESET`, `read ETIMEDOUT`), and a PING timeout says `Connection dropped`.',
      '- **The server\'s side:** a grpc-js server enforces no ping policy (1.14: no min ping interval, no `too_many_pings`); a C-core or Go server answers pings more often than its minimum (5 min by default, `grpc.http2.min_ping_interval_without_data_ms`; idle channels need `grpc.keepalive_permit_without_calls`) with GOAWAY `too_many_pings`, and the client then backs its keepalive off — a fix that must be agreed with the server.',
    ],
  },
  {
    title: 'undici (Pool) and Node\'s global fetch (against a node http server)',
    ids: ['undici', 'undici-fetch', 'undici-server-5s'],
    about: [
      '- **Defaults:** undici turns keepalive on for every socket with a 60 s delay (libuv: 60/1/10; preset `undici`, the same values Node\'s bundled undici gives global fetch): an idle dead server is noticed after ≈70 s, no TCP_USER_TIMEOUT.',
      '- **Idle:** `connect: { keepAliveInitialDelay }` sets TCP_KEEPIDLE; **busy:** nothing in undici reaches TCP_USER_TIMEOUT — a connect function wrapping `buildConnector` does (`deadpeer recommend --client undici`).',
      '- **Its own idle timeout:** undici keeps a pooled socket for the server\'s `Keep-Alive: timeout` less `keepAliveTimeoutThreshold` (2 s; 4 s when the server says nothing): against Node\'s default 5 s server it drops the socket after 3 s, so a later request opens a new connection and never meets a dead pooled one (the `server keep-alive 5 s` rows). The other rows use a 65 s server, as behind a load balancer.',
      '- **Behind a middlebox:** a pooled socket reused after the path forgot it fails its request with the errno — ECONNRESET at once (reset), ETIMEDOUT after the retransmissions (drop) — undici does not retry it on a new socket itself; the next request does take a new socket (the recovery column). UND_ERR_SOCKET (\"other side closed\") is what a FIN from the server gives, not what a forgetting path gives. Global fetch wraps it as `TypeError: fetch failed` with the errno in `cause`.',
    ],
  },
];

/** The runs these sections show, kept out of CLIENTS.md's main table. */
export const inLibsBSections = (id: string): boolean => LIBRARIES.some((l) => l.ids.includes(id));

/** docs/CLIENTS.md's library sections: per library its rows (idle, busy, behind the middleboxes) and what they show. */
export function renderLibsBSections(runs: ClientRun[], mb: MiddleboxRun[]): string {
  const lines: string[] = ['', '## Libraries: mysql2, @grpc/grpc-js, undici', ''];
  lines.push(
    'Each library runs as a small program of the gallery (examples/libs/), against its real server started in the',
    'server\'s namespace by `--server`. Idle: a call in flight the server never answers (SELECT SLEEP(3600), an open server',
    'stream, GET /hold); busy: a call on the pooled connection 3 s after the first. Behind a middlebox (`--middlebox',
    'idle-expiry:6s:reset|drop`): one call, 9 s quiet, the next call on the pooled connection — and when it failed, one more',
    '(recovery: the server never went away, so the pool must open a new connection). Times are seconds from t = 0.',
  );
  for (const lib of LIBRARIES) {
    const mine = runs.filter((r) => lib.ids.includes(r.id));
    const mbs = mb.filter((r) => lib.ids.includes(r.id));
    lines.push('', `### ${lib.title}`, '');
    if (!mine.length && !mbs.length) {
      lines.push('Not run on this machine (not installed: npm ci, and for mysql2 mariadb-server).');
      continue;
    }
    lines.push(`Versions: ${[...new Set([...mine, ...mbs].map((r) => r.version))].join('; ')}.`, '', ...lib.about, '');
    lines.push('| client | phase | what the socket holds | kernel aborted | library surfaced | what it said | next call after |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of mine) {
      const noticed = r.problems.length ? `(not run: ${r.problems[0]})` : r.noticedS === null ? `not within ${r.watchedS.toFixed(0)} s` : `${r.noticedS.toFixed(2)} s (${r.noticedBy})`;
      lines.push(`| ${cell(r.client)} | ${r.phase} | ${cell(r.sets || '(nothing)')} | ${r.problems.length ? '—' : r.kernelAbortS === null ? `not within ${r.watchedS.toFixed(0)} s` : s(r.kernelAbortS)} | ${cell(noticed)} | ${r.printed ? `\`${cell(stripT(r.printed).slice(0, 110))}\`` : '—'} | — (the server is gone) |`);
    }
    for (const r of mbs)
      lines.push(
        `| ${cell(r.client)} | ${r.middlebox}: mapping ${cell(r.mapping)} | ${cell(r.sets)} | ${r.problems.length ? `(not run: ${cell(r.problems[0]!)})` : r.printed ? s(r.kernelAbortS) : '—'} | ${r.printed ? s(r.noticedS) : '—'} | ${r.printed ? `\`${cell(r.printed.slice(0, 110))}\`` : '— (the call got through)'} | ${r.recovery ? cell(r.recovery) : r.printed ? '— (not seen: exec ends the program 0.5 s after it noticed)' : '—'} |`,
      );
  }
  return lines.join('\n') + '\n';
}

/**
 * `npm run clients -- --only ID,…`: the rows of just those clients, without running the rest —
 * docs/CLIENTS.md keeps its table and gets the library section anew; the verified presets keep
 * theirs and gain the ones these runs back. The full `npm run clients` rewrites both whole.
 */
export function writeOnly(runs: ClientRun[], mb: MiddleboxRun[], date: string): void {
  const md = join(ROOT, 'docs', 'CLIENTS.md');
  const old = readFileSync(md, 'utf8');
  const cut = old.indexOf('\n## Libraries: mysql2, @grpc/grpc-js, undici');
  const note = `\n_The section below: \`npm run clients -- --only ${[...new Set(runs.map((r) => r.id))].join(',')}\` on ${date}, kernel ${release()}, profile fast._\n`;
  writeFileSync(md, (cut < 0 ? old : old.slice(0, cut)).trimEnd() + '\n' + note + renderLibsBSections(runs, mb));
  const backed = verifiedPresets(runs, date);
  const verified = { ...VERIFIED, ...backed };
  // a preset none of these runs could back keeps its reason; the others' come from these runs
  const ran = new Set(runs.map((r) => r.id));
  const fresh = unbackedReasons(runs);
  const unbacked: Record<string, string> = {};
  for (const p of PRESETS) {
    const why = p.backedBy?.some((b) => ran.has(b.client)) ? fresh[p.name] : UNBACKED[p.name];
    if (!verified[p.name] && why) unbacked[p.name] = why;
  }
  writeFileSync(join(ROOT, 'harness', 'apps', 'check', 'verified.ts'), renderVerifiedModule(verified, unbacked));
}
