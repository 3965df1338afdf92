/**
 * `deadpeer model <phase>`: print what the kernel model predicts for a phase, without running
 * anything. Pure: argv in, { code, stdout, stderr } out, so it is unit-tested without a process.
 */
import { parseArgs } from 'node:util';
import { PHASES, defaultSocket, defaultSysctls, featuresForRelease, predict, tinyRttRtoMs } from '../harness/model/index.js';
import type { KernelFeatures, Phase, PhaseInput, Prediction, SocketSettings, TcpSysctls } from '../harness/model/index.js';
import { TCP_SYSCTL_NAMES } from '../harness/model/types.js';

export interface ModelArgs {
  phase: Phase;
  json: boolean;
  family: 4 | 6;
  keepalive?: { idle: number; intvl: number; cnt: number };
  userTimeoutMs?: number;
  synCnt?: number;
  deferAcceptS?: number;
  peer: 'alive' | 'gone';
  sysctls: Partial<TcpSysctls>;
  /** --kernel X.Y */
  kernel?: string;
}

export type ParsedModelArgs = { kind: 'help' } | { kind: 'args'; args: ModelArgs } | { kind: 'error'; message: string };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const USAGE = `usage: deadpeer model <phase> [--json] [--family 4|6] [--keepalive IDLE:INTVL:CNT]
                      [--user-timeout MS] [--syncnt N] [--defer-accept S] [--peer alive|gone]
                      [--sysctl NAME=VALUE]... [--kernel X.Y]

Prints what the kernel model predicts when the peer vanishes in <phase>: the packets the dying
side sends, when the socket gives up and with which errno. Nothing is run.

phases: ${PHASES.join(', ')}

  --json                   one JSON line {"phase","kernel","origin","events":[{"t","side","packet","n"}],"closeAt","errno",...}
  --family 4|6             address family (the TCP timers are the same; recorded in the output)
  --keepalive I:V:C        SO_KEEPALIVE with TCP_KEEPIDLE I s, TCP_KEEPINTVL V s, TCP_KEEPCNT C
  --user-timeout MS        TCP_USER_TIMEOUT in ms (0 = off)
  --syncnt N               TCP_SYNCNT (1..127)
  --defer-accept S         TCP_DEFER_ACCEPT in seconds on the listener (defer-accept phase)
  --peer alive|gone        zero-window: the receiver answers probes (alive) or vanished (gone); default alive
  --sysctl NAME=VALUE      a net.ipv4 sysctl of the namespace (default: a new namespace's defaults)
  --kernel X.Y             predict for that kernel release instead of the running one
  -h, --help               this text
`;

/** A whole number in [min, max], or an error message saying what is allowed. */
function intIn(option: string, text: string, min: number, max: number): number | string {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    return `${option}: "${text}" is not allowed: expected a whole number from ${min} to ${max}`;
  }
  return Number(text);
}

const OPTIONS = {
  json: { type: 'boolean' },
  family: { type: 'string' },
  keepalive: { type: 'string' },
  'user-timeout': { type: 'string' },
  syncnt: { type: 'string' },
  'defer-accept': { type: 'string' },
  peer: { type: 'string' },
  sysctl: { type: 'string', multiple: true },
  kernel: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const ALLOWED_OPTIONS = Object.keys(OPTIONS)
  .map((o) => `--${o}`)
  .join(' ');

/**
 * "--user-timeout -5" would read as two options; join a value that looks like a negative number to
 * its option so that the value check, not the option parser, reports it.
 */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[a-z-]+$/.test(argv[i]) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/** node:util parseArgs errors, as one line that says what is allowed. */
function describeParseError(err: unknown): string {
  const message = String((err as Error).message);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option "${unknown[1]}": allowed options are ${ALLOWED_OPTIONS}`;
  const missing = /Option '(-[^' ]+)[^']*' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value (see --help)`;
  const notValue = /Option '(-[^' ]+)[^']*' does not take an argument/.exec(message);
  if (notValue) return `${notValue[1]} takes no value`;
  return `${message.split('\n')[0]} (allowed options: ${ALLOWED_OPTIONS})`;
}

/** Parse argv (without "model"). Never throws. */
export function parseModelArgs(argv: string[]): ParsedModelArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv), allowPositionals: true, strict: true, options: OPTIONS });
  } catch (err) {
    return { kind: 'error', message: describeParseError(err) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const fail = (message: string): ParsedModelArgs => ({ kind: 'error', message });

  if (positionals.length !== 1) {
    return fail(
      positionals.length === 0
        ? `missing phase: expected one of ${PHASES.join(', ')}`
        : `expected exactly one phase, got ${positionals.length} (${positionals.join(' ')})`,
    );
  }
  const phase = positionals[0] as Phase;
  if (!PHASES.includes(phase)) return fail(`unknown phase "${positionals[0]}": expected one of ${PHASES.join(', ')}`);

  const args: ModelArgs = { phase, json: !!values.json, family: 4, peer: 'alive', sysctls: {} };

  if (values.family !== undefined) {
    if (values.family !== '4' && values.family !== '6') return fail(`--family: "${values.family}" is not allowed: expected 4 or 6`);
    args.family = values.family === '4' ? 4 : 6;
  }
  if (values.keepalive !== undefined) {
    const parts = values.keepalive.split(':');
    if (parts.length !== 3) {
      return fail(`--keepalive: "${values.keepalive}" is not allowed: expected IDLE:INTVL:CNT, e.g. 5:3:3`);
    }
    // MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL 32767, MAX_TCP_KEEPCNT 127 (include/net/tcp.h)
    const idle = intIn('--keepalive IDLE', parts[0], 1, 32767);
    const intvl = intIn('--keepalive INTVL', parts[1], 1, 32767);
    const cnt = intIn('--keepalive CNT', parts[2], 1, 127);
    for (const v of [idle, intvl, cnt]) if (typeof v === 'string') return fail(v);
    args.keepalive = { idle: idle as number, intvl: intvl as number, cnt: cnt as number };
  }
  if (values['user-timeout'] !== undefined) {
    const v = intIn('--user-timeout', values['user-timeout'], 0, 2 ** 31 - 1);
    if (typeof v === 'string') return fail(v);
    args.userTimeoutMs = v;
  }
  if (values.syncnt !== undefined) {
    const v = intIn('--syncnt', values.syncnt, 1, 127); // MAX_TCP_SYNCNT
    if (typeof v === 'string') return fail(v);
    args.synCnt = v;
  }
  if (values['defer-accept'] !== undefined) {
    const v = intIn('--defer-accept', values['defer-accept'], 0, 2 ** 31 - 1);
    if (typeof v === 'string') return fail(v);
    args.deferAcceptS = v;
  }
  if (values.peer !== undefined) {
    if (values.peer !== 'alive' && values.peer !== 'gone') return fail(`--peer: "${values.peer}" is not allowed: expected alive or gone`);
    args.peer = values.peer;
  }
  for (const assignment of values.sysctl ?? []) {
    const m = /^(?:net\.ipv4\.)?([a-z0-9_]+)=(.*)$/.exec(assignment);
    if (!m) return fail(`--sysctl: "${assignment}" is not allowed: expected NAME=VALUE, e.g. tcp_syn_retries=3`);
    const name = m[1] as keyof TcpSysctls;
    if (!TCP_SYSCTL_NAMES.includes(name)) return fail(`--sysctl: unknown sysctl "${m[1]}": expected one of ${TCP_SYSCTL_NAMES.join(', ')}`);
    const v = intIn(`--sysctl ${name}`, m[2], 0, 2 ** 31 - 1);
    if (typeof v === 'string') return fail(v);
    args.sysctls[name] = v;
  }
  if (values.kernel !== undefined) {
    if (!/^\d+\.\d+(\.\d+)?$/.test(values.kernel)) return fail(`--kernel: "${values.kernel}" is not allowed: expected X.Y or X.Y.Z, e.g. 6.1`);
    args.kernel = values.kernel;
  }
  return { kind: 'args', args };
}

/** The model input the options describe, on top of a new namespace's defaults. */
export function modelInputFor<P extends Phase>(args: ModelArgs & { phase: P }, features: KernelFeatures): PhaseInput[P] {
  const sysctls: TcpSysctls = { ...defaultSysctls(features), ...args.sysctls };
  const socket: SocketSettings = {
    ...defaultSocket(sysctls),
    ...(args.keepalive
      ? { keepalive: true, keepIdle: args.keepalive.idle, keepIntvl: args.keepalive.intvl, keepCnt: args.keepalive.cnt }
      : {}),
    userTimeoutMs: args.userTimeoutMs ?? 0,
    synCnt: args.synCnt ?? 0,
    ...(args.deferAcceptS !== undefined ? { deferAcceptS: args.deferAcceptS } : {}),
  };
  const rtoMs = tinyRttRtoMs(sysctls, features.hz);
  // Every phase input is ModelInput plus optional extras; the extras below are ignored by the
  // phases that do not read them.
  return { sysctls, socket, features, rtoMs, peer: args.peer, deferAcceptS: args.deferAcceptS } as PhaseInput[P];
}

function humanTable(p: Prediction, family: 4 | 6): string {
  const lines = [
    `phase ${p.phase}  kernel ${p.kernel}  IPv${family}`,
    `t = 0: ${p.origin}`,
    '     t (s)  side    packet        n',
    ...p.events.map(
      (e) => `${e.t.toFixed(3).padStart(10)}  ${e.side.padEnd(6)}  ${e.packet.padEnd(12)}  ${e.n}`,
    ),
  ];
  if (p.acceptAt !== undefined) lines.push(p.acceptAt === null ? 'never accepted' : `accepted at ${p.acceptAt.toFixed(3)} s`);
  lines.push(
    p.closeAt === null
      ? 'never gives up'
      : `gives up at ${p.closeAt.toFixed(3)} s${p.errno ? `: ${p.errno}` : ' (the application never sees an error)'}`,
  );
  lines.push('why:', ...p.notes.map((n) => `  - ${n}`));
  return lines.join('\n') + '\n';
}

export function runModel(argv: string[], env: { features: KernelFeatures }): CliResult {
  const parsed = parseModelArgs(argv);
  if (parsed.kind === 'help') return { code: 0, stdout: USAGE, stderr: '' };
  if (parsed.kind === 'error') return { code: 2, stdout: '', stderr: `deadpeer model: ${parsed.message}\n` };
  const { args } = parsed;
  const features = args.kernel ? featuresForRelease(args.kernel, env.features.hz) : env.features;
  const prediction = predict(args.phase, modelInputFor(args, features));
  if (!args.json) return { code: 0, stdout: humanTable(prediction, args.family), stderr: '' };
  const out = {
    phase: prediction.phase,
    kernel: prediction.kernel,
    family: args.family,
    origin: prediction.origin,
    events: prediction.events,
    closeAt: prediction.closeAt,
    errno: prediction.errno,
    ...(prediction.acceptAt !== undefined ? { acceptAt: prediction.acceptAt } : {}),
    notes: prediction.notes,
  };
  return { code: 0, stdout: JSON.stringify(out) + '\n', stderr: '' };
}
