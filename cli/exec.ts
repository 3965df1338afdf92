/**
 * `deadpeer exec`: run a real program against a server that vanishes, and report when the kernel
 * killed its connection, when (and whether) the program noticed, with which errno, and which
 * socket options it really used.
 */
import { parseArgs } from 'node:util';
import { APP_FAULTS, type AppFault, type AppReport, runApp } from '../harness/app.js';
import { humanDuration } from '../harness/advice.js';
import { USER_PHASES, PHASE_ORIGIN, type UserPhase } from '../harness/phases.js';
import { preflightProblem } from '../harness/preflight.js';
import { acquireTimingLock } from '../harness/timing-lock.js';
import { findPreset } from '../harness/presets.js';
import type { ProfileName } from '../harness/profile.js';
import { parseDuration } from './check-args.js';
import { FAST_SYSCTLS } from './check.js';

export const EXEC_USAGE = `usage: deadpeer exec --phase connect|idle|busy|zero-window [--fault blackhole|host-vanished|peer-reset]
                     [--server CMD] [--family 4|6] [--profile fast|faithful] [--timeout D] [--grace D]
                     [--json] [--no-strace] -- <client command…>

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
                   peer answers with RST, as after a reboot
  --server CMD     a shell command run in the server's namespace (it gets DEADPEER_LISTEN=host:port);
                   default: a builtin server that accepts and never answers (never reads for zero-window)
  --profile        fast (default): the client's namespace gets tcp_syn_retries=3, tcp_retries2=5
                   (and short neighbour timers for host-vanished); faithful: the kernel's defaults
  --timeout D      longest wait for the kernel to abort after the phase starts (default: the model's time + 25% + 10 s)
  --grace D        how long the program gets to notice once the kernel aborted (default 5s)
  --no-strace      don't record the program's setsockopt calls (strace, when installed)

Exit: 0 the program noticed the dead peer, 1 it did not (or the experiment could not run), 2 bad input.
`;

const OPTIONS = {
  phase: { type: 'string' },
  fault: { type: 'string' },
  server: { type: 'string' },
  family: { type: 'string' },
  profile: { type: 'string' },
  timeout: { type: 'string' },
  grace: { type: 'string' },
  json: { type: 'boolean' },
  'no-strace': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ExecArgs {
  phase: UserPhase;
  fault: AppFault;
  server?: string;
  family: 4 | 6;
  profile: ProfileName;
  timeoutS?: number;
  graceS: number;
  json: boolean;
  strace: boolean;
  command: string[];
}

export type ParsedExecArgs = { kind: 'help' } | { kind: 'args'; args: ExecArgs } | { kind: 'error'; message: string };

/** Parse `deadpeer exec` argv (without "exec"). Never throws. */
export function parseExecArgs(argv: string[]): ParsedExecArgs {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  let values;
  try {
    ({ values } = parseArgs({ args: own, allowPositionals: false, strict: true, options: OPTIONS }));
  } catch (e) {
    const m = /Unknown option '([^']+)'|Unexpected argument '([^']+)'/.exec(String((e as Error).message));
    if (m?.[1]) return { kind: 'error', message: `unknown option "${m[1]}": allowed options are ${Object.keys(OPTIONS).map((o) => `--${o}`).join(' ')}` };
    if (m?.[2]) return { kind: 'error', message: `unexpected argument "${m[2]}": put the client command after --` };
    return { kind: 'error', message: String((e as Error).message).split('\n')[0]! };
  }
  if (values.help) return { kind: 'help' };
  const fail = (message: string): ParsedExecArgs => ({ kind: 'error', message });
  if (values.phase === undefined) return fail(`--phase is required: one of ${USER_PHASES.join(', ')}`);
  if (!USER_PHASES.includes(values.phase as UserPhase)) return fail(`--phase: unknown phase "${values.phase}": expected ${USER_PHASES.join(', ')}`);
  const fault = values.fault ?? 'blackhole';
  if (!APP_FAULTS.includes(fault as AppFault)) return fail(`--fault: "${fault}" is not allowed: expected ${APP_FAULTS.join(', ')}`);
  if (values.family !== undefined && values.family !== '4' && values.family !== '6') return fail(`--family: "${values.family}" is not allowed: expected 4 or 6`);
  const profile = values.profile ?? 'fast';
  if (profile !== 'fast' && profile !== 'faithful') return fail(`--profile: "${profile}" is not allowed: expected fast or faithful`);
  if (!command.length) return fail('no client command: put it after --, e.g. deadpeer exec --phase idle -- node client.js');
  // connect: the SYNs never reach the server's namespace, so its program would be accepted and ignored
  if (values.server !== undefined && values.phase === 'connect') return fail('--server: in phase connect the SYNs never reach the server, so its program plays no part');
  try {
    return {
      kind: 'args',
      args: {
        phase: values.phase as UserPhase,
        fault: fault as AppFault,
        ...(values.server !== undefined ? { server: values.server } : {}),
        family: values.family === '6' ? 6 : 4,
        profile,
        ...(values.timeout !== undefined ? { timeoutS: parseDuration('--timeout', values.timeout) } : {}),
        graceS: values.grace !== undefined ? parseDuration('--grace', values.grace) : 5,
        json: !!values.json,
        strace: !values['no-strace'],
        command,
      },
    };
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** The client namespace's sysctls for a run: the fast profile's budgets, short neighbour timers for host-vanished. */
export function execSysctls(a: Pick<ExecArgs, 'profile' | 'fault' | 'family'>): Record<string, number> {
  if (a.profile !== 'fast') return {};
  const out: Record<string, number> = Object.fromEntries(Object.entries(FAST_SYSCTLS).map(([k, v]) => [`net.ipv4.${k}`, v as number]));
  if (a.fault === 'host-vanished') {
    // the neighbour entry goes stale after ~1 s instead of ~30 s, and is probed after 1 s instead of 5
    const ip = a.family === 4 ? 'ipv4' : 'ipv6';
    out[`net.${ip}.neigh.dp0.base_reachable_time_ms`] = 1000;
    out[`net.${ip}.neigh.dp0.delay_first_probe_time`] = 1;
  }
  return out;
}

/** Closer than this, the program's reaction and the kernel's abort are one event seen twice. */
const SAME_MOMENT_S = 0.02;

const rel = (r: AppReport, t: number | undefined) => (t === undefined || r.t.origin === undefined ? '' : (t - r.t.origin).toFixed(3).padStart(9));

/** The human report. */
export function renderExec(r: AppReport, a: ExecArgs): string {
  const lines: string[] = [];
  const sysctls = execSysctls(a);
  lines.push(`deadpeer exec: ${r.command.join(' ')} — phase ${r.phase}, fault ${r.fault}, IPv${r.family}, kernel ${r.kernel.release} (HZ ${r.kernel.hz})`);
  lines.push(
    `  profile ${a.profile}${Object.keys(sysctls).length ? `: the client's namespace runs with ${Object.entries(sysctls).map(([k, v]) => `${k.replace(/^net\.ipv[46]\./, '')}=${v}`).join(', ')}` : ": the kernel's default sysctls"}`,
  );
  lines.push(`  server: ${r.server === 'builtin' ? 'builtin (accepts, never answers)' : r.server}`);
  if (r.connection) lines.push(`  the program's connection: ${r.connection.src}:${r.connection.sport} → ${r.connection.dst}:${r.connection.dport} (pid ${r.connection.pid}, fd ${r.connection.fd})`);
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
  if (r.t.origin !== undefined) {
    lines.push('', `  timeline, seconds from t = 0 = ${PHASE_ORIGIN[r.phase]}:`);
    const ev: [number, string][] = [];
    if (r.t.fault !== undefined) ev.push([r.t.fault, `peer vanished (${r.fault})`]);
    if (r.t.kernelAbort !== undefined) ev.push([r.t.kernelAbort, `the kernel aborted the socket: ${r.kernelHow}`]);
    if (r.t.appNoticed !== undefined && r.app.noticedBy !== 'exit') ev.push([r.t.appNoticed, `the program noticed (${r.app.noticedBy}${r.app.noticedLine ? `: "${r.app.noticedLine}"` : ''})`]);
    if (r.t.exit !== undefined) ev.push([r.t.exit, `the program exited (${r.app.signal ?? `code ${r.app.exitCode}`})`]);
    for (const [t, what] of ev.sort((x, y) => x[0] - y[0])) lines.push(`  ${rel(r, t)}  ${what}`);
    const p = r.prediction;
    if (p) lines.push(`  model for these options${r.fault === 'peer-reset' ? ' (were the peer silent)' : ''}: ${p.closeAt === null ? 'never noticed by the kernel' : `${p.errno} at ${p.closeAt.toFixed(3)} s`}`);
  }
  lines.push('');
  if (r.problems.length) lines.push(...r.problems.map((x) => `  ! ${x}`));
  if (r.t.kernelAbort === undefined && !r.problems.length) {
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
  if (r.unnoticed) {
    lines.push(`  ! UNNOTICED: the kernel killed the socket ${rel(r, r.t.kernelAbort).trim()} s after t = 0, but the program still holds it (fd ${r.connection?.fd}) and has shown nothing for ${humanDuration(r.t.end - r.t.kernelAbort!)}`);
  }
  if (r.app.errno) {
    lines.push(`  errno seen by the program: ${r.app.errno}${r.app.errnoFrom === 'message' ? ' (recognised from the message text only: the program hides the errno name)' : ''}; expected ${r.expectedErrno ?? '—'}`);
  } else if (r.t.appNoticed !== undefined) {
    lines.push(`  ! the program does not show the errno (expected ${r.expectedErrno ?? '—'}): ${r.app.noticedLine ? `it printed "${r.app.noticedLine}"` : `exit ${r.app.signal ?? `code ${r.app.exitCode}`} and no error text`}`);
  }
  if (r.fault === 'host-vanished') lines.push('  host vanished: once the neighbour entry fails the kernel may report EHOSTUNREACH instead of ETIMEDOUT');
  lines.push(`  artifacts: ${r.artifacts.dir}`);
  return lines.join('\n') + '\n';
}

export const noticed = (r: AppReport) => !r.problems.length && r.t.appNoticed !== undefined && !r.unnoticed;

export async function runExec(argv: string[]): Promise<number> {
  const parsed = parseExecArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(EXEC_USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`deadpeer exec: ${parsed.message}\n`);
    return 2;
  }
  const a = parsed.args;
  const problem = await preflightProblem();
  if (problem) {
    process.stderr.write(`deadpeer exec: ${problem}\n`);
    return 2;
  }
  process.env.DEADPEER_PROFILE = a.profile;
  const lock = await acquireTimingLock('deadpeer exec', (line) => process.stderr.write(`${line}\n`));
  const report = await runApp({
    phase: a.phase,
    family: a.family,
    command: a.command,
    ...(a.server !== undefined ? { server: a.server } : {}),
    fault: a.fault,
    sysctls: execSysctls(a),
    ...(a.timeoutS !== undefined ? { timeoutS: a.timeoutS } : {}),
    graceS: a.graceS,
    strace: a.strace,
    echo: a.json ? undefined : (l) => process.stderr.write(`  program ${l.stream}> ${l.text}\n`),
    say: a.json ? undefined : (t) => process.stderr.write(`deadpeer exec: ${t}\n`),
  }).finally(() => lock.release());
  const code = noticed(report) ? 0 : 1;
  if (a.json) process.stdout.write(JSON.stringify({ ...report, packets: report.packets.length, noticed: code === 0, exitCode: code }) + '\n');
  else process.stdout.write(renderExec(report, a));
  return code;
}
