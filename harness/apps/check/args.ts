/**
 * `deadpeer check` input: flags, a JSON/YAML config file, a preset, combined as
 * preset → config file → flags (each later one overrides the fields it states). Pure: argv and a
 * file reader in, a configuration or a one-line error out, so every message is unit-tested.
 * Nothing here touches the system: bad input is refused before any namespace exists.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../../core/errors.js';
import { extname } from 'node:path';
import { describeParseError, joinNegativeValues, parseOnce, refuseRepeats } from '../parse-args.js';
import { parse as parseYaml } from 'yaml';
import { DURATION_EXAMPLES, durationSeconds } from '../../model/duration.js';
import type { KernelFeatures, TcpSysctls } from '../../model/types.js';
import { type Middlebox, middleboxFamilyProblem, parseMiddlebox } from '../../model/middlebox.js';
import { USER_PHASES, type UserPhase } from '../../recipes/phases.js';
import { SERVER_PHASES } from '../../recipes/server-phases.js';
import { PRESETS, type SocketConfig, findPreset, mergeConfig } from './presets.js';
import type { ProfileName } from '../../core/profile.js';

export interface CheckArgs {
  /** the preset the configuration started from, if any */
  preset?: string;
  /** the socket configuration: preset, then config file, then flags (with side 'server': the listener's, inherited by accepted sockets) */
  config: SocketConfig;
  /** whose socket is judged: the client's (default), or the server's accepted socket, the configuration set on its listener (absent: the client) */
  side?: CheckSide;
  family: 4 | 6;
  profile: ProfileName;
  phases: UserPhase[];
  /** detection budget per phase, seconds; a phase not listed has none */
  maxDetect: Partial<Record<UserPhase, number>>;
  /** phases the model says take longer than this (s) are not run, only predicted */
  maxRunS: number;
  /** a blip instead of a vanished peer: the outage heals after this many seconds, and the gate is surviving it */
  blipS?: number;
  /** with a blip: idle's begins just before the first keepalive probe (its worst moment), not at t = 0 (recommend --prove) */
  blipWorst?: boolean;
  /** the client namespace's sysctls instead of the profile's (recommend --prove: this host's own) */
  namespaceSysctls?: Partial<TcpSysctls>;
  /** a middlebox on the path that forgets idle connections: whether the idle connection keeps its mapping, and what the first write after the expiry meets */
  middlebox?: Middlebox;
  json: boolean;
  /** where the configuration came from, for the output's first line */
  sources: string[];
}

export type CheckSide = 'client' | 'server';

export type ParsedCheckArgs =
  | { kind: 'help' }
  | { kind: 'list-presets' }
  | { kind: 'args'; args: CheckArgs }
  | { kind: 'error'; message: string };

export interface CheckEnv {
  features: KernelFeatures;
  readFile?: (path: string) => string;
}

export const CHECK_USAGE = `usage: deadpeer check [--preset NAME] [--config FILE] [--keepalive IDLE:INTVL:CNT|off]
                      [--user-timeout MS] [--syncnt N] [--rto-max MS] [--family 4|6]
                      [--profile fast|faithful] [--phases connect,idle,busy,zero-window]
                      [--max-detect 30s | --max-detect idle=20s,busy=30s] [--max-run 300s]
                      [--fault blackhole|blip:D] [--middlebox NAME|idle-expiry:D:drop|reset[:nat|firewall]]
                      [--side client|server] [--json]
       deadpeer check --list-presets

Runs every phase (the peer vanishes during connect(), while idle, while sending, while the window
is zero) with these client socket options on this kernel, in parallel, each in its own pair of
network namespaces, and prints per phase: when the model says the socket notices, when the
kernel really did, the errno, and whether they agree; then advice derived from the model.

  --preset NAME            start from what a client sets (--list-presets); flags override it
  --config FILE            a JSON or YAML file with the same fields as the flags, e.g.
                             preset: go-1.23
                             keepalive: {idle: 15, interval: 15, count: 9}   # or "15:15:9", or off
                             user-timeout: 20000
                             max-detect: {idle: 20s, busy: 30s}
  --keepalive I:V:C|off    SO_KEEPALIVE on with TCP_KEEPIDLE I s, TCP_KEEPINTVL V s, TCP_KEEPCNT C; off = SO_KEEPALIVE 0
  --user-timeout MS        TCP_USER_TIMEOUT (0 = off)
  --syncnt N               TCP_SYNCNT (1..127)
  --rto-max MS             TCP_RTO_MAX_MS (1000..120000; Linux 6.15+)
  --family 4|6             IPv4 (default) or IPv6
  --profile fast|faithful  fast (default): the client's namespace gets tcp_syn_retries=3 and
                           tcp_retries2=5 so every phase takes seconds (the model predicts for
                           those); faithful: the kernel's defaults (busy and zero-window ≈ 15 min)
  --phases LIST            which phases to run (default: all)
  --max-detect D | P=D,…   CI gate: exit 1 when a phase's detection time exceeds D (never = infinite)
  --max-run D              don't run a phase the model says takes longer (default 300s; faithful 1200s)
  --fault blackhole|blip:D blackhole (default): the peer vanishes for good; blip:5s: the network goes dark
                           for 5 s and heals — every phase must survive it (exit 1 if one does not)
  --middlebox M            a middlebox on the path forgets the connection after M's idle timeout: adds
                           "the idle connection keeps its mapping: yes/no (why)" and "the first write after
                           the expiry (1.5 s after it): fails after X s with E / hangs X s, then ETIMEDOUT / is
                           acknowledged" — the model's at the profile's sysctls, and measured on this kernel
                           beside the phases (a router namespace running conntrack between client and server:
                           the entry's end, the write's errno and time) when the timeout and what follows fit
                           --max-run; longer ones are predicted and say so. --max-detect (idle's) gates it,
                           on the measured time when it ran. M: aws-nat-gateway, aws-nlb, azure-lb,
                           gcp-vpc-firewall, gcp-cloud-nat, linux-conntrack, or
                           idle-expiry:DURATION:drop|reset[:nat|firewall] (a NAT is IPv4 only)
  --side client|server     client (default): the options are the client's, the server vanishes. server: the
                           options are set on the server's LISTENER and judged on the socket accept() returns
                           (it inherits them all but TCP_DEFER_ACCEPT: measured, cases/listener-inheritance);
                           the CLIENT vanishes while the server is idle or busy, or stays and stops reading
                           (zero-window: the slow download — judged too by the send-buffer drain monitor,
                           alive or dead). Phases idle, busy, zero-window: a server does not connect
  --json                   one JSON object on stdout
  --list-presets           the presets and where their values come from

Each option at most once (a second one is refused, not a correction of the first).
Durations: 30s, 1500ms, 2m (a bare number is seconds). Exit: 0 ok, 1 over budget or a phase
could not be measured, 2 bad input.
`;

const OPTIONS = {
  preset: { type: 'string' },
  config: { type: 'string' },
  keepalive: { type: 'string' },
  'user-timeout': { type: 'string' },
  syncnt: { type: 'string' },
  'rto-max': { type: 'string' },
  family: { type: 'string' },
  profile: { type: 'string' },
  phases: { type: 'string' },
  'max-detect': { type: 'string' },
  'max-run': { type: 'string' },
  fault: { type: 'string' },
  middlebox: { type: 'string' },
  side: { type: 'string' },
  json: { type: 'boolean' },
  'list-presets': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every flag `deadpeer check` takes (the option-walk test tries each one). */
export const CHECK_FLAGS = Object.keys(OPTIONS).map((o) => `--${o}`);

const ALLOWED = Object.keys(OPTIONS)
  .map((o) => `--${o}`)
  .join(' ');

const PRESET_NAMES = PRESETS.map((p) => p.name).join(', ');

// MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL 32767, MAX_TCP_KEEPCNT 127, MAX_TCP_SYNCNT 127 (include/net/tcp.h);
// TCP_RTO_MAX_MS accepts 1000..120000 (tcp_sock_set_rto_max… in net/ipv4/tcp.c, 6.15)
const LIMITS = {
  idle: [1, 32767],
  intvl: [1, 32767],
  cnt: [1, 127],
  userTimeout: [0, 2 ** 31 - 1],
  synCnt: [1, 127],
  rtoMax: [1000, 120_000],
} as const;


/** "where: "value" is not allowed: expected …" — the shape of every input error. */
const notAllowed = (where: string, value: unknown, expected: string) =>
  new InputError(`${where}: ${JSON.stringify(value)} is not allowed: expected ${expected}`);

function wholeIn(where: string, value: unknown, [min, max]: readonly [number, number], unit = ''): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw notAllowed(where, value, `a whole number${unit} from ${min} to ${max}`);
  return n;
}

/** 30s, 1500ms, 2m, 30 (seconds) → seconds. */
export function parseDuration(where: string, value: unknown): number {
  const s = durationSeconds(value);
  if (s === undefined) throw notAllowed(where, value, DURATION_EXAMPLES);
  return s;
}

function keepaliveFrom(where: string, value: unknown): SocketConfig['keepalive'] {
  if (value === false || value === 'off' || value === 'false') return false;
  if (typeof value === 'string') {
    const parts = value.split(':');
    if (parts.length !== 3) throw notAllowed(where, value, 'IDLE:INTVL:CNT (e.g. 5:3:3) or off');
    return {
      idle: wholeIn(`${where} IDLE`, parts[0], LIMITS.idle, ' of seconds'),
      intvl: wholeIn(`${where} INTVL`, parts[1], LIMITS.intvl, ' of seconds'),
      cnt: wholeIn(`${where} CNT`, parts[2], LIMITS.cnt),
    };
  }
  if (value === true || value === 'on') return {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const known = ['idle', 'interval', 'count'];
    const extra = Object.keys(o).find((k) => !known.includes(k));
    if (extra) throw new InputError(`${where}: unknown field "${extra}": allowed fields are ${known.join(', ')}`);
    return {
      ...(o.idle !== undefined ? { idle: wholeIn(`${where}.idle`, o.idle, LIMITS.idle, ' of seconds') } : {}),
      ...(o.interval !== undefined ? { intvl: wholeIn(`${where}.interval`, o.interval, LIMITS.intvl, ' of seconds') } : {}),
      ...(o.count !== undefined ? { cnt: wholeIn(`${where}.count`, o.count, LIMITS.cnt) } : {}),
    };
  }
  throw notAllowed(where, value, 'IDLE:INTVL:CNT, {idle, interval, count}, true or off');
}

function phasesFrom(where: string, value: unknown): UserPhase[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((s) => s.trim()) : null;
  if (!list || list.length === 0) throw notAllowed(where, value, `a list of phases from ${USER_PHASES.join(', ')}`);
  for (const p of list) if (!USER_PHASES.includes(p as UserPhase)) throw new InputError(`${where}: unknown phase ${JSON.stringify(p)}: expected ${USER_PHASES.join(', ')}`);
  refuseRepeats(where, list as string[]);
  return list as UserPhase[];
}

/** "30s" (every phase) or "idle=20s,busy=30s" (those phases), or the same as a YAML/JSON mapping. */
function maxDetectFrom(where: string, value: unknown): Partial<Record<UserPhase, number>> {
  const perPhase = (entries: [string, unknown][]) => {
    refuseRepeats(where, entries.map(([phase]) => phase));
    const out: Partial<Record<UserPhase, number>> = {};
    for (const [phase, d] of entries) {
      if (!USER_PHASES.includes(phase as UserPhase)) throw new InputError(`${where}: unknown phase ${JSON.stringify(phase)}: expected ${USER_PHASES.join(', ')}`);
      out[phase as UserPhase] = parseDuration(`${where} ${phase}`, d);
    }
    return out;
  };
  if (value && typeof value === 'object' && !Array.isArray(value)) return perPhase(Object.entries(value));
  if (typeof value === 'string' && value.includes('=')) {
    return perPhase(
      value.split(',').map((kv) => {
        const [k, v, ...rest] = kv.split('=');
        if (v === undefined || rest.length) throw notAllowed(where, value, 'PHASE=DURATION[,PHASE=DURATION…], e.g. idle=20s,busy=30s');
        return [k!.trim(), v.trim()];
      }),
    );
  }
  const d = parseDuration(where, value);
  return Object.fromEntries(USER_PHASES.map((p) => [p, d]));
}

function familyFrom(where: string, value: unknown): 4 | 6 {
  if (value === 4 || value === '4') return 4;
  if (value === 6 || value === '6') return 6;
  throw notAllowed(where, value, '4 or 6');
}

function profileFrom(where: string, value: unknown): ProfileName {
  if (value === 'fast' || value === 'faithful') return value;
  throw notAllowed(where, value, 'fast or faithful');
}

function presetFrom(where: string, value: unknown): string {
  if (typeof value !== 'string' || !findPreset(value)) throw new InputError(`${where}: unknown preset ${JSON.stringify(value)}: expected one of ${PRESET_NAMES}`);
  return value;
}

function rtoMaxFrom(where: string, value: unknown, features: KernelFeatures): number {
  const v = wholeIn(where, value, LIMITS.rtoMax, ' of ms');
  if (!features.rtoMax) throw new InputError(`${where}: this kernel (${features.release}) has no TCP_RTO_MAX_MS (Linux 6.15+)`);
  return v;
}

function middleboxFrom(where: string, value: unknown): Middlebox {
  const m = typeof value === 'string' ? parseMiddlebox(value) : { error: `${JSON.stringify(value)} is not allowed: expected a preset name or idle-expiry:DURATION:drop|reset[:nat|firewall]` };
  if ('error' in m) throw new InputError(`${where}: ${m.error}`);
  return m;
}

/**
 * How the peer goes: 'blackhole' (for good: the default) or 'blip:D', an outage that heals after
 * D — then the question is not how soon it is noticed but whether the connection survives it.
 * Returns the blip's seconds, or undefined for a blackhole.
 */
export function faultFrom(where: string, value: unknown): number | undefined {
  if (value === 'blackhole') return undefined;
  const m = typeof value === 'string' ? /^blip:(.+)$/.exec(value.trim()) : null;
  if (!m) throw notAllowed(where, value, 'blackhole or blip:DURATION (e.g. blip:5s)');
  const d = parseDuration(`${where} blip`, m[1]);
  if (d <= 0) throw notAllowed(where, value, 'a blip longer than 0 s');
  return d;
}

/** Every field a config file may hold; the same names as the flags. */
const CONFIG_FIELDS = ['preset', 'keepalive', 'user-timeout', 'syncnt', 'rto-max', 'family', 'profile', 'phases', 'max-detect', 'max-run', 'fault', 'middlebox', 'side'] as const;
type ConfigField = (typeof CONFIG_FIELDS)[number];

/** The settings one source (the config file, or the flags) states; absent = not stated. */
interface Stated {
  preset?: string;
  config: SocketConfig;
  family?: 4 | 6;
  profile?: ProfileName;
  phases?: UserPhase[];
  maxDetect?: Partial<Record<UserPhase, number>>;
  maxRunS?: number;
  /** 'blackhole' (undefined) or a blip's seconds */
  blipS?: number;
  middlebox?: Middlebox;
  side?: CheckSide;
}

function sideFrom(where: string, value: unknown): CheckSide {
  if (value === 'client' || value === 'server') return value;
  throw notAllowed(where, value, 'client or server');
}

function stated(get: (f: ConfigField) => unknown, name: (f: ConfigField) => string, features: KernelFeatures): Stated {
  const out: Stated = { config: {} };
  const has = (f: ConfigField) => get(f) !== undefined;
  if (has('side')) out.side = sideFrom(name('side'), get('side'));
  if (has('preset')) out.preset = presetFrom(name('preset'), get('preset'));
  if (has('keepalive')) out.config.keepalive = keepaliveFrom(name('keepalive'), get('keepalive'));
  if (has('user-timeout')) out.config.userTimeoutMs = wholeIn(name('user-timeout'), get('user-timeout'), LIMITS.userTimeout, ' of ms');
  if (has('syncnt')) out.config.synCnt = wholeIn(name('syncnt'), get('syncnt'), LIMITS.synCnt);
  if (has('rto-max')) out.config.rtoMaxMs = rtoMaxFrom(name('rto-max'), get('rto-max'), features);
  if (has('family')) out.family = familyFrom(name('family'), get('family'));
  if (has('profile')) out.profile = profileFrom(name('profile'), get('profile'));
  if (has('phases')) out.phases = phasesFrom(name('phases'), get('phases'));
  if (has('max-detect')) out.maxDetect = maxDetectFrom(name('max-detect'), get('max-detect'));
  if (has('max-run')) out.maxRunS = parseDuration(name('max-run'), get('max-run'));
  if (has('fault')) {
    const b = faultFrom(name('fault'), get('fault'));
    if (b !== undefined) out.blipS = b;
  }
  if (has('middlebox')) out.middlebox = middleboxFrom(name('middlebox'), get('middlebox'));
  return out;
}

/**
 * Validate a parsed config file (any JSON/YAML value). Throws an InputError naming the file, the
 * field, the value and what is allowed.
 */
export function validateConfig(raw: unknown, file: string, features: KernelFeatures): Stated {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    // the kind of value only: a scalar file's text is not echoed (it may be long, or not meant for a terminal)
    const kind = Array.isArray(raw) ? 'a list' : raw === null ? 'empty' : `a ${typeof raw === 'string' ? 'string' : typeof raw}`;
    throw new InputError(`${file}: the config file must be a mapping of fields (${CONFIG_FIELDS.join(', ')}), e.g. "user-timeout: 30000"; this one is ${kind}`);
  }
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !CONFIG_FIELDS.includes(k as ConfigField));
  if (unknown) throw new InputError(`${file}: unknown field "${unknown}": allowed fields are ${CONFIG_FIELDS.join(', ')}`);
  return stated((f) => o[f], (f) => `${file}: ${f}`, features);
}

/** Read and parse a config file: YAML (a superset of JSON) unless it is named *.json. */
function readConfig(path: string, read: (p: string) => string): unknown {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new InputError(`--config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const json = extname(path).toLowerCase() === '.json';
  let value: unknown;
  try {
    value = json ? JSON.parse(text) : parseYaml(text, { prettyErrors: false });
    // JSON.parse keeps the last of a field given twice; the YAML parser (JSON is YAML) refuses it
    if (json) {
      try {
        parseYaml(text, { prettyErrors: false });
      } catch (e) {
        if ((e as { code?: string }).code === 'DUPLICATE_KEY') throw e; // anything else: valid JSON is what counts
      }
    }
  } catch (e) {
    const at = (e as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    if ((e as { code?: string }).code === 'DUPLICATE_KEY') throw new InputError(`${path}: a field is given twice${at ? ` (line ${at})` : ''}: keep one`);
    throw new InputError(`${path}: not valid ${json ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return value;
}

export const DEFAULT_MAX_RUN_S: Record<ProfileName, number> = { fast: 300, faithful: 1200 };

/** A detection budget judges a peer that stays gone; with a blip the gate is surviving it. */
/** A NAT on an IPv6 path cannot be: refused, saying what to use instead. */
function refuseMiddlebox(m: Middlebox | undefined, family: 4 | 6, where: string): void {
  const problem = m && middleboxFamilyProblem(m, family);
  if (problem) throw new InputError(`${where}: ${problem}`);
}

const blipBudget = (flag: string) => `${flag}: a blip heals, so nothing is there to detect: with --fault blip:D the gate is surviving it (exit 1 if a phase does not); drop ${flag} or the blip`;

/**
 * A setting that none of the phases to run reads would be accepted and ignored: refused instead,
 * the same for a flag and for a check() option (`name` says how it is called there). Only what
 * was stated beside the phases: a preset or a config file describes the application as a whole,
 * and a --phases subset of it leaves its other settings standing.
 */
function ignoredSetting(s: Stated, maxDetectRaw: unknown, phases: readonly UserPhase[], name: (f: ConfigField) => string, phasesWord = name('phases')): string | null {
  const none = (which: UserPhase[]) => !which.some((p) => phases.includes(p));
  const among = `is among ${phasesWord}`;
  if (s.config.synCnt !== undefined && none(['connect'])) return `${name('syncnt')}: TCP_SYNCNT counts only SYN retransmissions: it changes nothing unless connect ${among}`;
  if (s.config.keepalive !== undefined && none(['idle'])) return `${name('keepalive')}: keepalive probes only an idle connection: it changes nothing unless idle ${among}`;
  if (s.middlebox !== undefined && none(['idle'])) return `${name('middlebox')}: a middlebox forgets an idle connection: it changes nothing unless idle ${among}`;
  if (s.config.rtoMaxMs !== undefined && none(['connect', 'busy', 'zero-window'])) {
    return `${name('rto-max')}: the keepalive timer does not use tcp_rto_max: it changes nothing unless connect, busy or zero-window ${among}`;
  }
  // a per-phase budget (idle=20s, or { idle: '20s' }) for a phase not run would never be checked; a single one applies to those that run
  const perPhase = typeof maxDetectRaw === 'string' ? maxDetectRaw.includes('=') : typeof maxDetectRaw === 'object' && maxDetectRaw !== null;
  if (perPhase) {
    const unrun = (Object.keys(s.maxDetect ?? {}) as UserPhase[]).find((p) => !phases.includes(p));
    if (unrun) return `${name('max-detect')}: ${unrun} is not among ${phasesWord} (${phases.join(',')}): its budget would never be checked`;
  }
  return null;
}

/**
 * What `side: 'server'` cannot take, in one line: a connect phase (a server does not connect), and
 * what only the client's phases read (TCP_SYNCNT stated beside them, a middlebox, a blip).
 */
function serverSideProblem(s: Stated, blipS: number | undefined, middlebox: Middlebox | undefined, phases: readonly UserPhase[], name: (f: ConfigField) => string): string | null {
  if (phases.includes('connect')) {
    return `${name('phases')}: connect: a server does not connect() — its handshake is the listener's SYN-RECV (cases/syn-recv.test.ts); with ${name('side')} server the phases are ${SERVER_PHASES.join(', ')}`;
  }
  if (s.config.synCnt !== undefined) return `${name('syncnt')}: TCP_SYNCNT on a listener counts its SYN+ACKs (it overrides tcp_synack_retries), which no server phase runs: drop it with ${name('side')} server`;
  if (middlebox) return `${name('middlebox')}: the middlebox's path is judged from the client's side only: drop it with ${name('side')} server`;
  if (blipS !== undefined) return `${name('fault')}: a blip is judged on the client's phases only: with ${name('side')} server the client vanishes for good (blackhole)`;
  return null;
}

const defaultPhases = (side: CheckSide): UserPhase[] => [...(side === 'server' ? SERVER_PHASES : USER_PHASES)];

/** Parse `deadpeer check` argv (without "check"). Never throws. */
export function parseCheckArgs(argv: string[], env: CheckEnv): ParsedCheckArgs {
  let values;
  try {
    ({ values } = parseOnce({ args: joinNegativeValues(argv), allowPositionals: false, strict: true, options: OPTIONS }));
  } catch (err) {
    return { kind: 'error', message: describeParseError(err, ALLOWED, (a) => `unexpected argument "${a}" (check takes only options; see --help)`) };
  }
  if (values.help) return { kind: 'help' };
  if (values['list-presets']) {
    const other = Object.keys(values).find((k) => k !== 'list-presets');
    return other ? { kind: 'error', message: `--list-presets takes no other option (--${other} would be ignored)` } : { kind: 'list-presets' };
  }
  try {
    const read = env.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
    const f: Stated = values.config !== undefined ? validateConfig(readConfig(values.config, read), values.config, env.features) : { config: {} };
    const flags = stated((k) => (values as Record<string, unknown>)[k], (k) => `--${k}`, env.features);
    const presetName = flags.preset ?? f.preset;
    const preset = presetName ? findPreset(presetName)! : undefined;
    const config = mergeConfig(mergeConfig(preset?.config ?? {}, f.config), flags.config);
    const profile = flags.profile ?? f.profile ?? 'fast';
    const side = flags.side ?? f.side ?? 'client';
    const phases = flags.phases ?? f.phases ?? defaultPhases(side);
    const blipS = flags.blipS ?? f.blipS;
    // a setting is named where it was stated: the flag, else the config file's field
    const where = (k: ConfigField) => ((values as Record<string, unknown>)[k] === undefined && values.config !== undefined ? `${values.config}: ${k}` : `--${k}`);
    const serverProblem = side === 'server' ? serverSideProblem(flags, blipS, flags.middlebox ?? f.middlebox, phases, where) : null;
    if (serverProblem) throw new InputError(serverProblem);
    const ignored = ignoredSetting(flags, values['max-detect'], phases, (k) => `--${k}`);
    if (ignored) throw new InputError(ignored);
    const maxDetect = { ...f.maxDetect, ...flags.maxDetect };
    if (blipS !== undefined && Object.keys(maxDetect).length) throw new InputError(blipBudget('--max-detect'));
    const family = flags.family ?? f.family ?? 4;
    const middlebox = flags.middlebox ?? f.middlebox;
    refuseMiddlebox(middlebox, family, flags.middlebox ? '--middlebox' : `${values.config}: middlebox`);
    const sources = [
      ...(preset ? [`preset ${preset.name}`] : []),
      ...(values.config !== undefined ? [`config ${values.config}`] : []),
      ...(Object.keys(flags.config).length ? ['flags'] : []),
    ];
    return {
      kind: 'args',
      args: {
        ...(preset ? { preset: preset.name } : {}),
        config,
        side,
        family,
        profile,
        phases,
        maxDetect,
        maxRunS: flags.maxRunS ?? f.maxRunS ?? DEFAULT_MAX_RUN_S[profile],
        ...(blipS !== undefined ? { blipS } : {}),
        ...(middlebox ? { middlebox } : {}),
        json: !!values.json,
        sources: sources.length ? sources : ['kernel defaults (no options given)'],
      },
    };
  } catch (e) {
    if (e instanceof InputError) return { kind: 'error', message: e.message };
    throw e;
  }
}

/** A duration: seconds as a number, or text such as "30s", "1500ms", "2m". */
export type Duration = number | string;

/**
 * The options of `check()`: the config file's fields, camel-cased. Every one is validated exactly
 * as the flag of the same name (the same limits, the same messages).
 */
export interface CheckOptions {
  /** start from what a client sets (`deadpeer check --list-presets`); the other options override it */
  preset?: string;
  /** SO_KEEPALIVE: "IDLE:INTVL:CNT", {idle, interval, count} (seconds, count), true (on, the kernel's values) or false/"off" */
  keepalive?: string | boolean | { idle?: number; interval?: number; count?: number };
  /** TCP_USER_TIMEOUT in ms (0 = off) */
  userTimeout?: number;
  /** TCP_SYNCNT (1..127) */
  syncnt?: number;
  /** TCP_RTO_MAX_MS (1000..120000; Linux 6.15+) */
  rtoMax?: number;
  family?: 4 | 6;
  /** fast (default): budgets lowered in the client's namespace so every phase takes seconds; faithful: the kernel's defaults */
  profile?: ProfileName;
  /** which phases to run (default: all) */
  phases?: UserPhase[];
  /** the gate: the longest detection allowed, for every phase or per phase */
  maxDetect?: Duration | Partial<Record<UserPhase, Duration>>;
  /** don't run a phase the model says takes longer (default 300 s; faithful 1200 s) */
  maxRun?: Duration;
  /** 'blackhole' (default: the peer goes for good) or 'blip:5s': an outage that heals, which every phase must survive */
  fault?: string;
  /** a middlebox that forgets idle connections: a preset (`MIDDLEBOX_PRESETS`) or 'idle-expiry:DURATION:drop|reset[:nat|firewall]' */
  middlebox?: string;
  /** 'client' (default) or 'server': the options are set on the server's listener and judged on the accepted socket, the client vanishing (phases idle, busy, zero-window) */
  side?: CheckSide;
}

const OPTION_FIELDS: Record<keyof CheckOptions, ConfigField> = {
  preset: 'preset',
  keepalive: 'keepalive',
  userTimeout: 'user-timeout',
  syncnt: 'syncnt',
  rtoMax: 'rto-max',
  family: 'family',
  profile: 'profile',
  phases: 'phases',
  maxDetect: 'max-detect',
  maxRun: 'max-run',
  fault: 'fault',
  middlebox: 'middlebox',
  side: 'side',
};

/** check() options → the same configuration the flags give. Throws an InputError (one line). */
export function checkArgsFromOptions(options: CheckOptions, features: KernelFeatures): CheckArgs {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InputError(`check(): expected an options object, got ${JSON.stringify(options)}`);
  const allowed = Object.keys(OPTION_FIELDS);
  const unknown = Object.keys(options).find((k) => !allowed.includes(k));
  if (unknown) throw new InputError(`check(): unknown option "${unknown}": allowed options are ${allowed.join(', ')}`);
  const byField = Object.fromEntries(Object.entries(OPTION_FIELDS).map(([k, f]) => [f, k])) as Record<ConfigField, keyof CheckOptions>;
  const name = (f: ConfigField) => `check(): ${byField[f]}`;
  const s = stated((f) => options[byField[f]], name, features);
  const preset = s.preset ? findPreset(s.preset)! : undefined;
  const profile = s.profile ?? 'fast';
  const side = s.side ?? 'client';
  const phases = s.phases ?? defaultPhases(side);
  const serverProblem = side === 'server' ? serverSideProblem(s, s.blipS, s.middlebox, phases, name) : null;
  if (serverProblem) throw new InputError(serverProblem);
  // the flags' rule, word for word: a check() option is stated beside the phases as a flag is
  const ignored = ignoredSetting(s, options.maxDetect, phases, name, 'phases');
  if (ignored) throw new InputError(ignored);
  if (s.blipS !== undefined && s.maxDetect && Object.keys(s.maxDetect).length) throw new InputError(blipBudget('check(): maxDetect'));
  refuseMiddlebox(s.middlebox, s.family ?? 4, name('middlebox'));
  return {
    ...(preset ? { preset: preset.name } : {}),
    config: mergeConfig(preset?.config ?? {}, s.config),
    side,
    family: s.family ?? 4,
    profile,
    phases,
    maxDetect: s.maxDetect ?? {},
    maxRunS: s.maxRunS ?? DEFAULT_MAX_RUN_S[profile],
    ...(s.blipS !== undefined ? { blipS: s.blipS } : {}),
    ...(s.middlebox ? { middlebox: s.middlebox } : {}),
    json: true,
    sources: preset || Object.keys(s.config).length ? [...(preset ? [`preset ${preset.name}`] : []), ...(Object.keys(s.config).length ? ['options'] : [])] : ['kernel defaults (no options given)'],
  };
}
