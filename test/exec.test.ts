import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppReport } from '../harness/apps/exec/run.js';
import type { AppPath } from '../harness/apps/exec/path.js';
import { kernelCases, timeoutFor } from '../harness/vitest/cases.js';
import { ROOT } from '../harness/core/paths.js';
import { windows } from '../harness/judge/verdict.js';
import { listNamespaces } from '../netns/namespace.js';
import { inUserNamespace } from '../netns/userns.js';
import { PG_CLIENT_CONN, PG_LOCAL_CONN, pgMissing, pgReadyWait, pgServerCommand, pgTemplate } from '../bench/postgres.js';

/**
 * `deadpeer exec` on programs nobody in deadpeer configured: the example Node client (which only
 * calls setKeepAlive(true, 5000)) and the example Python client (the reference's options). The
 * options asserted are what the programs set themselves, read back from their sockets; the close
 * times are the kernel's, judged against the model for those options with the timer-wheel window.
 */
const BIN = join(ROOT, 'bin', 'deadpeer.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'exec.js'));
const strace = existsSync('/usr/bin/strace');
const rootless = inUserNamespace();
const folders: string[] = [];
afterAll(() => folders.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function exec(args: string[], command: string[]) {
  const results = mkdtempSync(join(tmpdir(), 'deadpeer-exec-'));
  folders.push(results);
  const sub = execa('node', [BIN, 'exec', ...args, '--', ...command], { reject: false, cwd: ROOT, env: { DEADPEER_RESULTS: results } });
  const r = await sub;
  return { ...r, results, pid: sub.pid!, report: args.includes('--json') && r.stdout ? (JSON.parse(r.stdout) as AppReport & { noticed: boolean }) : undefined };
}

/** The kernel's abort, from t = 0 of the phase, inside the model's window for the close. */
function expectKernelAbortPerModel(r: AppReport): void {
  const p = r.prediction!;
  const [lo, hi] = windows(p, r.kernel.hz).close!;
  const abort = r.t.kernelAbort! - r.t.origin!;
  expect(abort).toBeGreaterThanOrEqual(lo);
  expect(abort).toBeLessThanOrEqual(hi);
}

describe.runIf(built)('deadpeer exec', () => {
  kernelCases('a real program under test (fast profile)', () => {
    it('--fault blip:5s: the helpers heal it at its planned moment, the program carries on (the probe after the heal is answered)', { timeout: timeoutFor(15) }, async () => {
      const { report: r, exitCode } = await exec(['--phase', 'idle', '--fault', 'blip:5s', '--json'], ['node', 'examples/node-client.mjs', 'idle']);
      expect(r!.problems).toEqual([]);
      const b = r!.blip!;
      expect(b.due).toBeCloseTo(r!.t.fault! + 5, 6);
      expect(b.healed).toBeGreaterThanOrEqual(b.due!);
      expect(r!.cannotJudge).toBeUndefined();
      expect(b.predicted).toBe('survives');
      expect(exitCode).toBe(0);
    });

    it('Node client, idle: keepalive as libuv sets it (5/1/10), kernel abort per the model, ETIMEDOUT seen by the program', { timeout: timeoutFor(25) }, async () => {
      const { report: r, exitCode } = await exec(['--phase', 'idle', '--json'], ['node', 'examples/node-client.mjs', 'idle']);
      expect(exitCode).toBe(0);
      expect(r!.problems).toEqual([]);
      expect(r!.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 10, TCP_USER_TIMEOUT: 0 });
      expect(r!.presets).toContain('node-keepalive-5s');
      if (strace) expect(r!.asked).toContainEqual({ opt: 'TCP_KEEPIDLE', value: '5', result: '0' });
      expect(r!.prediction!.closeAt).toBe(5 + 10 * 1);
      expectKernelAbortPerModel(r!);
      expect(r!.kernelHow).toMatch(/sent an RST/);
      expect(r!.app).toMatchObject({ errno: 'ETIMEDOUT', errnoFrom: 'name' });
      // Node prints the error and destroys the socket in the same tick: whichever we saw first
      expect(['output', 'fd closed']).toContain(r!.app.noticedBy);
      expect(r!.unnoticed).toBe(false);
    });

    it('Python client, busy: the reference’s options (U = 14 s), kernel abort per the model, ETIMEDOUT seen by the program', { timeout: timeoutFor(25) }, async () => {
      const { report: r, exitCode } = await exec(['--phase', 'busy', '--json'], ['python3', 'examples/python-client.py', 'busy']);
      expect(exitCode).toBe(0);
      expect(r!.problems).toEqual([]);
      expect(r!.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3, TCP_USER_TIMEOUT: 14000 });
      expect(r!.presets).toEqual(['reference']);
      if (strace) expect(r!.asked!.map((a) => a.opt)).toEqual(['SO_KEEPALIVE', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_KEEPCNT', 'TCP_USER_TIMEOUT']);
      expectKernelAbortPerModel(r!);
      expect(r!.app.errno).toBe('ETIMEDOUT');
      expect(r!.t.appNoticed! - r!.t.kernelAbort!).toBeLessThan(1);
    });

    it('Python client, idle, peer reset: the first keepalive probe is answered with an RST, ECONNRESET', { timeout: timeoutFor(20) }, async () => {
      const { report: r, exitCode } = await exec(['--phase', 'idle', '--fault', 'peer-reset', '--json'], ['python3', 'examples/python-client.py', 'idle']);
      expect(exitCode).toBe(0);
      expect(r!.kernelHow).toMatch(/the peer answered with an RST/);
      // the probe goes out at TCP_KEEPIDLE (what the program set), the RST kills it there
      expect(r!.t.kernelAbort! - r!.t.origin!).toBeGreaterThanOrEqual(r!.options!.TCP_KEEPIDLE!);
      expect(r!.t.kernelAbort! - r!.t.origin!).toBeLessThan(r!.options!.TCP_KEEPIDLE! + r!.options!.TCP_KEEPINTVL!);
      expect(r!.app.errno).toBe('ECONNRESET');
      expect(r!.expectedErrno).toBe('ECONNRESET');
    });

    it('--server that forks a child into a session of its own (as PostgreSQL’s backends are): when exec returns, it is gone too', { timeout: timeoutFor(15) }, async () => {
      const marker = `${600 + (process.pid % 97)}.${Date.now() % 1000}`;
      const server = `setsid sleep ${marker} & exec python3 -m http.server --bind "$DEADPEER_LISTEN_HOST" "$DEADPEER_PORT"`;
      const { report: r } = await exec(['--phase', 'idle', '--fault', 'peer-reset', '--server', server, '--json'], ['node', 'examples/node-client.mjs', 'idle']);
      expect(r!.problems).toEqual([]);
      const ps = (await execa('ps', ['-eo', 'args='], { reject: false })).stdout;
      expect(ps.split('\n').filter((l) => l.includes(`sleep ${marker}`))).toEqual([]);
    });

    it('a program that never notices: the kernel killed the socket, the program still holds it', { timeout: timeoutFor(25) }, async () => {
      // sleeps with its socket open and never looks at it
      const sleeper = "import socket,os,time; s=socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 2000); h,p=os.environ['DEADPEER_SERVER'].rsplit(':',1); s.connect((h,int(p))); time.sleep(3); s.send(b'x'); time.sleep(60)";
      const { report: r, exitCode, stdout } = await exec(['--phase', 'busy', '--grace', '2s', '--json'], ['python3', '-c', sleeper]);
      expect(exitCode).toBe(1);
      expect(r!.t.kernelAbort).toBeDefined();
      expect(r!.unnoticed).toBe(true);
      expect(r!.t.appNoticed).toBeUndefined();
      expect(stdout).toContain('"unnoticed":true');
    });
  });

  kernelCases('--middlebox: the path forgets the idle connection, the program’s own next request meets it', () => {
    // examples/middlebox-client.py: connects, is quiet 9 s, sends one request and waits for the answer
    // (the builtin server echoes behind a middlebox); the router forgets after 6 s
    const MB = ['--phase', 'idle', '--middlebox', 'idle-expiry:6s:reset', '--json'];
    const client = ['python3', 'examples/middlebox-client.py', '9'];
    type PathReport = AppReport & { noticed: boolean; survived?: boolean; path: Omit<AppPath, 'serverLeg'> & { serverLeg: number } };

    it('no keepalive, reset: the entry goes at 6 s, the request at 9 s meets the router’s RST, ECONNRESET at once — as the model says', { timeout: timeoutFor(15) }, async () => {
      const { report, exitCode } = await exec(MB, client);
      const r = report as PathReport;
      expect(r.problems).toEqual([]);
      expect(exitCode).toBe(0);
      const p = r.path;
      expect(p.middlebox).toMatchObject({ idleTimeoutS: 6, mode: 'reset', kind: 'firewall' });
      expect(p.predicted!.mapping.kept).toBe('no');
      expect(p.mapping).toMatchObject({ observed: 'forgotten', model: 'no', verdict: 'agree' });
      const [after, by] = p.mapping.goneWithin!;
      expect(by).toBeGreaterThan(6 - 0.02);
      expect(after).toBeLessThan(6 + 0.02);
      expect(p.trigger).toMatchObject({ kind: 'DATA', reachedServer: false });
      expect(p.trigger!.atS).toBeGreaterThan(8.9);
      expect(p.counters['forgotten flow (forward)']).toBeGreaterThan(0);
      expect(p.notice).toMatchObject({ modelErrno: 'ECONNRESET', verdict: 'agree' });
      // at once: the socket was gone within (after, by] of the trigger, and still there no later than
      // 50 ms after it (a round trip through the router is < 1 ms; a sock_diag lookup that came late
      // — a rootless helper is not SCHED_FIFO — widens the interval, it does not move the abort)
      const [stillThere, goneBy] = p.notice.abortWithinS!;
      expect(goneBy).toBeGreaterThan(0);
      expect(stillThere).toBeLessThan(0.05);
      expect(r.app.errno).toBe('ECONNRESET');
      expect(p.server.state).toBe('ESTABLISHED');
    });

    it('keepalive 2/1/3: every probe refreshes the entry, the request at 9 s is acknowledged and answered — mapping kept, as the model says', { timeout: timeoutFor(15) }, async () => {
      const { report, exitCode } = await exec(MB, ['env', 'KEEPALIVE=2:1:3', ...client]);
      const r = report as PathReport;
      expect(r.problems).toEqual([]);
      expect(exitCode).toBe(0);
      expect(r.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 3 });
      const p = r.path;
      expect(p.mapping).toMatchObject({ observed: 'kept', model: 'yes', verdict: 'agree', atEnd: 'present' });
      expect(p.mapping.refreshes).toBeGreaterThanOrEqual(3);
      expect(p.write).toMatchObject({ acknowledged: true });
      expect(p.trigger).toBeUndefined();
      expect(p.notice.verdict).toBe('agree');
      expect(r.survived).toBe(true);
      expect(r.t.kernelAbort).toBeUndefined();
      expect(r.app.output.map((l) => l.text)).toContain("answered: 'GET /answer'");
    });
  });

  kernelCases('--user: the program under test not as root', () => {
    it.runIf(!rootless)('--user nobody: it runs as that user, and its socket is still read through pidfd_getfd', { timeout: timeoutFor(10) }, async () => {
      // where that user can read it, whoever owns the checkout
      const dir = mkdtempSync(join(tmpdir(), 'deadpeer-user-'));
      folders.push(dir);
      copyFileSync(join(ROOT, 'examples', 'node-client.mjs'), join(dir, 'client.mjs'));
      chmodSync(dir, 0o755);
      const { report: r, exitCode } = await exec(['--phase', 'idle', '--fault', 'peer-reset', '--user', 'nobody', '--json'], [process.execPath, join(dir, 'client.mjs'), 'idle']);
      expect(exitCode).toBe(0);
      expect(r!.user).toEqual({ name: 'nobody', uid: 65534 });
      expect(r!.connection!.uid).toBe(65534); // the process holding the socket, from /proc
      expect(r!.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 10 });
      if (strace) expect(r!.asked).toContainEqual({ opt: 'TCP_KEEPIDLE', value: '5', result: '0' });
      expect(r!.app.errno).toBe('ECONNRESET');
    });

    // a guard, not a tolerance: one CLI process, whose node start takes seconds while the tools group runs PostgreSQL beside it
    it.runIf(!rootless)('--user with a user the system does not know: one line, exit 2, nothing made', { timeout: 30_000 }, async () => {
      const r = await exec(['--phase', 'idle', '--user', 'no-such-user-dp'], ['true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe('deadpeer exec: --user: no such user "no-such-user-dp" (a name or uid that getent passwd knows)');
      expect(readdirSync(r.results)).toEqual([]);
    });

    it.runIf(rootless)('rootless, --user is refused in one line (only uid 0 exists in the run’s user namespace, and the program is not root anyway)', { timeout: 30_000 }, async () => {
      const r = await exec(['--phase', 'idle', '--user', 'nobody'], ['true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^deadpeer exec: --user needs root: rootless, the program already runs as you .* — drop --user$/);
      expect(readdirSync(r.results)).toEqual([]);
    });
  });

  kernelCases('--role server: a real PostgreSQL holding a dead client’s lock', () => {
    const missing = pgMissing();
    // psql takes the lock inside a transaction and stays idle in it, its session open (stdin held by sleep)
    // (once the server accepts logins: it listens before it has finished starting)
    const client = (run: string) => `${pgReadyWait(run)}; conn="${PG_CLIENT_CONN}"; (echo "CREATE TABLE IF NOT EXISTS t (x int); BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT 'locked';"; sleep 3600) | psql -X -q -At "$conn"`;
    // free = another session can take the same lock at once
    const RELEASED = `psql -X -q "${PG_LOCAL_CONN}" -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE NOWAIT; COMMIT" >/dev/null 2>&1`;
    const pg = (settings: Record<string, number>) => {
      const dir = mkdtempSync(join(tmpdir(), 'deadpeer-pg-'));
      folders.push(dir);
      chmodSync(dir, 0o755); // PostgreSQL runs as postgres (root) and must reach its copy
      return { dir, server: pgServerCommand(pgTemplate(dir), join(dir, 'run'), settings), client: client(join(dir, 'run')) };
    };
    // PostgreSQL's processes of this run (the postmaster names its data directory; backends are its children)
    const postgresLeft = async (dir: string) => {
      const ps = (await execa('ps', ['-eo', 'pid=,ppid=,comm=,args='], { reject: false })).stdout.split('\n').map((l) => l.trim().split(/\s+/));
      const roots = ps.filter((f) => f[2] === 'postgres' && f.join(' ').includes(dir)).map((f) => f[0]);
      return ps.filter((f) => f[2] === 'postgres' && (roots.includes(f[0]) || roots.includes(f[1]))).map((f) => f.join(' '));
    };

    it.skipIf(!!missing)('tcp_keepalives 2/1/2, idle in a transaction holding a lock: the kernel aborts the backend’s socket at ≈ 4 s as the model says, the backend exits, the lock goes', { timeout: timeoutFor(30) }, async () => {
      const { dir, server, client: CLIENT } = pg({ tcp_keepalives_idle: 2, tcp_keepalives_interval: 1, tcp_keepalives_count: 2 });
      const { report: r, exitCode, stdout } = await exec(['--role', 'server', '--phase', 'idle', '--fault', 'blackhole', '--client', CLIENT, '--released', RELEASED, '--json'], ['sh', '-c', server]);
      expect(r!.problems).toEqual([]);
      expect(exitCode).toBe(0);
      expect(r!.role).toBe('server');
      // the backend (a child of the postmaster) holds the accepted socket, with what postgres set on it
      expect(r!.serverSide!.holder!.comm).toBe('postgres');
      // as root it runs as postgres; rootless as the invoking user (uid 0 of deadpeer's user namespace)
      expect(r!.connection!.uid).toBe(rootless ? 0 : Number((await execa('id', ['-u', 'postgres'])).stdout));
      expect(r!.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 2 });
      expect(r!.prediction!.closeAt).toBe(2 + 2 * 1);
      expectKernelAbortPerModel(r!);
      expect(r!.serverSide!.verdict).toBe('agree');
      const { origin, kernelAbort, serverReleased, serverReleasedAfter, released, releasedAfter } = r!.t;
      for (const t of [origin, kernelAbort, serverReleased, serverReleasedAfter, released, releasedAfter]) expect(typeof t).toBe('number');
      expect(stdout).toMatch(/"kernelAbort":[\d.]+/);
      // the backend let go in (serverReleasedAfter, serverReleased] (deadpeer's 20 ms polls: a late
      // one widens the interval); that interval lies after the abort and reaches within 1 s of it
      expect(serverReleased!).toBeGreaterThanOrEqual(kernelAbort!);
      expect(serverReleasedAfter!).toBeLessThan(kernelAbort! + 1);
      expect(r!.serverSide!.releasedBy).toBe('exit');
      // the lock goes when the backend aborts the transaction, just before it exits: it went in
      // (releasedAfter, released] — the start of the last probe that failed, the end of the first
      // that got it. How narrow that is depends on how fast psql runs on the machine (seconds under
      // load), which is not the kernel's answer.
      // (a probe that fails says "held" for any failure — a psql slow to connect under load too — so
      // releasedAfter bounds the release only from below, never past the backend's exit)
      expect(released!).toBeGreaterThan(kernelAbort!);
      // the lock goes a moment before the exit, so not before the last poll that saw the backend hold its socket (but for that moment)
      expect(released!).toBeGreaterThanOrEqual(serverReleasedAfter! - 0.15);
      // nothing it started outlives it
      expect(await postgresLeft(dir)).toEqual([]);
    });

    it.skipIf(!!missing)('the defaults: keepalive from the namespace’s sysctls (7200/75/9): the lock would be held ≈ 2 h 11 min, predicted, not run', { timeout: timeoutFor(20) }, async () => {
      const a = pg({});
      const { report: r, exitCode, stdout, stderr } = await exec(['--role', 'server', '--phase', 'idle', '--client', a.client, '--released', RELEASED], ['sh', '-c', a.server]);
      expect(exitCode, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(/would hold the dead client — and what it holds — ≈ 2 h 11 min \(predicted, not run\)/);
      expect(r).toBeUndefined();
      const b = pg({});
      const { report: j, stderr: jErr } = await exec(['--role', 'server', '--phase', 'idle', '--client', b.client, '--json'], ['sh', '-c', b.server]);
      expect(j?.problems, `${jErr}\n${JSON.stringify({ client: j?.serverSide?.clientOutput, server: j?.app.output })}`).toEqual([]);
      expect(j!.options).toMatchObject({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 7200, TCP_KEEPINTVL: 75, TCP_KEEPCNT: 9 });
      expect(j!.prediction!.closeAt).toBe(7200 + 9 * 75);
      expect(j!.serverSide).toMatchObject({ verdict: 'not run' });
      expect(j!.t.fault).toBeUndefined();
      expect(await postgresLeft(a.dir)).toEqual([]);
      expect(await postgresLeft(b.dir)).toEqual([]);
    });
  });

  // 30 s is a guard, not a tolerance (no time is asserted): these CLI processes start together, and
  // a node start takes seconds while the tools group runs PostgreSQL and the libraries beside them
  // (a soak run once saw five of them pass 10 s)
  describe.concurrent('bad input: one line on stderr, exit 2, nothing left behind', { timeout: 30_000 }, () => {
    it.each([
      [['--phase', 'halfopen', '--', 'true'], /^deadpeer exec: --phase: unknown phase "halfopen"/],
      [['--phase', 'idle'], /^deadpeer exec: no client command: put it after --/],
      [['--', 'true'], /^deadpeer exec: --phase is required/],
      [['--phase', 'idle', '--fault', 'meteor', '--', 'true'], /^deadpeer exec: --fault: "meteor" is not allowed/],
      [['--phase', 'idle', '--timeout', 'abc', '--', 'true'], /^deadpeer exec: --timeout: "abc" is not allowed/],
    ])('%j', async (argv, message) => {
      const dash = argv.indexOf('--');
      const r = await exec(dash < 0 ? argv : argv.slice(0, dash), dash < 0 ? [] : argv.slice(dash + 1));
      expect(r.exitCode).toBe(2);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(readdirSync(r.results)).toEqual([]);
      expect((await listNamespaces()).filter((n) => n.startsWith(`dp-${r.pid}x`))).toEqual([]);
    });
  });
});
