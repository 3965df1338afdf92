import { InputError } from '../../core/errors.js';
import { runningKernel } from '../../engine/kernel.js';
import { defaultSysctls } from '../../model/features.js';
import type { KernelFeatures, TcpSysctls } from '../../model/types.js';
import { TCP_SYSCTL_NAMES } from '../../model/types.js';
import { USER_PHASES, type UserPhase } from '../../recipes/phases.js';
import { assertCanRun } from '../../suite/preflight.js';
import { acquireTimingLock } from '../../suite/timing-lock.js';
import { type Duration, DEFAULT_MAX_RUN_S, parseDuration } from '../check/args.js';
import { refuseRepeats } from '../parse-args.js';
import { socketOptions, type SocketConfig } from '../check/presets.js';
import { type CheckReport, hostSysctls, planCheck, runCheckPlan } from '../check/run.js';
import { CLIENT_NAMES, CLIENTS, type ClientName } from './clients.js';
import { type PhaseOutcome, searchSettings } from './search.js';
import { type Middlebox, parseMiddlebox } from '../../model/middlebox.js';
import { RTT_ALLOWANCE_S } from '../../model/path.js';

/** The options of `recommend()`: the flags of `deadpeer recommend`, camel-cased. */
export interface RecommendOptions {
  /** every phase must notice a vanished peer within this */
  detect: Duration;
  /** and survive an outage this long, wherever it falls */
  survive?: Duration;
  /** which phases (default: all) */
  phases?: UserPhase[];
  /** the client whose settings to search and print (default raw: any setsockopt) */
  client?: ClientName;
  /** run the recommendation on this kernel: check, and a blip run per phase */
  prove?: boolean;
  /** a middlebox on the path (a preset or 'idle-expiry:DURATION:drop|reset[:nat|firewall]'): the keepalive must keep its mapping */
  middlebox?: string;
}

/** What `deadpeer recommend --json` prints and `recommend()` returns. */
export interface RecommendReport {
  kernel: { release: string; hz: number };
  client: ClientName;
  detectS: number;
  surviveS?: number;
  phases: UserPhase[];
  /** the sysctls the model used: this host's own */
  sysctls: Pick<TcpSysctls, 'tcp_syn_retries' | 'tcp_retries2' | 'tcp_keepalive_time' | 'tcp_keepalive_intvl' | 'tcp_keepalive_probes'>;
  /** how many phase × setting combinations the model was asked */
  considered: number;
  ok: boolean;
  /** the recommendation (ok) */
  config?: SocketConfig;
  options?: Record<string, number>;
  outcomes?: PhaseOutcome[];
  probesPerHour?: number;
  minMarginS?: number;
  advice?: string[];
  /** the code that sets it, in the client's language */
  code?: string[];
  /** what the client cannot set, and the way around it */
  clientLimits?: string;
  /** why nothing meets both numbers (not ok) */
  why?: string[];
  /** --middlebox: the rule the keepalive was held to, and how the client sets TCP_KEEPIDLE */
  middlebox?: { name: string; idleTimeoutS: number; rule: string; client: string };
  /** --prove: the kernel's answer — check with the settings, and the same with the blip */
  proof?: { detection: CheckReport; blip?: CheckReport; ok: boolean };
  /** 0 a recommendation (proven, with --prove), 1 none or the proof failed */
  exitCode: 0 | 1;
}

export interface RecommendArgs {
  detectS: number;
  surviveS?: number;
  phases: UserPhase[];
  client: ClientName;
  prove: boolean;
  middlebox?: Middlebox;
}

/** Validate recommend input, from flags or options alike; `name` says how a field is called there. */
export function recommendArgsFrom(v: Record<string, unknown>, name: (f: string) => string): RecommendArgs {
  if (v.detect === undefined) throw new InputError(`${name('detect')} is required: the longest a vanished peer may go unnoticed, e.g. 30s`);
  const detectS = parseDuration(name('detect'), v.detect);
  if (detectS <= 0) throw new InputError(`${name('detect')}: ${JSON.stringify(v.detect)} is not allowed: expected a duration above 0 s`);
  const surviveS = v.survive === undefined ? undefined : parseDuration(name('survive'), v.survive);
  if (surviveS !== undefined && surviveS <= 0) throw new InputError(`${name('survive')}: ${JSON.stringify(v.survive)} is not allowed: expected a duration above 0 s (or leave it out)`);
  const list = v.phases === undefined ? [...USER_PHASES] : Array.isArray(v.phases) ? v.phases : String(v.phases).split(',').map((p) => p.trim());
  for (const p of list) if (!USER_PHASES.includes(p as UserPhase)) throw new InputError(`${name('phases')}: unknown phase ${JSON.stringify(p)}: expected ${USER_PHASES.join(', ')}`);
  if (!list.length) throw new InputError(`${name('phases')}: expected at least one of ${USER_PHASES.join(', ')}`);
  refuseRepeats(name('phases'), list as string[]);
  const client = (v.client ?? 'raw') as ClientName;
  if (!CLIENT_NAMES.includes(client)) throw new InputError(`${name('client')}: ${JSON.stringify(v.client)} is not allowed: expected ${CLIENT_NAMES.join(', ')}`);
  if (v.prove !== undefined && typeof v.prove !== 'boolean') throw new InputError(`${name('prove')}: expected true or false`);
  const middlebox = v.middlebox === undefined ? undefined : middleboxFrom(name('middlebox'), v.middlebox, list as UserPhase[], name('phases'));
  return { detectS, ...(surviveS !== undefined ? { surviveS } : {}), phases: list as UserPhase[], client, prove: !!v.prove, ...(middlebox ? { middlebox } : {}) };
}

/** A middlebox is kept by the keepalive of an idle connection: refused where idle is not searched. */
function middleboxFrom(where: string, value: unknown, phases: UserPhase[], phasesWord: string): Middlebox {
  const m = parseMiddlebox(String(value));
  if ('error' in m) throw new InputError(`${where}: ${m.error}`);
  if (!phases.includes('idle')) throw new InputError(`${where}: the keepalive of an idle connection is what keeps a middlebox's mapping: add idle to ${phasesWord}`);
  return m;
}

const OPTION_NAMES = ['detect', 'survive', 'phases', 'client', 'prove', 'middlebox'];

export function recommendArgsFromOptions(o: RecommendOptions): RecommendArgs {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new InputError(`recommend(): expected an options object with detect, got ${JSON.stringify(o)}`);
  const unknown = Object.keys(o).find((k) => !OPTION_NAMES.includes(k));
  if (unknown) throw new InputError(`recommend(): unknown option "${unknown}": allowed options are ${OPTION_NAMES.join(', ')}`);
  return recommendArgsFrom(o as unknown as Record<string, unknown>, (f) => `recommend(): ${f}`);
}

/** The model's answer alone (pure but for reading this host's sysctls). */
export function recommendByModel(a: RecommendArgs, features: KernelFeatures, sysctls: TcpSysctls = hostSysctls(features)): RecommendReport {
  const r = searchSettings(
    { detectS: a.detectS, ...(a.surviveS !== undefined ? { surviveS: a.surviveS } : {}), phases: a.phases, client: a.client, ...(a.middlebox ? { middlebox: a.middlebox } : {}) },
    { sysctls, features },
  );
  const spec = CLIENTS[a.client];
  const base = {
    kernel: { release: features.release, hz: features.hz },
    client: a.client,
    detectS: a.detectS,
    ...(a.surviveS !== undefined ? { surviveS: a.surviveS } : {}),
    phases: a.phases,
    sysctls: { tcp_syn_retries: sysctls.tcp_syn_retries, tcp_retries2: sysctls.tcp_retries2, tcp_keepalive_time: sysctls.tcp_keepalive_time, tcp_keepalive_intvl: sysctls.tcp_keepalive_intvl, tcp_keepalive_probes: sysctls.tcp_keepalive_probes },
    considered: r.considered,
    ...(spec.cannot ? { clientLimits: spec.cannot } : {}),
    ...(a.middlebox
      ? {
          middlebox: {
            name: a.middlebox.name,
            idleTimeoutS: a.middlebox.idleTimeoutS,
            rule:
              `TCP_KEEPIDLE + TCP_KEEPINTVL, plus the timer wheel's lateness and a round trip (≤ ${RTT_ALLOWANCE_S} s), below the ${a.middlebox.idleTimeoutS} s idle timeout: ` +
              'the probe re-sent after one lost probe still refreshes the entry in time (each probe and its answer refresh it)',
            client: `${spec.label} sets TCP_KEEPIDLE ${spec.keepIdle}`,
          },
        }
      : {}),
  };
  if (!r.ok) return { ...base, ok: false, why: r.why, exitCode: 1 };
  return {
    ...base,
    ok: true,
    config: r.best.config,
    options: socketOptions(r.best.config) as Record<string, number>,
    outcomes: r.best.phases,
    probesPerHour: r.best.probesPerHour,
    minMarginS: r.best.minMarginS,
    advice: r.best.advice,
    code: spec.code(r.best.config),
    exitCode: 0,
  };
}

/**
 * The proof: the recommendation through `check` with this host's sysctls in the test namespace
 * (what the application runs with), and again with the blip — idle's beginning just before the
 * first keepalive probe, its worst moment. The caller holds the timing lock.
 */
export async function proveRecommendation(rep: RecommendReport, features: KernelFeatures, sysctls: TcpSysctls): Promise<NonNullable<RecommendReport['proof']>> {
  const defaults = defaultSysctls(features) as unknown as Record<string, number>;
  const own = sysctls as unknown as Record<string, number>;
  const differing = Object.fromEntries(TCP_SYSCTL_NAMES.filter((k) => own[k] !== undefined && own[k] !== defaults[k]).map((k) => [k, own[k]!]));
  const args = {
    config: rep.config!,
    family: 4 as const,
    profile: 'faithful' as const,
    phases: rep.phases,
    maxDetect: Object.fromEntries(rep.phases.map((p) => [p, rep.detectS])),
    maxRunS: DEFAULT_MAX_RUN_S.faithful,
    json: true,
    sources: ['deadpeer recommend'],
    namespaceSysctls: differing,
  };
  const runs: Array<Promise<CheckReport>> = [runCheckPlan(planCheck(args, features))];
  if (rep.surviveS !== undefined) {
    const { maxDetect: _none, ...rest } = args;
    runs.push(runCheckPlan(planCheck({ ...rest, maxDetect: {}, blipS: rep.surviveS, blipWorst: true }, features)));
  }
  const [detection, blip] = await Promise.all(runs);
  const ok = detection!.exitCode === 0 && detection!.phases.every((p) => p.verdict === 'agrees') && (!blip || (blip.exitCode === 0 && blip.phases.every((p) => p.blip?.survived === true)));
  return { detection: detection!, ...(blip ? { blip } : {}), ok };
}

/**
 * The settings that notice a vanished peer within `detect` in every phase and survive a `survive`
 * blip, from the model — and with `prove`, run on this kernel. The same report `deadpeer
 * recommend --json` prints.
 */
export async function recommend(options: RecommendOptions, say: (line: string) => void = () => {}): Promise<RecommendReport> {
  const a = recommendArgsFromOptions(options);
  const features = runningKernel();
  const sysctls = hostSysctls(features);
  const rep = recommendByModel(a, features, sysctls);
  if (!a.prove || !rep.ok) return rep;
  await assertCanRun();
  const lock = await acquireTimingLock('deadpeer recommend()', say);
  try {
    const proof = await proveRecommendation(rep, features, sysctls);
    return { ...rep, proof, exitCode: proof.ok ? 0 : 1 };
  } finally {
    await lock.release();
  }
}

