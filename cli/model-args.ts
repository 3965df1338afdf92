/**
 * `deadpeer model` input: argv → ModelArgs (or a one-line error), and the rule that no option is
 * accepted and then ignored: `refusals()` names every given option that cannot change this
 * phase's answer, with the kernel's reason, and the CLI refuses it (exit 2). Pure, unit-tested.
 */
import { describeParseError, joinNegativeValues, parseOnce } from '../harness/apps/parse-args.js';
import { OLDEST_RELEASE, OLDEST_RELEASE_WHY, PHASES, defaultSysctls, durationSeconds, middleboxFamilyProblem, modelKnowsRelease, parseMiddlebox, parseRelease } from '../harness/model/index.js';
import type { KernelFeatures, Middlebox, Phase, TcpSysctls } from '../harness/model/index.js';
import { DURATION_EXAMPLES } from '../harness/model/duration.js';
import { deferAcceptRetrans } from '../harness/model/reqsk.js';
import { TCP_SYSCTL_NAMES } from '../harness/model/types.js';
import { sysctlRange } from '../harness/model/sysctl-ranges.js';

export type Peer = 'alive' | 'gone';

export interface ModelArgs {
  phase: Phase;
  json: boolean;
  family: 4 | 6;
  /** SO_KEEPALIVE with these TCP_KEEPIDLE/INTVL/CNT, or 'on': with the namespace's sysctls */
  keepalive?: { idle: number; intvl: number; cnt: number } | 'on';
  userTimeoutMs?: number;
  synCnt?: number;
  deferAcceptS?: number;
  /** absent: gone (the question is a vanished peer) */
  peer?: Peer;
  /** zero-window, --peer gone: when the receiver vanished, s after the window closed */
  peerGoneAtS?: number;
  /** zero-window: the receiver last answered an out-of-window segment this many s before t = 0 */
  peerAnsweredBeforeS?: number;
  /** icsk_rto, ms (busy, zero-window) */
  rtoMs?: number;
  /** the path's round-trip time, ms (busy, zero-window): the RTO and the TLP derived from it the kernel's way */
  rttMs?: number;
  /** busy: the tail loss probe, ms after the data, or none */
  tlpMs?: number | 'off';
  /** TCP_RTO_MAX_MS */
  rtoMaxMs?: number;
  sysctls: Partial<TcpSysctls>;
  /** --kernel X.Y */
  kernel?: string;
  /** --hz N: CONFIG_HZ of the kernel predicted for */
  hz?: number;
  /** --blip S: the peer is unreachable from t = 0 until S s after it, then back */
  blipS?: number;
  /** --middlebox: the path between forgets the idle connection (idle only; the peer stays) */
  middlebox?: Middlebox;
  /** --write-at: with a middlebox, when the application writes, s after the handshake (default: a second after the expiry) */
  writeAtS?: number;
}

export type ParsedModelArgs = { kind: 'help' } | { kind: 'args'; args: ModelArgs } | { kind: 'error'; message: string };

export const MODEL_USAGE = `usage: deadpeer model <phase> [--json] [--family 4|6] [--keepalive IDLE:INTVL:CNT|on]
                      [--user-timeout MS] [--syncnt N] [--defer-accept S] [--peer alive|gone]
                      [--peer-gone-at S] [--peer-answered-before S] [--rtt MS] [--rto MS] [--tlp MS|off]
                      [--rto-max MS] [--middlebox NAME|idle-expiry:D:drop|reset[:nat|firewall]]
                      [--write-at D] [--sysctl NAME=VALUE]... [--kernel X.Y] [--hz N] [--blip S]

Prints what the kernel model predicts when the peer vanishes in <phase>: the packets the dying
side sends, when the socket gives up and with which errno, and where on the kernel's timer wheel
each of them can really fire. Nothing is run. An option the kernel ignores in that phase is
answered — the answer is the one without it — and named with the kernel's reason in the notes and
in "ignoredByKernel"; only what the model cannot represent is refused (exit 2), in one line.

phases: ${PHASES.join(', ')}

  --json                   one JSON line {"phase","kernel","hz","origin","events":[{"t","side","packet","n","window"}],
                           "closeAt","closeWindow","errno","inputs","ignoredByKernel":[option names],
                           "ignoredByKernelWhy":{name:reason},"notes",...}; times in s from t = 0
  --family 4|6             address family (recorded; the TCP timers are the same for both)
  --keepalive I:V:C|on     idle: SO_KEEPALIVE with TCP_KEEPIDLE I s, TCP_KEEPINTVL V s, TCP_KEEPCNT C;
                           on = SO_KEEPALIVE with the tcp_keepalive_* sysctls
  --user-timeout MS        TCP_USER_TIMEOUT in ms (0 = off): syn-sent, idle (with keepalive), busy, zero-window
  --syncnt N               TCP_SYNCNT (1..127): syn-sent; on the listener: syn-recv, defer-accept
  --defer-accept S         defer-accept: TCP_DEFER_ACCEPT in seconds on the listener
  --peer alive|gone        the other end is still there (alive) or vanished (gone, the default).
                           idle: alive answers keepalive probes → never closes; busy: alive acknowledges
                           the data → never; zero-window: alive answers probes with win 0 (at most one
                           per its 500 ms tcp_invalid_ratelimit); syn-recv: alive = only the final ACK
                           was lost, the client answers the resent SYN+ACK; defer-accept: alive = the
                           client answers the SYN+ACK at the deferral's end. Not in syn-sent.
  --peer-gone-at S         zero-window with --peer gone: the receiver vanished S s after the window
                           closed, answering probes until then (default 0)
  --peer-answered-before S zero-window: the receiver last answered a probe S s before the window closed
                           (an earlier zero-window episode): within its rate limit it skips the next
  --rtt MS                 busy, zero-window: the path's round-trip time; the RTO is what the kernel's
                           estimator settles on for it (srtt + rttvar floored at tcp_rto_min in whole
                           jiffies, rounded up to a jiffy: __tcp_set_rto) and the TLP 2·RTT + tcp_rto_min
                           capped by it. Not with --rto (which gives the RTO itself) nor --tlp MS
                           (--tlp off stays: no SACK, or tcp_early_retrans < 3)
  --rto MS                 busy, zero-window: the connection's RTO (tcpi_rto) when the data went out /
                           the window closed (default: derived from a tiny RTT, as on a veth; said in the notes)
  --tlp MS|off             busy: the tail loss probe's timeout, or none (default: one segment, SACK,
                           tcp_early_retrans 3, the RTT of --rtt or a tiny one; said in the notes)
  --rto-max MS             TCP_RTO_MAX_MS (1000..120000; Linux 6.15+; the listener's from 6.19)
  --blip S                 not gone for good: unreachable from t = 0 until S s after it, then back —
                           survives (the first transmission after it is answered) or dies (the give-up
                           came first); JSON adds "blip":{"survives","marginS",...} (syn-sent, idle, busy, zero-window)
  --middlebox M            idle: the peer stays, but a middlebox on the path forgets the connection after
                           its idle timeout (conntrack's established timeout) and drops, or answers with a
                           RST, the next packet. M is a preset (aws-nat-gateway, aws-nlb, azure-lb,
                           gcp-vpc-firewall, gcp-cloud-nat, linux-conntrack) or idle-expiry:DURATION:drop|reset
                           [:nat|firewall] (whole seconds; firewall by default; a NAT is IPv4 only). Says
                           whether the mapping is kept (keepalive below the timeout), what the first
                           transmission after the expiry meets, what the client sees and when, and what
                           the server does; JSON adds "middlebox":{"mapping","trigger","client","outcome",
                           "server",...} and the events and closeAt count from the handshake's end
  --write-at D             with --middlebox: when the application writes, after the handshake (30s, 6m, …;
                           default: one second after the expiry, said in the notes)
  --sysctl NAME=VALUE      a net.ipv4 sysctl of the namespace (default: a new namespace's defaults),
                           within what the kernel takes (tcp_syn_retries 1..127, tcp_retries2 0..255, …)
  --kernel X.Y             predict for that kernel release instead of the running one (4.19 or later:
                           older kernels follow other rules, refused)
  --hz N                   CONFIG_HZ of that kernel: 100, 250, 300 or 1000 (default: the running kernel's)
  -h, --help               this text

The windows: a timer never fires before it expires, but t = 0 falls anywhere inside a jiffy, so an
event can come one jiffy before its time; late, each timer fires at the end of its wheel level's
granule (plus a jiffy), and the next one of the chain is armed from when it really fired, so the
lateness adds up along a chain: [t − 1 jiffy, t + Σ lateness]. The cases assert these same windows.
`;

/** A whole number in [min, max], or an error message saying what is allowed. */
function intIn(option: string, text: string, min: number, max: number): number | string {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    return `${option}: "${text}" is not allowed: expected a whole number from ${min} to ${max}`;
  }
  return Number(text);
}

/** A decimal number in [min, max] (up to microseconds of ms / s), or an error message. */
function decimalIn(option: string, text: string, min: number, max: number, unit: string): number | string {
  if (!/^\d+(\.\d{1,6})?$/.test(text) || Number(text) < min || Number(text) > max) {
    return `${option}: "${text}" is not allowed: expected ${unit} from ${min} to ${max}`;
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
  'peer-gone-at': { type: 'string' },
  'peer-answered-before': { type: 'string' },
  blip: { type: 'string' },
  middlebox: { type: 'string' },
  'write-at': { type: 'string' },
  rtt: { type: 'string' },
  rto: { type: 'string' },
  tlp: { type: 'string' },
  'rto-max': { type: 'string' },
  sysctl: { type: 'string', multiple: true },
  kernel: { type: 'string' },
  hz: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every option `deadpeer model` accepts, as typed (for the help text and the option walk). */
export const MODEL_OPTIONS = Object.keys(OPTIONS).map((o) => `--${o}`);
const ALLOWED_OPTIONS = MODEL_OPTIONS.join(' ');

/** The CONFIG_HZ choices of kernel/Kconfig.hz. */
export const HZ_CHOICES = [100, 250, 300, 1000] as const;

/** Parse argv (without "model"). Never throws. Says nothing yet about whether an option matters (refusals). */
export function parseModelArgs(argv: string[]): ParsedModelArgs {
  let parsed;
  try {
    // --sysctl is a list by design: one sysctl per --sysctl, each named once
    parsed = parseOnce({ args: joinNegativeValues(argv), allowPositionals: true, strict: true, options: OPTIONS }, { sysctl: (v) => v.split('=')[0]!.replace(/^net\.ipv4\./, '') });
  } catch (err) {
    return { kind: 'error', message: describeParseError(err, ALLOWED_OPTIONS) };
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

  const args: ModelArgs = { phase, json: !!values.json, family: 4, sysctls: {} };
  const take = (v: number | string, set: (n: number) => void): string | undefined => {
    if (typeof v === 'string') return v;
    set(v);
    return undefined;
  };

  if (values.family !== undefined) {
    if (values.family !== '4' && values.family !== '6') return fail(`--family: "${values.family}" is not allowed: expected 4 or 6`);
    args.family = values.family === '4' ? 4 : 6;
  }
  if (values.keepalive === 'on') args.keepalive = 'on';
  else if (values.keepalive !== undefined) {
    const parts = values.keepalive.split(':');
    if (parts.length !== 3) {
      return fail(`--keepalive: "${values.keepalive}" is not allowed: expected IDLE:INTVL:CNT, e.g. 5:3:3, or on`);
    }
    // MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL 32767, MAX_TCP_KEEPCNT 127 (include/net/tcp.h)
    const idle = intIn('--keepalive IDLE', parts[0]!, 1, 32767);
    const intvl = intIn('--keepalive INTVL', parts[1]!, 1, 32767);
    const cnt = intIn('--keepalive CNT', parts[2]!, 1, 127);
    for (const v of [idle, intvl, cnt]) if (typeof v === 'string') return fail(v);
    args.keepalive = { idle: idle as number, intvl: intvl as number, cnt: cnt as number };
  }
  const numeric: [string | undefined, () => number | string, (n: number) => void][] = [
    [values['user-timeout'], () => intIn('--user-timeout', values['user-timeout']!, 0, 2 ** 31 - 1), (n) => (args.userTimeoutMs = n)],
    [values.syncnt, () => intIn('--syncnt', values.syncnt!, 1, 127), (n) => (args.synCnt = n)], // MAX_TCP_SYNCNT
    [values['defer-accept'], () => intIn('--defer-accept', values['defer-accept']!, 0, 2 ** 31 - 1), (n) => (args.deferAcceptS = n)],
    [values['peer-gone-at'], () => decimalIn('--peer-gone-at', values['peer-gone-at']!, 0, 86_400, 'seconds'), (n) => (args.peerGoneAtS = n)],
    [values['peer-answered-before'], () => decimalIn('--peer-answered-before', values['peer-answered-before']!, 0, 86_400, 'seconds'), (n) => (args.peerAnsweredBeforeS = n)],
    // icsk_rto lies between tcp_rto_min (≥ 1 ms, tcp_rto_min_us) and TCP_RTO_MAX (120 s)
    [values.rto, () => decimalIn('--rto', values.rto!, 1, 120_000, 'ms'), (n) => (args.rtoMs = n)],
    // an RTT is positive, at µs resolution, and no longer than TCP_RTO_MAX
    [values.rtt, () => decimalIn('--rtt', values.rtt!, 0.001, 120_000, 'ms'), (n) => (args.rttMs = n)],
    // TCP_RTO_MAX_MS accepts 1000..120000 (net/ipv4/tcp.c, 6.15), as `deadpeer check --rto-max`
    [values['rto-max'], () => intIn('--rto-max', values['rto-max']!, 1000, 120_000), (n) => (args.rtoMaxMs = n)],
    [values.blip, () => decimalIn('--blip', values.blip!, 0.001, 86_400, 'seconds'), (n) => (args.blipS = n)],
  ];
  for (const [given, check, set] of numeric) {
    if (given === undefined) continue;
    const problem = take(check(), set);
    if (problem) return fail(problem);
  }
  if (values.tlp === 'off') args.tlpMs = 'off';
  else if (values.tlp !== undefined) {
    const problem = take(decimalIn('--tlp', values.tlp, 1, 120_000, 'ms (or off)'), (n) => (args.tlpMs = n));
    if (problem) return fail(problem);
  }
  // the RTO and the TLP delay follow from the RTT: given beside it, one of them would be ignored or contradict it
  if (args.rttMs !== undefined && args.rtoMs !== undefined) {
    return fail('--rtt and --rto: the RTO is what the kernel derives from the RTT: give the path\'s RTT (--rtt) or the connection\'s tcpi_rto (--rto), not both');
  }
  if (args.rttMs !== undefined && typeof args.tlpMs === 'number') {
    return fail('--rtt and --tlp MS: the tail loss probe follows from the RTT (2·RTT + tcp_rto_min, capped by the RTO): give --tlp off (no SACK, or tcp_early_retrans < 3) or give --rto and --tlp instead of --rtt');
  }
  if (values.middlebox !== undefined) {
    const m = parseMiddlebox(values.middlebox);
    if ('error' in m) return fail(`--middlebox: ${m.error}`);
    args.middlebox = m;
  }
  if (values['write-at'] !== undefined) {
    const w = durationSeconds(values['write-at']);
    if (w === undefined) return fail(`--write-at: ${JSON.stringify(values['write-at'])} is not allowed: expected ${DURATION_EXAMPLES}`);
    args.writeAtS = w;
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
    // the kernel's own range (keepalive times: at --hz, or at HZ 1000, the narrowest, when not given)
    const range = sysctlRange(name, HZ_CHOICES.map(String).includes(values.hz ?? '') ? Number(values.hz) : 1000);
    const problem = take(intIn(`--sysctl ${name}`, m[2]!, range.min, range.max), (n) => (args.sysctls[name] = n));
    if (problem) return fail(problem);
  }
  if (values.kernel !== undefined) {
    if (!/^\d+\.\d+(\.\d+)?$/.test(values.kernel)) return fail(`--kernel: "${values.kernel}" is not allowed: expected X.Y or X.Y.Z, e.g. 6.1`);
    if (!modelKnowsRelease(parseRelease(values.kernel))) {
      return fail(`--kernel: "${values.kernel}" is older than the oldest release the model knows, ${OLDEST_RELEASE.slice(0, 2).join('.')}: ${OLDEST_RELEASE_WHY}`);
    }
    args.kernel = values.kernel;
  }
  if (values.hz !== undefined) {
    if (!HZ_CHOICES.map(String).includes(values.hz)) return fail(`--hz: "${values.hz}" is not allowed: expected one of ${HZ_CHOICES.join(', ')} (CONFIG_HZ)`);
    args.hz = Number(values.hz);
  }
  return { kind: 'args', args };
}

/** The argv that parses back to these arguments (parseModelArgs(modelArgv(a)) equals a). */
export function modelArgv(a: ModelArgs): string[] {
  const out: string[] = [a.phase];
  const opt = (name: string, v: string | number | undefined) => {
    if (v !== undefined) out.push(`--${name}`, String(v));
  };
  if (a.json) out.push('--json');
  if (a.family !== 4) opt('family', a.family);
  opt('keepalive', a.keepalive === undefined || a.keepalive === 'on' ? a.keepalive : `${a.keepalive.idle}:${a.keepalive.intvl}:${a.keepalive.cnt}`);
  opt('user-timeout', a.userTimeoutMs);
  opt('syncnt', a.synCnt);
  opt('defer-accept', a.deferAcceptS);
  opt('peer', a.peer);
  opt('peer-gone-at', a.peerGoneAtS);
  opt('peer-answered-before', a.peerAnsweredBeforeS);
  opt('rtt', a.rttMs);
  opt('rto', a.rtoMs);
  opt('tlp', a.tlpMs);
  opt('rto-max', a.rtoMaxMs);
  opt('blip', a.blipS);
  opt('middlebox', a.middlebox?.name);
  opt('write-at', a.writeAtS);
  for (const [k, v] of Object.entries(a.sysctls)) opt('sysctl', `${k}=${v}`);
  opt('kernel', a.kernel);
  opt('hz', a.hz);
  return out;
}

/** The field of ModelArgs each option sets. */
const FIELD: Record<string, keyof ModelArgs> = {
  '--keepalive': 'keepalive',
  '--user-timeout': 'userTimeoutMs',
  '--syncnt': 'synCnt',
  '--defer-accept': 'deferAcceptS',
  '--peer': 'peer',
  '--peer-gone-at': 'peerGoneAtS',
  '--peer-answered-before': 'peerAnsweredBeforeS',
  '--rtt': 'rttMs',
  '--rto': 'rtoMs',
  '--tlp': 'tlpMs',
  '--rto-max': 'rtoMaxMs',
  '--blip': 'blipS',
  '--middlebox': 'middlebox',
  '--write-at': 'writeAtS',
};

/** The arguments without one option ("--rto", "--sysctl tcp_retries2"), as if it had not been given. */
export function withoutOption(a: ModelArgs, option: string): ModelArgs {
  if (option.startsWith('--sysctl ')) {
    const sysctls = { ...a.sysctls };
    delete sysctls[option.slice('--sysctl '.length) as keyof TcpSysctls];
    return { ...a, sysctls };
  }
  const field = FIELD[option];
  if (!field) throw new Error(`withoutOption: ${option} is not a setting`);
  const out = { ...a };
  delete out[field];
  return out;
}

/**
 * A given option that cannot change the answer, and why. `option` as typed: "--rto", "--sysctl
 * tcp_retries2". kernel: true — the kernel ignores it here (the answer is the one without it, and
 * says so: `ignoredByKernel`); false — the model cannot represent it (refused, exit 2).
 */
export interface Refusal {
  option: string;
  why: string;
  kernel: boolean;
}

/** A value that names the default: honoured, never refused, and not listed as ignored (it is the answer's own premise). */
export function isDefaultValue(a: ModelArgs, option: string): boolean {
  switch (option) {
    case '--peer':
      return a.peer === 'gone';
    case '--user-timeout':
      return a.userTimeoutMs === 0;
    case '--defer-accept':
      return a.deferAcceptS === 0;
    case '--peer-gone-at':
      return a.peerGoneAtS === 0;
    default:
      return false;
  }
}

/** The options of ModelArgs that say something about the connection (--json, --family, --kernel, --hz always matter). */
export type Knob = 'keepalive' | 'user-timeout' | 'syncnt' | 'defer-accept' | 'peer' | 'peer-gone-at' | 'peer-answered-before' | 'rtt' | 'rto' | 'tlp' | 'rto-max' | 'blip' | 'middlebox' | 'write-at';

export const GIVEN: Record<Knob, (a: ModelArgs) => boolean> = {
  keepalive: (a) => a.keepalive !== undefined,
  'user-timeout': (a) => a.userTimeoutMs !== undefined,
  syncnt: (a) => a.synCnt !== undefined,
  'defer-accept': (a) => a.deferAcceptS !== undefined,
  peer: (a) => a.peer !== undefined,
  'peer-gone-at': (a) => a.peerGoneAtS !== undefined,
  'peer-answered-before': (a) => a.peerAnsweredBeforeS !== undefined,
  rtt: (a) => a.rttMs !== undefined,
  rto: (a) => a.rtoMs !== undefined,
  tlp: (a) => a.tlpMs !== undefined,
  'rto-max': (a) => a.rtoMaxMs !== undefined,
  blip: (a) => a.blipS !== undefined,
  middlebox: (a) => a.middlebox !== undefined,
  'write-at': (a) => a.writeAtS !== undefined,
};

interface Context {
  a: ModelArgs;
  f: KernelFeatures;
  phase: Phase;
  peer: Peer;
  userTimeoutMs: number;
  /** TCP_DEFER_ACCEPT as a SYN+ACK timeout count */
  deferRetrans: number;
}

const LISTENER = (what: string) => `the listener's ${what} does not reach the request minisocket that lives through this phase`;
const REQUEST_TIMER_CAP = (c: Context) =>
  !c.f.synAckRtoMax
    ? `before 6.19 the request timer's backoff is capped by the constant TCP_RTO_MAX, not the listener's tcp_rto_max (1e9d3005e02c, Linux ${c.f.version.join('.')} here)`
    : c.peer === 'alive' && (c.phase === 'syn-recv' || c.deferRetrans === 1)
      ? 'with --peer alive the handshake completes at the first SYN+ACK timer, before any backoff'
      : null;

/** Why a knob cannot change this answer, or null when it can. */
function knobIgnored(k: Knob, c: Context): string | null {
  const { phase, peer } = c;
  const listener = phase === 'syn-recv' || phase === 'defer-accept';
  switch (k) {
    case 'keepalive':
      if (phase === 'idle') return null;
      if (phase === 'syn-sent') return 'tcp_keepalive_timer() does nothing before the connection is established (--keepalive applies to idle)';
      if (listener) return `${LISTENER('SO_KEEPALIVE')} (--keepalive applies to idle)`;
      return `tcp_keepalive_timer() only reschedules while data is ${phase === 'busy' ? 'unacknowledged' : 'waiting to be sent'} (--keepalive applies to idle)`;
    case 'user-timeout':
      if (listener) return LISTENER('TCP_USER_TIMEOUT');
      if (phase === 'idle' && c.a.keepalive === undefined) return 'without --keepalive no timer runs on an idle connection, so nothing ever checks TCP_USER_TIMEOUT';
      if (phase === 'idle' && peer === 'alive') return 'with --peer alive every keepalive probe is answered (icsk_probes_out back to 0), so TCP_USER_TIMEOUT is never reached';
      return null;
    case 'syncnt':
      if (!listener && phase !== 'syn-sent') return 'TCP_SYNCNT counts only SYN and SYN+ACK retransmissions (syn-sent; on the listener: syn-recv, defer-accept)';
      if (listener && peer === 'alive') return "with --peer alive the client's answer to a resent SYN+ACK completes the handshake: the retry limit only drops a request nobody answers";
      return null;
    case 'defer-accept':
      if (phase === 'defer-accept') return null;
      if (phase === 'syn-recv') {
        return 'a client gone after its SYN never acknowledges the SYN+ACK: syn_ack_recalc() resends and expires the request as without TCP_DEFER_ACCEPT (it only holds back a request whose final ACK came)';
      }
      return phase === 'syn-sent'
        ? "on a connecting socket TCP_DEFER_ACCEPT only delays the final ACK of the handshake (tcp_rcv_synsent_state_process), which needs a SYN+ACK that never comes"
        : 'TCP_DEFER_ACCEPT is read by the listener (tcp_check_req, reqsk_timer_handler) and a connecting socket (tcp_rcv_synsent_state_process): no timer of an established connection reads it';
    case 'peer':
    case 'peer-gone-at':
      return null;
    case 'peer-answered-before':
      return peer === 'gone' && !c.a.peerGoneAtS
        ? "the receiver's tcp_oow_rate_limited() only spaces its answers, and a receiver gone when the window closed sends none (--peer-gone-at says until when it did)"
        : null;
    case 'rto':
      if (phase === 'busy' || phase === 'zero-window') return null;
      if (phase === 'idle') return 'no retransmission timer runs on an idle connection (--rto applies to busy and zero-window)';
      return `the ${phase === 'syn-sent' ? 'SYN' : 'SYN+ACK'}'s first RTO is TCP_TIMEOUT_INIT (1 s), not measured (--rto applies to busy and zero-window)`;
    case 'rtt':
      if (phase === 'busy' || phase === 'zero-window') return null;
      if (phase === 'idle') return 'no retransmission timer runs on an idle connection: the keepalive timer does not use the RTT (--rtt applies to busy and zero-window)';
      return `the ${phase === 'syn-sent' ? 'SYN' : 'SYN+ACK'}'s RTO is TCP_TIMEOUT_INIT (1 s) before any RTT is measured (--rtt applies to busy and zero-window)`;
    case 'tlp':
      if (phase === 'busy') return null;
      if (phase === 'zero-window') return 'nothing is in flight behind a zero window: there is no tail loss probe (--tlp applies to busy)';
      return 'only data in flight has a tail loss probe (--tlp applies to busy)';
    case 'blip':
      if (phase === 'idle' && c.a.keepalive === undefined) return 'without SO_KEEPALIVE no timer runs on an idle connection (tcp_keepalive_timer is not armed): nothing is sent, an outage goes unnoticed however long it lasts';
      return null;
    case 'rto-max':
      if (phase === 'idle') return 'the keepalive timer does not use tcp_rto_max';
      return listener ? REQUEST_TIMER_CAP(c) : null;
    case 'middlebox':
    case 'write-at':
      return null;
  }
}

/**
 * Why the model cannot answer with this knob (refused, exit 2), or null: a question it has no
 * representation for — not the kernel ignoring a setting, which is answered (knobIgnored).
 */
function knobUnanswerable(k: Knob, c: Context): string | null {
  const { phase, peer } = c;
  const listener = phase === 'syn-recv' || phase === 'defer-accept';
  const beside = c.a.middlebox && MIDDLEBOX_EXCLUDES[k];
  if (beside) return beside;
  switch (k) {
    case 'middlebox':
      return phase === 'idle'
        ? null
        : 'a middlebox forgets an IDLE connection: ask `deadpeer model idle --middlebox …`, whose --write-at is the write after the quiet period (busy through a middlebox is that same question)';
    case 'write-at':
      return c.a.middlebox ? null : '--write-at applies with --middlebox (idle): when the application writes after the quiet period';
    case 'peer':
      return phase === 'syn-sent' && peer === 'alive'
        ? 'a server that answers ends SYN-SENT at once: there is no vanished peer to ask about (--peer alive applies to syn-recv, defer-accept, idle, busy and zero-window)'
        : null;
    case 'peer-gone-at':
      return phase === 'zero-window' && peer === 'gone' ? null : '--peer-gone-at applies to zero-window with --peer gone (when the receiver vanished)';
    case 'peer-answered-before':
      return phase === 'zero-window' ? null : '--peer-answered-before applies to zero-window (a receiver answering window probes)';
    case 'defer-accept':
      return phase === 'syn-recv' && peer === 'alive' && (c.a.deferAcceptS ?? 0) > 0
        ? 'a listener with TCP_DEFER_ACCEPT whose client answers is the defer-accept phase: ask `deadpeer model defer-accept`'
        : null;
    case 'blip':
      if (listener) return 'the blip model is for a connection the application holds (syn-sent, idle, busy, zero-window): a request in the SYN queue is another story';
      return peer === 'alive' ? 'with --peer alive nothing is lost, so there is no outage to heal' : null;
    case 'rto-max':
      return c.f.rtoMax ? null : `Linux ${c.f.version.join('.')} has no TCP_RTO_MAX_MS (6.15+): setsockopt() refuses it`;
    default:
      return null;
  }
}

/** What a middlebox answer cannot take beside it: the question is a path that forgets, not a peer that vanishes. */
const MIDDLEBOX_EXCLUDES: Partial<Record<Knob, string>> = {
  peer: 'with --middlebox the peer stays: it is the path between that forgets the connection (--peer describes a vanished peer)',
  blip: 'with --middlebox the path forgets the connection for good; --blip is an outage that heals on a direct path: ask one or the other',
};

/** Why a sysctl cannot change this answer, or null when it can. */
function sysctlIgnored(name: keyof TcpSysctls, c: Context): string | null {
  const { phase, peer, a } = c;
  const listener = phase === 'syn-recv' || phase === 'defer-accept';
  switch (name) {
    case 'tcp_syn_retries':
      if (phase !== 'syn-sent') return "counts only a connecting client's SYNs (syn-sent)";
      return a.synCnt !== undefined ? 'TCP_SYNCNT (--syncnt) overrides it' : null;
    case 'tcp_syn_linear_timeouts':
      return phase === 'syn-sent' ? null : 'applies to SYN-SENT only';
    case 'tcp_synack_retries':
      if (!listener) return "counts only a listener's SYN+ACKs (syn-recv, defer-accept)";
      if (a.synCnt !== undefined) return 'TCP_SYNCNT on the listener (--syncnt) overrides it';
      if (phase === 'defer-accept' && peer === 'alive') return "with --peer alive the client's ACK to the deferral's SYN+ACK completes the handshake: the retry limit only drops a request nobody answers";
      return null;
    case 'tcp_retries1':
      return 'no give-up reads it: it only makes tcp_write_timeout() re-validate the route';
    case 'tcp_retries2':
      if (phase !== 'busy' && phase !== 'zero-window') return "is the budget of an established connection's retransmissions and window probes (busy, zero-window)";
      return phase === 'busy' && c.userTimeoutMs > 0 ? 'TCP_USER_TIMEOUT (--user-timeout) replaces the tcp_retries2 budget (retransmits_timed_out)' : null;
    case 'tcp_keepalive_time':
    case 'tcp_keepalive_intvl':
    case 'tcp_keepalive_probes':
      if (phase !== 'idle') return 'keepalive probes only an idle connection';
      if (a.keepalive === undefined) return 'SO_KEEPALIVE is off (--keepalive on turns it on with the sysctls)';
      if (a.keepalive !== 'on') return '--keepalive IDLE:INTVL:CNT sets the socket options, which override it (--keepalive on uses the sysctls)';
      if (name === 'tcp_keepalive_probes' && peer === 'alive') return 'with --peer alive every probe is answered: the count is never reached';
      if (name === 'tcp_keepalive_probes' && c.userTimeoutMs > 0) return 'TCP_USER_TIMEOUT makes the keepalive timer ignore the probe count';
      return null;
    case 'tcp_rto_min_us':
      if (phase !== 'busy' && phase !== 'zero-window') return 'only the RTO of an established connection uses it (busy, zero-window)';
      if (phase === 'busy' && a.rtoMs !== undefined && a.tlpMs !== undefined) return '--rto and --tlp give what it would decide';
      if (phase === 'zero-window' && a.rtoMs !== undefined) return '--rto gives the RTO it would decide (the probe base is max(rto, TCP_RTO_MIN), a constant)';
      return null;
    case 'tcp_rto_max_ms':
      if (phase === 'idle') return 'the keepalive timer does not use tcp_rto_max';
      if (listener) return REQUEST_TIMER_CAP(c);
      return a.rtoMaxMs !== undefined ? 'TCP_RTO_MAX_MS (--rto-max) overrides it' : null;
    case 'tcp_syncookies':
      return 'syncookies stand in for the SYN queue only when it overflows, never for one connection: no phase reads it';
  }
}

function contextOf(a: ModelArgs, features: KernelFeatures): Context {
  return { a, f: features, phase: a.phase, peer: a.peer ?? 'gone', userTimeoutMs: a.userTimeoutMs ?? 0, deferRetrans: deferAcceptRetrans(a.deferAcceptS ?? 0) };
}

/** What a middlebox answer reads beyond idle alone: the retransmission chain after a write (model/busy.ts). */
const READ_AFTER_A_WRITE = new Set(['--user-timeout', '--rtt', '--rto', '--tlp', '--rto-max', '--sysctl tcp_retries2', '--sysctl tcp_rto_min_us', '--sysctl tcp_rto_max_ms']);

/**
 * Why the kernel ignores this option on an idle connection whatever the path does — the reason
 * that still holds through a middlebox — or null (the option is read there, or only the path's
 * answer can say). `option` as typed: "--syncnt", "--sysctl tcp_syn_retries".
 */
export function idleReasonThroughMiddlebox(option: string, a: ModelArgs, features: KernelFeatures): string | null {
  if (READ_AFTER_A_WRITE.has(option)) return null;
  const { middlebox: _m, writeAtS: _w, ...idle } = a;
  const c = contextOf(idle, features);
  if (option.startsWith('--sysctl ')) return sysctlIgnored(option.slice('--sysctl '.length) as keyof TcpSysctls, c);
  const k = option.slice(2) as Knob;
  return k in GIVEN ? knobIgnored(k, c) : null;
}

/**
 * Every given option that cannot change this answer, each with its reason: those the model cannot
 * represent first (kernel false: `deadpeer model` refuses the first), then those the kernel ignores
 * here (kernel true: answered, listed in `ignoredByKernel`). The option-walk test
 * (test/unit/cli-options-walk.test.ts) proves each of those true by feeding the option to the model.
 */
export function refusals(a: ModelArgs, features: KernelFeatures): Refusal[] {
  const c = contextOf(a, features);
  // whole answers that no setting moves
  const fixed =
    a.phase === 'busy' && c.peer === 'alive'
      ? { except: 'peer', why: 'with --peer alive the peer acknowledges the data: no timer is left to give up in busy' }
      : a.phase === 'defer-accept' && c.deferRetrans === 0
        ? { except: 'defer-accept', why: 'TCP_DEFER_ACCEPT is off (no --defer-accept, or 0): the final ACK completes the handshake at once' }
        : null;
  const refused: Refusal[] = [];
  const ignored: Refusal[] = [];
  for (const k of Object.keys(GIVEN) as Knob[]) {
    if (!GIVEN[k](a)) continue;
    const cannot = knobUnanswerable(k, c);
    if (cannot) refused.push({ option: `--${k}`, why: cannot, kernel: false });
    else if (!isDefaultValue(a, `--${k}`) && !a.middlebox) {
      const why = fixed && k !== fixed.except ? fixed.why : knobIgnored(k, c);
      if (why) ignored.push({ option: `--${k}`, why, kernel: true });
    }
  }
  const family = a.middlebox && middleboxFamilyProblem(a.middlebox, a.family);
  if (family) refused.push({ option: '--middlebox', why: family, kernel: false });
  for (const name of Object.keys(a.sysctls) as (keyof TcpSysctls)[]) {
    if (!(name in defaultSysctls(c.f))) {
      const since = { tcp_syn_linear_timeouts: '6.5', tcp_rto_min_us: '6.11', tcp_rto_max_ms: '6.15' }[name as string];
      refused.push({ option: `--sysctl ${name}`, why: `does not exist on Linux ${c.f.version.join('.')}${since ? ` (${since}+)` : ''}`, kernel: false });
      continue;
    }
    // through a middlebox the retransmission chain after a write reads what idle alone does not: the model decides (cli/model.ts)
    if (a.middlebox) continue;
    const why = fixed ? fixed.why : sysctlIgnored(name, c);
    if (why) ignored.push({ option: `--sysctl ${name}`, why, kernel: true });
  }
  return [...refused, ...ignored];
}
