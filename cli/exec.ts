/**
 * `deadpeer exec`: run a real program against a server that vanishes, and report when the kernel
 * killed its connection, when (and whether) the program noticed, with which errno, and which
 * socket options it really used.
 */
import { humanDuration } from '../harness/apps/check/advice.js';
import { findPreset } from '../harness/apps/check/presets.js';
import { type ExecArgs, execArgsFrom, execSysctls } from '../harness/apps/exec/args.js';
import { joinNegativeValues, parseOnce } from '../harness/apps/parse-args.js';
import { runExecArgs, toExecReport } from '../harness/apps/exec/exec.js';
import type { AppLine, AppReport } from '../harness/apps/exec/run.js';
import type { AppPath } from '../harness/apps/exec/path.js';
import { type ProgramUser, resolveProgramUser } from '../harness/apps/exec/user.js';
import { InputError } from '../harness/core/errors.js';
import { PHASE_ORIGIN } from '../harness/recipes/phases.js';
import { preflightProblem } from '../harness/suite/preflight.js';
import { acquireTimingLock } from '../harness/suite/timing-lock.js';
import { oneLine } from '../harness/core/one-line.js';

export { execSysctls };

export const EXEC_USAGE = `usage: deadpeer exec --phase connect|idle|busy|zero-window [--fault blackhole|host-vanished|peer-reset|blip:D]
                     [--middlebox NAME|idle-expiry:D:drop|reset[:nat|firewall]]
                     [--server CMD] [--family 4|6] [--profile fast|faithful] [--timeout D] [--grace D]
                     [--max-notice D] [--user NAME]
                     [--json] [--no-strace] -- <client command…>
       deadpeer exec --role server --phase idle|busy|zero-window [--fault blackhole|host-vanished]
                     [--client CMD] [--released CMD] [--family 4|6] [--profile fast|faithful]
                     [--timeout D] [--grace D] [--json] -- <server command…>

Runs the client command inside a fresh network namespace with DEADPEER_SERVER=host:port (also
DEADPEER_HOST, DEADPEER_PORT) pointing at a server in another one, finds the program's connection
through the kernel (sock_diag), reads the options it really set (pidfd_getfd + getsockopt), makes
the peer vanish once the connection is in the phase, and reports when the kernel aborted the
socket and when the program noticed (exit, closed fd, an error printed) — or that it did not.

  --phase P        connect: the server never answers the SYN; idle: the peer vanishes once the
                   connection is quiet; busy: the peer vanishes while quiet and the program's next
                   write is never acknowledged; zero-window: the server (small receive buffer)
                   never reads, the window closes, then the peer vanishes
  --fault F        blackhole (default): nothing gets through; host-vanished: ARP / neighbour
                   discovery unanswered too (the kernel may report EHOSTUNREACH); peer-reset: the
                   peer answers with RST, as after a reboot; blip:5s: a blackhole that heals after
                   5 s — the program passes (exit 0) by surviving it
  --middlebox M    phase idle only, not with --fault: the peer does not vanish — a router on the path
                   (the kernel's conntrack) forgets the connection once it has been idle M's timeout,
                   and the program's own next request meets that (a RST, or silence); the report says
                   whether its keepalive kept the mapping (the router's table), what its next request
                   met, how long its socket took to notice, and what the model says. The builtin server
                   echoes what it reads, so a request that gets through is answered. A timeout the run
                   cannot hold (--timeout, else 300s fast / 1200s faithful) is predicted for the
                   program's socket and not run. Presets: aws-nat-gateway, aws-nlb, azure-lb,
                   gcp-vpc-firewall, gcp-cloud-nat, linux-conntrack
  --server CMD     a shell command run in the server's namespace (it gets DEADPEER_LISTEN=host:port);
                   default: a builtin server that accepts and never answers (never reads for zero-window)
  --profile        fast (default): the client's namespace gets tcp_syn_retries=3, tcp_retries2=5
                   (and short neighbour timers for host-vanished); faithful: the kernel's defaults
  --timeout D      longest wait for the kernel to abort after the phase starts, above 0 and at most
                   1440m (default: the model's time + 25% + 10 s)
  --grace D        how long the program gets to notice once the kernel aborted (default 5s)
  --max-notice D   CI gate: exit 1 unless the program noticed within D of t = 0 (--middlebox: of its
                   next request after the mapping was forgotten)
  --no-strace      don't record the program's setsockopt calls (strace, when installed)
  --user NAME      run the program as that user (a name or uid), not as root; root only (rootless,
                   it already runs as you)

The server's half (--role server): the command is the SERVER, started in the server's namespace
with DEADPEER_LISTEN=host:port (DEADPEER_LISTEN_HOST, DEADPEER_PORT); a client connects, brings the
connection to the phase and vanishes. Reported on one clock, from t = 0 of the phase: the accepted
socket's options as the server's process holds them (pidfd_getfd in whichever process holds it — a
forked child too), the model's abort for them, the kernel's abort of that socket (sock_diag), when
the server let go of it (no process holds its fd: closed, or the process exited), and when the
resource was released (--released).
  --client CMD     a shell command run in the client's namespace (DEADPEER_SERVER, DEADPEER_HOST,
                   DEADPEER_PORT), e.g. a psql session that takes a lock and stays idle in it;
                   default: a builtin client that connects and reads. idle: it vanishes once the
                   connection is quiet; busy: once the server sends (the server must send: a --client
                   that asks for a stream, or a server that sends on its own); zero-window: the client
                   stops reading (a --client is SIGSTOPped, the builtin never reads), the window
                   closes, then it vanishes
  --released CMD   a shell command run in the server's namespace every 100 ms: exit 0 = the
                   resource the client held is free. It must fail once the client is connected
                   (15 s to take the resource), and is run again once the client vanished
  --timeout D      the run's budget: a model's abort beyond it (default 300s fast, 1200s faithful)
                   is predicted, not run; given, the run also watches a server the kernel would never
                   free (its own timeouts) for D
  The fast profile's sysctls go to the server's namespace. Exit: 0 the server let go (and --released
  succeeded), or predicted only; 1 not.

Each option at most once (a second one is refused, not a correction of the first).
Exit: 0 the program noticed the dead peer (within --max-notice), 1 it did not (or the experiment could
not run), 2 bad input. --middlebox: 0 also when the mapping was kept and the connection came through,
or when only predicted.
`;

const OPTIONS = {
  phase: { type: 'string' },
  fault: { type: 'string' },
  server: { type: 'string' },
  family: { type: 'string' },
  profile: { type: 'string' },
  timeout: { type: 'string' },
  grace: { type: 'string' },
  'max-notice': { type: 'string' },
  json: { type: 'boolean' },
  'no-strace': { type: 'boolean' },
  user: { type: 'string' },
  middlebox: { type: 'string' },
  role: { type: 'string' },
  client: { type: 'string' },
  released: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every flag `deadpeer exec` takes (the option-walk test tries each one). */
export const EXEC_FLAGS = Object.keys(OPTIONS).map((o) => `--${o}`);

const NO_COMMAND = 'no client command: put it after --, e.g. deadpeer exec --phase idle -- node client.js';

export type ParsedExecArgs = { kind: 'help' } | { kind: 'args'; args: ExecArgs } | { kind: 'error'; message: string };

/** Parse `deadpeer exec` argv (without "exec"). Never throws. */
export function parseExecArgs(argv: string[]): ParsedExecArgs {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  let values;
  try {
    ({ values } = parseOnce({ args: joinNegativeValues(own), allowPositionals: false, strict: true, options: OPTIONS }));
  } catch (e) {
    if (e instanceof InputError) return { kind: 'error', message: e.message };
    const m = /Unknown option '([^']+)'|Unexpected argument '([^']+)'/.exec(String((e as Error).message));
    if (m?.[1]) return { kind: 'error', message: `unknown option "${m[1]}": allowed options are ${Object.keys(OPTIONS).map((o) => `--${o}`).join(' ')}` };
    if (m?.[2]) return { kind: 'error', message: `unexpected argument "${m[2]}": put the client command after --` };
    return { kind: 'error', message: String((e as Error).message).split('\n')[0]! };
  }
  if (values.help) return { kind: 'help' };
  try {
    const { 'no-strace': noStrace, json, ...rest } = values;
    return { kind: 'args', args: execArgsFrom({ ...rest, strace: !noStrace }, command, (f) => `--${f}`, !!json, NO_COMMAND) };
  } catch (e) {
    if (e instanceof InputError) return { kind: 'error', message: e.message };
    throw e;
  }
}

/** Closer than this, the program's reaction and the kernel's abort are one event seen twice. */
const SAME_MOMENT_S = 0.02;

const rel = (r: AppReport, t: number | undefined) => (t === undefined || r.t.origin === undefined ? '' : (t - r.t.origin).toFixed(3).padStart(9));

/** The human report. */
export function renderExec(r: AppReport, a: ExecArgs): string {
  if (r.role === 'server') return renderServerExec(r, a);
  const lines: string[] = [];
  const sysctls = execSysctls(a);
  const how = r.path ? `middlebox ${r.path.middlebox.name}` : `fault ${r.blip ? `blip ${humanDuration(r.blip.seconds)}` : r.fault}`;
  lines.push(`deadpeer exec: ${r.command.join(' ')} — phase ${r.phase}, ${how}, IPv${r.family}, kernel ${r.kernel.release} (HZ ${r.kernel.hz})`);
  lines.push(
    `  profile ${a.profile}${Object.keys(sysctls).length ? `: the client's namespace runs with ${Object.entries(sysctls).map(([k, v]) => `${k.replace(/^net\.ipv[46]\./, '')}=${v}`).join(', ')}` : ": the kernel's default sysctls"}`,
  );
  lines.push(`  server: ${r.server === 'builtin' ? (r.path ? 'builtin (accepts, echoes what it reads)' : 'builtin (accepts, never answers)') : r.server}`);
  if (r.user) lines.push(`  the program runs as ${r.user.name} (uid ${r.user.uid}), not as root`);
  if (r.connection) lines.push(`  the program's connection: ${r.connection.src}:${r.connection.sport} → ${r.connection.dst}:${r.connection.dport} (pid ${r.connection.pid}, fd ${r.connection.fd}${r.connection.uid !== undefined ? `, uid ${r.connection.uid}` : ''})`);
  if (r.options) {
    lines.push('', '  socket option       asked for (setsockopt)      really has (getsockopt)');
    const names = ['SO_KEEPALIVE', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_KEEPCNT', 'TCP_USER_TIMEOUT', 'TCP_SYNCNT', 'TCP_NODELAY', 'SO_RCVBUF', 'SO_SNDBUF'];
    for (const n of names) {
      const asked = (r.asked ?? [])
        .filter((x) => x.opt === n)
        .map((x) => (x.result === '0' ? x.value : `${x.value} → ${x.result}`))
        .join(', ');
      const has = r.options[n];
      lines.push(`  ${n.padEnd(18)}  ${(asked || (r.asked ? '—' : '(not recorded)')).padEnd(26)}  ${has ?? '—'}`);
    }
    const failed = (r.asked ?? []).filter((x) => x.result !== '0');
    for (const f of failed) lines.push(`  ! setsockopt(${f.opt}, ${f.value}) failed with ${f.result}: the program asked for it and did not get it`);
    lines.push(
      r.presets.length
        ? `  matches preset: ${r.presets.map((p) => `${p} (${findPreset(p)!.title})`).join(', ')}`
        : '  matches no preset (deadpeer check --list-presets)',
    );
  }
  if (r.path) lines.push(...renderPath(r, r.path));
  else if (r.t.origin !== undefined) {
    lines.push('', `  timeline, seconds from t = 0 = ${PHASE_ORIGIN[r.phase]}:`);
    const ev: [number, string][] = [];
    if (r.t.fault !== undefined) ev.push([r.t.fault, r.blip ? `the network went dark (a ${humanDuration(r.blip.seconds)} blip)` : `peer vanished (${r.fault})`]);
    if (r.blip?.healed !== undefined) ev.push([r.blip.healed, 'the network healed']);
    if (r.t.kernelAbort !== undefined) ev.push([r.t.kernelAbort, `the kernel aborted the socket: ${r.kernelHow}`]);
    if (r.t.appNoticed !== undefined && r.app.noticedBy !== 'exit') ev.push([r.t.appNoticed, `the program noticed (${r.app.noticedBy}${r.app.noticedLine ? `: "${r.app.noticedLine}"` : ''})`]);
    if (r.t.exit !== undefined) ev.push([r.t.exit, `the program exited (${r.app.signal ?? `code ${r.app.exitCode}`})`]);
    for (const [t, what] of ev.sort((x, y) => x[0] - y[0])) lines.push(`  ${rel(r, t)}  ${what}`);
    const p = r.prediction;
    if (p) lines.push(`  model for these options${r.fault === 'peer-reset' ? ' (were the peer silent)' : ''}: ${p.closeAt === null ? 'never noticed by the kernel' : `${p.errno} at ${p.closeAt.toFixed(3)} s`}`);
  }
  lines.push('');
  if (r.problems.length) lines.push(...r.problems.map((x) => `  ! ${x}`));
  if (r.t.kernelAbort === undefined && !r.problems.length && !r.path) {
    lines.push(`  the kernel had not aborted the socket after ${humanDuration(r.t.end - (r.t.origin ?? r.t.start))}${r.prediction?.closeAt === null ? ' (as the model says: never)' : ''}`);
  }
  if (r.t.kernelAbort !== undefined && r.t.appNoticed !== undefined) {
    const d = r.t.appNoticed - r.t.kernelAbort;
    // sock_diag is polled every 5 ms: a program woken by the abort itself can be seen a few ms "before" it
    lines.push(
      d >= -SAME_MOMENT_S
        ? `  the program noticed ${Math.max(0, d).toFixed(3)} s after the kernel`
        : `  the program gave up ${(-d).toFixed(3)} s BEFORE the kernel (its own timeout)`,
    );
  }
  if (r.cannotJudge) lines.push(`  ? CANNOT JUDGE: ${r.cannotJudge}`);
  else if (r.blip) {
    const came = !r.problems.length && r.t.kernelAbort === undefined && r.t.appNoticed === undefined;
    lines.push(
      `  blip: the model says the connection ${r.blip.predicted === 'survives' ? 'survives it' : r.blip.predicted === 'dies' ? 'does not survive it' : 'may or may not survive it (too close to call)'}; ` +
        (came ? 'it SURVIVED: the kernel kept it and the program carried on' : 'it did NOT survive'),
    );
  }
  if (r.unnoticed) {
    lines.push(`  ! UNNOTICED: the kernel killed the socket ${rel(r, r.t.kernelAbort).trim()} s after t = 0, but the program still holds it (fd ${r.connection?.fd}) and has shown nothing for ${humanDuration(r.t.end - r.t.kernelAbort!)}`);
  }
  if (r.app.errno) {
    lines.push(`  errno seen by the program: ${r.app.errno}${r.app.errnoFrom === 'message' ? ' (recognised from the message text only: the program hides the errno name)' : ''}; expected ${r.expectedErrno ?? '—'}`);
  } else if (r.t.appNoticed !== undefined && (!r.path || r.t.kernelAbort !== undefined)) {
    lines.push(`  ! the program does not show the errno (expected ${r.expectedErrno ?? '—'}): ${r.app.noticedLine ? `it printed "${r.app.noticedLine}"` : `exit ${r.app.signal ?? `code ${r.app.exitCode}`} and no error text`}`);
  }
  if (r.fault === 'host-vanished') lines.push('  host vanished: once the neighbour entry fails the kernel may report EHOSTUNREACH instead of ETIMEDOUT');
  lines.push(`  artifacts: ${r.artifacts.dir}`);
  if (a.maxNoticeS !== undefined) {
    const g = toExecReport(r, a.maxNoticeS);
    const from = r.path?.trigger?.t ?? r.t.origin;
    const at = r.t.appNoticed !== undefined && from !== undefined ? `noticed ${r.path?.trigger ? `${(r.t.appNoticed - from).toFixed(3)} s after its next request` : `at ${(r.t.appNoticed - from).toFixed(3)} s`}` : 'never noticed';
    lines.push(g.exitCode === 0 ? `gate: passed — ${at}, within ${humanDuration(a.maxNoticeS)}` : `gate: FAILED — ${g.noticed ? at : 'the program did not notice'}, budget ${humanDuration(a.maxNoticeS)}`);
  }
  return lines.join('\n') + '\n';
}

const verdictWord = (v: AppPath['mapping']['verdict']) => (v === 'agree' ? 'AGREES' : v === 'differ' ? 'DIFFERS' : 'CANNOT JUDGE');

/** The --middlebox part of the human report: the model's answer, the router's table, the trigger, the notice. */
function renderPath(r: AppReport, p: AppPath): string[] {
  const m = p.middlebox;
  const lines = [
    '',
    `  the path: ${m.name} — forgets an idle flow after ${humanDuration(m.idleTimeoutS)}, ${m.mode === 'reset' ? 'answers its next packet with a RST' : 'drops its next packet silently'}, ${m.kind === 'nat' ? 'a NAT (masquerade)' : 'a stateful firewall'}`,
    '  t = 0 = the last packet through the router before the program went quiet',
  ];
  const q = p.predicted;
  if (q) {
    lines.push(`  model for the socket as read back: mapping kept: ${q.mapping.kept} — ${q.mapping.why}`);
    lines.push(`    ${p.write ? `with its write at ${p.write.atS.toFixed(3)} s` : 'without a write'}: ${q.outcome.line}`);
    if (p.ifItWrites && (p.notRun || !p.write)) lines.push(`    a write 1 s after the expiry (at ${p.ifItWrites.atS} s) ${p.ifItWrites.line}`);
    lines.push(`    the server: ${q.server.line}`);
  }
  if (p.notRun) return [...lines, `  ! ${p.notRun}`];
  if (r.problems.length) return lines;
  const mp = p.mapping;
  const table =
    mp.observed === 'forgotten'
      ? `forgotten: the entry went within (${mp.goneWithin![0].toFixed(3)}, ${mp.goneWithin![1].toFixed(3)}] s${mp.refreshes ? `, after ${mp.refreshes} refresh${mp.refreshes === 1 ? '' : 'es'}` : ''}`
      : mp.observed === 'kept'
        ? `kept: ${mp.refreshes ? `refreshed ${mp.refreshes} time${mp.refreshes === 1 ? '' : 's'} before the program wrote` : 'never refreshed'}, ${mp.atEnd === 'present' ? 'still present at the end' : `${mp.atEnd} at the end`}`
        : "never seen in the router's table";
  lines.push('', `  the router's table: ${table} — model: ${mp.model ?? '—'} → ${verdictWord(mp.verdict)}`);
  if (p.write) lines.push(`  the program wrote at ${p.write.atS.toFixed(3)} s: ${p.write.acknowledged ? 'acknowledged by the server' : 'never acknowledged'}`);
  if (p.trigger) {
    lines.push(`  what its next request met: a ${p.trigger.kind} at ${p.trigger.atS.toFixed(3)} s (${p.trigger.reachedServer ? 'it reached the server' : 'it never reached the server'}): ${p.met}`);
  } else lines.push(`  what its next request met: ${p.met}`);
  const n = p.notice;
  const errno = r.app.errno ? `; the program saw ${r.app.errno}` : '';
  if (n.fromT0S !== undefined) {
    lines.push(`  the program's socket: the kernel aborted it ${n.afterTriggerS !== undefined ? `${n.afterTriggerS.toFixed(3)} s after that ${p.trigger!.kind}, ` : ''}${n.fromT0S.toFixed(3)} s after t = 0${r.kernelHow ? ` (${r.kernelHow})` : ''}${errno}`);
  } else lines.push(`  the program's socket: the kernel did not abort it${errno}`);
  lines.push(`  model: ${n.modelAtS === null ? 'never noticed' : `${n.modelErrno} at ${n.modelAtS.toFixed(3)} s after t = 0`} → ${verdictWord(n.verdict)}: ${n.why}`);
  lines.push(`  the server: ${p.server.line}`);
  return lines;
}

export async function runExec(argv: string[]): Promise<number> {
  const parsed = parseExecArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(EXEC_USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`${oneLine(`deadpeer exec: ${parsed.message}`)}\n`);
    return 2;
  }
  const a = parsed.args;
  let user: ProgramUser | undefined;
  try {
    user = a.user !== undefined ? resolveProgramUser(a.user, '--user') : undefined;
  } catch (e) {
    process.stderr.write(`${oneLine(`deadpeer exec: ${(e as Error).message}`)}\n`);
    return 2;
  }
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer exec: ${problem}\n`);
    return 2;
  }
  const lock = await acquireTimingLock('deadpeer exec', (line) => process.stderr.write(`${line}\n`));
  const report = await runExecArgs(a, {
    ...(user ? { user } : {}),
    ...(a.json ? {} : { echo: (l: AppLine) => process.stderr.write(`  program ${l.stream}> ${l.text}\n`), say: (t: string) => process.stderr.write(`deadpeer exec: ${t}\n`) }),
  }).finally(() => lock.release());
  const out = toExecReport(report, a.maxNoticeS);
  process.stdout.write(a.json ? JSON.stringify(out) + '\n' : renderExec(report, a));
  return out.exitCode;
}

/** The human report of --role server: the accepted socket, the model, and the four moments on one timeline. */
export function renderServerExec(r: AppReport, a: ExecArgs): string {
  const sd = r.serverSide!;
  const sysctls = execSysctls(a);
  const lines = [
    `deadpeer exec --role server: ${r.server} — phase ${r.phase}, the client vanishes (${r.fault}), IPv${r.family}, kernel ${r.kernel.release} (HZ ${r.kernel.hz})`,
    `  profile ${a.profile}${Object.keys(sysctls).length ? `: the server's namespace runs with ${Object.entries(sysctls).map(([k, v]) => `${k.replace(/^net\.ipv[46]\./, '')}=${v}`).join(', ')}` : ": the kernel's default sysctls"}`,
    `  client: ${sd.client === 'builtin' ? 'builtin (connects and reads)' : sd.client}`,
  ];
  if (sd.released) lines.push(`  released when: ${sd.released}`);
  if (r.connection) lines.push(`  the accepted socket: ${r.connection.src}:${r.connection.sport} ← ${r.connection.dst}:${r.connection.dport}, held by pid ${r.connection.pid}${sd.holder?.comm ? ` (${sd.holder.comm})` : ''} as fd ${r.connection.fd}${r.connection.uid !== undefined ? `, uid ${r.connection.uid}` : ''}`);
  if (r.options) {
    const o = r.options;
    const s = r.sysctls;
    lines.push(
      `  its options (getsockopt in the server's process): SO_KEEPALIVE=${o.SO_KEEPALIVE ?? '—'} TCP_KEEPIDLE=${o.TCP_KEEPIDLE ?? '—'} TCP_KEEPINTVL=${o.TCP_KEEPINTVL ?? '—'} TCP_KEEPCNT=${o.TCP_KEEPCNT ?? '—'} TCP_USER_TIMEOUT=${o.TCP_USER_TIMEOUT ?? '—'}`,
    );
    if (s) lines.push(`  the server namespace's sysctls: tcp_keepalive_time=${s.tcp_keepalive_time} tcp_keepalive_intvl=${s.tcp_keepalive_intvl} tcp_keepalive_probes=${s.tcp_keepalive_probes} tcp_retries2=${s.tcp_retries2}`);
  }
  const p = r.prediction;
  if (sd.notRun) {
    lines.push('', `  model for the accepted socket: ${p?.closeAt == null ? 'the kernel never aborts it' : `${p.errno} ≈ ${humanDuration(p.closeAt)} after t = 0 (${PHASE_ORIGIN[r.phase].replace('the peer', 'the client')})`}`);
    if (p?.closeAt != null) lines.push(`  the server would hold the dead client${sd.released ? ' — and what it holds —' : ''} ≈ ${humanDuration(p.closeAt)} (predicted, not run)`);
    lines.push(`  ${sd.notRun}`);
  } else if (r.t.origin !== undefined) {
    lines.push('', `  timeline, seconds from t = 0 = ${PHASE_ORIGIN[r.phase].replace('the peer', 'the client')}:`);
    const ev: [number, string][] = [];
    if (r.t.fault !== undefined) ev.push([r.t.fault, `the client vanished (${r.fault})`]);
    if (r.t.kernelAbort !== undefined) ev.push([r.t.kernelAbort, `the kernel aborted the accepted socket${r.kernelHow ? `: ${r.kernelHow}` : ''}`]);
    if (r.t.serverReleased !== undefined) ev.push([r.t.serverReleased, `the server let go of it (${sd.releasedBy === 'exit' ? `pid ${sd.holder?.pid} exited` : 'its fd closed'})`]);
    if (r.t.released !== undefined) ev.push([r.t.released, `the resource was released (--released succeeded; it still failed at ${rel(r, r.t.releasedAfter).trim()})`]);
    for (const [t, what] of ev.sort((x, y) => x[0] - y[0])) lines.push(`  ${rel(r, t)}  ${what}`);
    if (p) lines.push(`  model for the accepted socket: ${p.closeAt === null ? 'never aborted by the kernel' : `${p.errno} at ${p.closeAt.toFixed(3)} s`}`);
    lines.push(`  verdict: ${sd.verdict === 'agree' ? 'AGREES' : sd.verdict === 'differ' ? 'DIFFERS' : 'CANNOT JUDGE'} — ${sd.verdictWhy}`);
    if (r.t.serverReleased === undefined && !r.problems.length) lines.push(`  ! the server still held the socket after ${humanDuration(r.t.end - r.t.origin)}`);
    if (sd.released && r.t.released === undefined && !r.problems.length) lines.push(`  ! the resource was still held after ${humanDuration(r.t.end - r.t.origin)}`);
  }
  lines.push('');
  if (r.problems.length) lines.push(...r.problems.map((x) => `  ! ${x}`));
  lines.push(`  artifacts: ${r.artifacts.dir}`);
  return lines.join('\n') + '\n';
}
