import { InputError } from '../../core/errors.js';
import { FAST_SYSCTLS, type ProfileName } from '../../core/profile.js';
import { USER_PHASES, type UserPhase } from '../../recipes/phases.js';
import { DEFAULT_MAX_RUN_S, type Duration, faultFrom, parseDuration } from '../check/args.js';
import { humanDuration } from '../check/advice.js';
import { type Middlebox, middleboxFamilyProblem, parseMiddlebox } from '../../model/middlebox.js';
import { APP_FAULTS, type AppFault, type AppLine } from './run.js';
import { SERVER_FAULTS, SERVER_PHASES } from './server-role.js';

/**
 * `exec` input, from the command line (cli/exec.ts) or from exec() options: one validation, so
 * the same value is refused with the same words either way.
 */
export interface ExecArgs {
  phase: UserPhase;
  fault: AppFault;
  /** --fault blip:D: the blackhole lifts after this many seconds, and the program must survive it */
  blipS?: number;
  server?: string;
  family: 4 | 6;
  profile: ProfileName;
  timeoutS?: number;
  graceS: number;
  /** the gate: the program must notice within this many seconds of t = 0 */
  maxNoticeS?: number;
  json: boolean;
  strace: boolean;
  /** root only: run the program as this user (a name or uid), not as root */
  user?: string;
  /** --middlebox: nobody vanishes; a router on the path forgets the idle connection (phase idle only) */
  middlebox?: Middlebox;
  /** --role server: the command is the server (harness/apps/exec/server-role.ts); absent = the client */
  role?: 'server';
  /** --role server: the client's shell command (absent = the builtin client) */
  client?: string;
  /** --role server: a shell command in the server's namespace, exit 0 = the resource is released */
  released?: string;
  command: string[];
}

/** The options of `exec()`: the flags of `deadpeer exec`, camel-cased. */
export interface ExecOptions {
  /** when the peer vanishes: during connect(), once the connection is idle, under the program's next write, behind a zero window */
  phase: UserPhase;
  /** argv of the program under test; it finds the server in DEADPEER_SERVER (host:port), DEADPEER_HOST, DEADPEER_PORT */
  command: string[];
  /** how the peer vanishes (default blackhole), or 'blip:5s': an outage that heals, which the program must survive */
  fault?: AppFault | `blip:${string}`;
  /** a shell command run in the server's namespace (it gets DEADPEER_LISTEN=host:port); default: a builtin server that accepts and never answers */
  server?: string;
  family?: 4 | 6;
  /** fast (default): the client's namespace gets tcp_syn_retries=3, tcp_retries2=5; faithful: the kernel's defaults */
  profile?: ProfileName;
  /** longest wait for the kernel to abort after the phase starts (default: the model's time + 25% + 10 s) */
  timeout?: Duration;
  /** how long the program gets to notice once the kernel aborted (default 5 s) */
  grace?: Duration;
  /** the gate: the program must notice the vanished peer within this of t = 0, or the report's exitCode is 1 */
  maxNotice?: Duration;
  /** record the program's setsockopt calls with strace, when installed (default true) */
  strace?: boolean;
  /** root only: run the program as this user (a name or uid), not as root */
  user?: string;
  /**
   * phase idle only: the peer does not vanish — a router on the path forgets the idle connection
   * after the middlebox's timeout, and the program's own next request meets that: a preset
   * (MIDDLEBOX_PRESETS) or 'idle-expiry:DURATION:drop|reset[:nat|firewall]'. Not with `fault`.
   */
  middlebox?: string;
  /**
   * whose half: 'client' (default) — the command is the client; 'server' — the command is the server
   * (it listens on DEADPEER_LISTEN in the server's namespace), a client connects and vanishes, and
   * the report says when the kernel aborted the accepted socket, when the server let go of it and
   * (with `released`) when the resource the client held was free. Phases idle, busy, zero-window.
   */
  role?: 'client' | 'server';
  /** role server: the client, a shell command run in the client's namespace (DEADPEER_SERVER, …); default: a builtin client that connects and reads (zero-window: never reads) */
  client?: string;
  /** role server: a shell command run in the server's namespace every 100 ms once the client vanished; exit 0 = the resource is released */
  released?: string;
  /** each line the program prints, as it prints it */
  onOutput?: (line: AppLine) => void;
}

/** Validate exec input; `name` says how a field is called where it came from ("--phase", "exec(): phase"). */
export function execArgsFrom(
  v: Record<string, unknown>,
  command: unknown,
  name: (field: string) => string,
  json: boolean,
  noCommand = `no client command: ${name('command')} must name the program, e.g. ['node', 'client.js']`,
): ExecArgs {
  const bad = (field: string, value: unknown, expected: string) => new InputError(`${name(field)}: ${JSON.stringify(value)} is not allowed: expected ${expected}`);
  if (v.phase === undefined) throw new InputError(`${name('phase')} is required: one of ${USER_PHASES.join(', ')}`);
  if (!USER_PHASES.includes(v.phase as UserPhase)) throw new InputError(`${name('phase')}: unknown phase ${JSON.stringify(v.phase)}: expected ${USER_PHASES.join(', ')}`);
  const isBlip = typeof v.fault === 'string' && v.fault.startsWith('blip:');
  const blipS = isBlip ? faultFrom(name('fault'), v.fault) : undefined;
  const fault = isBlip ? 'blackhole' : (v.fault ?? 'blackhole');
  if (!APP_FAULTS.includes(fault as AppFault)) throw bad('fault', fault, `${APP_FAULTS.join(', ')} or blip:DURATION`);
  if (blipS !== undefined && v['max-notice'] !== undefined) throw new InputError(`${name('max-notice')}: a blip heals, so there is nothing to notice: with blip:D the program passes by surviving it`);
  if (blipS !== undefined && v.maxNotice !== undefined) throw new InputError(`${name('maxNotice')}: a blip heals, so there is nothing to notice: with blip:D the program passes by surviving it`);
  if (v.family !== undefined && ![4, 6, '4', '6'].includes(v.family as number)) throw bad('family', v.family, '4 or 6');
  const profile = v.profile ?? 'fast';
  if (profile !== 'fast' && profile !== 'faithful') throw bad('profile', profile, 'fast or faithful');
  if (v.server !== undefined && (typeof v.server !== 'string' || !v.server.trim())) throw bad('server', v.server, 'a shell command');
  // connect: the SYNs never reach the server's namespace, so its program would be accepted and ignored
  if (v.server !== undefined && v.phase === 'connect') throw new InputError(`${name('server')}: in phase connect the SYNs never reach the server, so its program plays no part`);
  if (v.user !== undefined && (typeof v.user !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(v.user))) throw bad('user', v.user, 'a user name or uid');
  if (!Array.isArray(command) || !command.length || !command.every((c) => typeof c === 'string'))
    throw new InputError(noCommand);
  if (!(command[0] as string).trim()) throw new InputError(noCommand.replace(/^no client command/, 'the client command has an empty program name'));
  const timeoutS = v.timeout !== undefined ? parseDuration(name('timeout'), v.timeout) : undefined;
  // a wait of 0 ends before the kernel could abort anything; past a day node's timers overflow
  if (timeoutS !== undefined && (timeoutS <= 0 || timeoutS > 86_400)) throw bad('timeout', v.timeout, 'a duration above 0 and at most 1440m (a day), e.g. 60s (the default: the model\'s time + 25% + 10 s)');
  const middlebox = v.middlebox !== undefined ? middleboxOf(v, name) : undefined;
  const role = roleOf(v, name);
  return {
    phase: v.phase as UserPhase,
    fault: fault as AppFault,
    ...(blipS !== undefined ? { blipS } : {}),
    ...(v.server !== undefined ? { server: v.server as string } : {}),
    family: v.family === 6 || v.family === '6' ? 6 : 4,
    profile,
    ...(timeoutS !== undefined ? { timeoutS } : {}),
    graceS: v.grace !== undefined ? parseDuration(name('grace'), v.grace) : 5,
    ...(v['max-notice'] !== undefined || v.maxNotice !== undefined ? { maxNoticeS: parseDuration(name(v.maxNotice !== undefined ? 'maxNotice' : 'max-notice'), v.maxNotice ?? v['max-notice']) } : {}),
    json,
    strace: v.strace !== false,
    ...(v.user !== undefined ? { user: v.user as string } : {}),
    ...(middlebox ? { middlebox } : {}),
    ...(role === 'server' ? { role } : {}),
    ...(v.client !== undefined ? { client: v.client as string } : {}),
    ...(v.released !== undefined ? { released: v.released as string } : {}),
    command: command as string[],
  };
}

/** --role and what goes with it, refused in one line each. */
function roleOf(v: Record<string, unknown>, name: (field: string) => string): 'client' | 'server' {
  const role = v.role ?? 'client';
  if (role !== 'client' && role !== 'server') throw new InputError(`${name('role')}: ${JSON.stringify(role)} is not allowed: expected client or server`);
  for (const f of ['client', 'released'] as const) {
    if (v[f] === undefined) continue;
    if (role !== 'server') throw new InputError(`${name(f)}: only with ${name('role')} server (the command is the client otherwise)`);
    if (typeof v[f] !== 'string' || !(v[f] as string).trim()) throw new InputError(`${name(f)}: ${JSON.stringify(v[f])} is not allowed: expected a shell command`);
  }
  if (role === 'client') return role;
  if (!SERVER_PHASES.includes(v.phase as never)) throw new InputError(`${name('phase')}: ${String(v.phase)} is not a phase of the server's half: expected ${SERVER_PHASES.join(', ')} (a server plays no part in a connect that never reaches it)`);
  const fault = v.fault ?? 'blackhole';
  if (!SERVER_FAULTS.includes(fault as never)) throw new InputError(`${name('fault')}: ${JSON.stringify(fault)} is not allowed with ${name('role')} server: expected ${SERVER_FAULTS.join(', ')} (the client vanishes)`);
  for (const f of ['server', 'middlebox', 'user', 'max-notice', 'maxNotice'] as const) {
    if (v[f] !== undefined) throw new InputError(`${name(f)}: not with ${name('role')} server: ${f === 'server' ? 'the command after -- is the server' : f === 'middlebox' ? 'the path is not what vanishes here' : f === 'user' ? 'the server command chooses its own user (e.g. runuser)' : 'the server has no notice to gate; see t.serverReleased'}`);
  }
  return role;
}

/** --middlebox: what it is, and the combinations that mean nothing with it, refused in one line each. */
function middleboxOf(v: Record<string, unknown>, name: (field: string) => string): Middlebox {
  const m = typeof v.middlebox === 'string' ? parseMiddlebox(v.middlebox) : { error: `${JSON.stringify(v.middlebox)} is not allowed: expected a preset name or idle-expiry:DURATION:drop|reset[:nat|firewall]` };
  if ('error' in m) throw new InputError(`${name('middlebox')}: ${m.error}`);
  if (v.phase !== 'idle') {
    throw new InputError(
      `${name('middlebox')}: only with phase idle, not ${String(v.phase)}: a middlebox forgets idle connections — busy is idle then a write, which is what idle measures with the program's own write`,
    );
  }
  if (v.fault !== undefined) throw new InputError(`${name('fault')}: not with ${name('middlebox')}: behind a middlebox the path fails, not the peer — nobody vanishes`);
  const family = v.family === 6 || v.family === '6' ? 6 : 4;
  const problem = middleboxFamilyProblem(m, family);
  if (problem) throw new InputError(`${name('middlebox')}: ${problem}`);
  return m;
}

/**
 * Whether a run behind this middlebox can see its timeout: the program must stay quiet that long,
 * and the run's budget — --timeout, else the longest check's --max-run allows for the profile
 * (300 s fast, 1200 s faithful: an AWS NAT gateway's real 350 s runs with --profile faithful) —
 * must hold it. When it cannot, exec reads the program's socket and answers with the model alone.
 */
export function middleboxRunPlan(a: Pick<ExecArgs, 'middlebox' | 'timeoutS' | 'profile'>): { run: true } | { run: false; why: string } {
  if (!a.middlebox) return { run: true };
  const budgetS = a.timeoutS ?? DEFAULT_MAX_RUN_S[a.profile];
  const E = a.middlebox.idleTimeoutS;
  if (E < budgetS) return { run: true };
  const what = a.timeoutS !== undefined ? `--timeout ${humanDuration(budgetS)}` : `the ${a.profile} profile's run budget ${humanDuration(budgetS)}${a.profile === 'fast' ? ' (--profile faithful allows 20 min; --timeout sets it)' : ' (--timeout sets it)'}`;
  return { run: false, why: `${a.middlebox.name} forgets after ${humanDuration(E)}, not within ${what}: predicted for the program's socket, not run` };
}

const OPTION_NAMES: ReadonlyArray<keyof ExecOptions> = ['phase', 'command', 'fault', 'server', 'family', 'profile', 'timeout', 'grace', 'maxNotice', 'strace', 'user', 'middlebox', 'role', 'client', 'released', 'onOutput'];

/** exec() options → ExecArgs. Throws an InputError (one line). */
export function execArgsFromOptions(options: ExecOptions): ExecArgs {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InputError(`exec(): expected an options object with phase and command, got ${JSON.stringify(options)}`);
  const unknown = Object.keys(options).find((k) => !(OPTION_NAMES as readonly string[]).includes(k));
  if (unknown) throw new InputError(`exec(): unknown option "${unknown}": allowed options are ${OPTION_NAMES.join(', ')}`);
  if (options.strace !== undefined && typeof options.strace !== 'boolean') throw new InputError(`exec(): strace: ${JSON.stringify(options.strace)} is not allowed: expected true or false`);
  if (options.onOutput !== undefined && typeof options.onOutput !== 'function') throw new InputError('exec(): onOutput must be a function (line) => void');
  return execArgsFrom(options as unknown as Record<string, unknown>, options.command, (f) => `exec(): ${f}`, true);
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
