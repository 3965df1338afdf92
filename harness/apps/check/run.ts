import { existsSync, readFileSync } from 'node:fs';
import type { Observation } from '../../core/observation.js';
import { resultsDir } from '../../core/paths.js';
import { FAST_SYSCTLS, type ProfileName, withProfile } from '../../core/profile.js';
import type { SockOpt } from '../../core/protocol.js';
import { runScenario } from '../../engine/scenario.js';
import { judgeTimeline } from '../../judge/verdict.js';
import { defaultSocket, defaultSysctls } from '../../model/features.js';
import type { KernelFeatures, ModelInput, Prediction, SocketSettings, TcpSysctls } from '../../model/types.js';
import { TCP_SYSCTL_NAMES } from '../../model/types.js';
import { PHASE_ORIGIN, PHASE_SCENARIOS, type UserPhase } from '../../recipes/phases.js';
import { advise, adviseServer, humanDuration, predictPhases, predictServerZeroWindow } from './advice.js';
import { DRAIN_LABEL, SERVER_PHASE_ORIGIN, SERVER_PHASE_SCENARIOS, type ServerPhase } from '../../recipes/server-phases.js';
import { type DrainVerdictKind, judgeDrain, toDrainSample } from '../drain-monitor.js';
import { type BlipVerdict, predictBlip } from '../../model/blip.js';
import type { CheckArgs, CheckSide } from './args.js';
import { type SocketConfig, socketOptions } from './presets.js';
import { KEPT_HOLD_S, type MiddleboxResult, type MiddleboxRunPlan, adviseMiddlebox, measuredMiddlebox, middleboxResult, planMiddleboxRun, withMeasured } from './middlebox.js';
import { pathPhase } from '../../recipes/path.js';

/**
 * `check`: a client socket configuration run through every phase on the real kernel (in parallel,
 * each phase in its own pair of namespaces), judged against the model, with advice and an optional
 * gate on the detection times. This module plans and runs it and returns the report; the CLI
 * (cli/check.ts) and the API (check.ts) print or return that same report.
 */

/** How long a phase whose model says "never" is watched (s): it must stay open and silent that long. */
const NEVER_HOLD_S = 3;

export interface PhaseResult {
  phase: UserPhase;
  /** t = 0 of the times, in words */
  origin: string;
  predicted: { closeAt: number | null; errno: string | null };
  /** absent when the phase was not run */
  measured?: { closeAt: number | null; errno: string | null; watchedS: number };
  /** 'cannot judge': an action the helpers timed (a blip's heal) came later than the model's answer allows — why says by how much */
  /** 'uncertain': a blip whose heal falls inside a firing's timer-wheel window — either outcome is the kernel's right */
  verdict: 'agrees' | 'differs' | 'not run' | 'error' | 'uncertain' | 'cannot judge';
  /** why: the verdict's problems, the reason a phase was not run, or the error */
  why: string[];
  /** the settings the kernel really held on the judged socket: the client's, or with side 'server' the accepted socket's (inherited from the listener) */
  readBack?: SocketSettings;
  /** side 'server', zero-window: the send-buffer drain monitor's verdict on the server's TCP_INFO samples */
  drain?: DrainResult;
  budgetS?: number;
  /** detection time over the budget (a phase that never detects is infinitely over) */
  overBudget: boolean;
  /** the phase's artifact folder (pcap, observation.json) */
  artifacts?: string;
  /**
   * --fault blip:D: the model's answer for the outage (from the settings alone, before the run)
   * and whether the kernel's connection came through it (absent when the phase did not run)
   */
  blip?: { seconds: number; predicted: 'survives' | 'dies' | 'uncertain'; marginS: number; survived?: boolean };
}

/**
 * The send-buffer drain monitor (harness/apps/drain-monitor.ts, judgeDrain) on the server's TCP_INFO,
 * sampled every 100 ms through the zero-window phase: what an application watching its send queue
 * would have concluded about the client.
 */
export interface DrainResult {
  /** 'alive': bytes kept leaving the send queue (a slow reader); 'dead': none left for windowS while bytes waited (stopped or gone) */
  verdict: DrainVerdictKind;
  /** the policy: no progress for this long while bytes wait = dead (s) */
  windowS: number;
  /** how long no byte had left the send queue at the last sample (s) */
  stalledForS: number;
  /** bytes/s acknowledged by the client over the last window */
  drainRate: number;
  /** TCP_INFO samples judged */
  samples: number;
}

/** The drain monitor's policy for the server's zero-window phase: as cases/send-buffer-drain.test.ts's. */
export const SERVER_DRAIN_WINDOW_S = 2;

/** What `deadpeer check --json` prints and `check()` returns. */
export interface CheckReport {
  /** whose socket was judged: 'client', or 'server' (the options on the listener, judged on the accepted socket) */
  side: CheckSide;
  kernel: { release: string; hz: number };
  family: 4 | 6;
  profile: ProfileName;
  preset?: string;
  /** the configuration as given (preset, then config file / options, then flags) */
  config: SocketConfig;
  /** the socket options it becomes */
  options: Partial<Record<SockOpt, number>>;
  /** what the profile set in the client's namespace */
  namespaceSysctls: Partial<TcpSysctls>;
  /** this host's own budgets, which the advice uses */
  hostSysctls: { tcp_syn_retries: number; tcp_retries2: number };
  phases: PhaseResult[];
  /** advice derived from the model at this host's sysctls */
  advice: string[];
  /** over: phases detected later than their budget — or, with a blip, phases whose connection did not survive it */
  gate: { budgets: Partial<Record<UserPhase, number>>; over: UserPhase[]; errors: UserPhase[] };
  /** --fault blip:D: the outage's seconds */
  blipS?: number;
  /** --middlebox: whether the idle connection keeps its mapping, and what the first write after the expiry meets — the model's, at the profile's sysctls, and the kernel's when the path fits --max-run */
  middlebox?: MiddleboxResult;
  /** 0 within every budget, 1 over budget or a phase could not be measured */
  exitCode: 0 | 1;
  /** the run folder */
  artifacts: string;
}

/** The sysctls the user's application runs with: this (host) namespace's, read only. */
export function hostSysctls(features: KernelFeatures): TcpSysctls {
  const out: TcpSysctls = defaultSysctls(features);
  for (const k of TCP_SYSCTL_NAMES) {
    const f = `/proc/sys/net/ipv4/${k}`;
    if (existsSync(f)) (out as unknown as Record<string, number>)[k] = Number(readFileSync(f, 'utf8').trim());
  }
  return out;
}

/** A configuration on a socket of a namespace with these sysctls, as the model reads it. */
export function socketSettingsFor(c: SocketConfig, sysctls: TcpSysctls): SocketSettings {
  const ka = c.keepalive || undefined;
  return {
    ...defaultSocket(sysctls),
    keepalive: !!ka,
    keepIdle: ka?.idle ?? sysctls.tcp_keepalive_time,
    keepIntvl: ka?.intvl ?? sysctls.tcp_keepalive_intvl,
    keepCnt: ka?.cnt ?? sysctls.tcp_keepalive_probes,
    userTimeoutMs: c.userTimeoutMs ?? 0,
    synCnt: c.synCnt ?? 0,
    ...(c.rtoMaxMs !== undefined ? { rtoMaxMs: c.rtoMaxMs } : {}),
  };
}

const byPhase = (p: ReturnType<typeof predictPhases>): Record<UserPhase, Prediction> => ({ connect: p.connect, idle: p.idle, busy: p.busy, 'zero-window': p.zeroWindow });

/** Each phase's prediction for a side: the server's zero-window client is alive (it stopped reading), not gone. */
function phasePredictions(input: ModelInput, side: CheckSide = 'client'): Record<UserPhase, Prediction> {
  const p = byPhase(predictPhases(input));
  return side === 'server' ? { ...p, 'zero-window': predictServerZeroWindow(input) } : p;
}

const originOf = (phase: UserPhase, side: CheckSide = 'client') => (side === 'server' ? SERVER_PHASE_ORIGIN[phase as ServerPhase] : PHASE_ORIGIN[phase]);

/** The model's blip verdict for a phase, from the settings alone (the heal D after the phase's t = 0). */
export function blipFor(phase: UserPhase, input: ModelInput, blipS: number): BlipVerdict {
  return predictBlip(byPhase(predictPhases(input))[phase], blipS, input.features.hz);
}

/** How long the model says running a phase takes (s), before anything runs: to skip and to pace progress. */
export function expectedRunS(phase: UserPhase, input: ModelInput, blipS?: number, side: CheckSide = 'client'): number {
  const pred = blipS === undefined ? phasePredictions(input, side)[phase] : blipFor(phase, input, blipS).prediction;
  if (pred.closeAt !== null) return pred.closeAt;
  if (pred.watchUntil !== undefined) return pred.watchUntil;
  return (pred.events.at(-1)?.t ?? 0) + NEVER_HOLD_S;
}

/** Detection time for the gate: measured when the phase ran, else predicted; never = infinite. */
export function detectionS(r: Pick<PhaseResult, 'measured' | 'predicted'>): number {
  const t = r.measured ? r.measured.closeAt : r.predicted.closeAt;
  return t ?? Infinity;
}

/** Seconds to the millisecond: what the capture's precision supports, and readable JSON. */
const ms = (t: number | null) => (t === null ? null : Math.round(t * 1000) / 1000);

function withBudget(r: Omit<PhaseResult, 'overBudget'>, budgetS: number | undefined): PhaseResult {
  const out: PhaseResult = { ...r, ...(budgetS !== undefined ? { budgetS } : {}), overBudget: false };
  out.overBudget = budgetS !== undefined && detectionS(out) > budgetS;
  return out;
}

/** The drain monitor's verdict on a run's server samples, when it took them. */
function drainOf(obs: Observation): DrainResult | undefined {
  const samples = obs.snapshots.filter((x) => x.side === 'server' && x.label === DRAIN_LABEL).map(toDrainSample);
  if (!samples.length) return undefined;
  const v = judgeDrain(samples, { windowS: SERVER_DRAIN_WINDOW_S });
  return { verdict: v.verdict, windowS: SERVER_DRAIN_WINDOW_S, stalledForS: ms(v.stalledFor)!, drainRate: Math.round(v.drainRate), samples: samples.length };
}

function resultOf(phase: UserPhase, obs: Observation, budgetS: number | undefined, side: CheckSide = 'client'): PhaseResult {
  const v = judgeTimeline(obs);
  const drain = side === 'server' ? drainOf(obs) : undefined;
  return withBudget(
    {
      phase,
      origin: originOf(phase, side),
      predicted: { closeAt: obs.prediction.closeAt, errno: obs.prediction.errno },
      measured: { closeAt: ms(v.close.observed), errno: obs.close?.errno ?? null, watchedS: ms(obs.end - obs.origin)! },
      verdict: v.cannotJudge ? 'cannot judge' : v.ok ? 'agrees' : 'differs',
      why: v.problems,
      readBack: obs.settings[obs.subject].socket,
      artifacts: obs.artifacts.dir,
      ...(drain ? { drain } : {}),
    },
    budgetS,
  );
}

/** Everything decided before anything runs. */
export interface CheckPlan {
  args: CheckArgs;
  features: KernelFeatures;
  options: Partial<Record<SockOpt, number>>;
  /** the client namespace's sysctls the profile sets */
  nsSysctls: Partial<TcpSysctls>;
  /** this host's sysctls (for the advice) */
  host: TcpSysctls;
  /** the model's run time of every phase asked for (s) */
  expected: Record<UserPhase, number>;
  /** the phases short enough to run (--max-run) */
  toRun: UserPhase[];
  /** with a blip: when it begins, s after the phase's start (idle at its worst moment when asked) */
  blipAt: Partial<Record<UserPhase, number>>;
  /** --middlebox: whether the path runs on the kernel (it fits --max-run) and when its client writes */
  middleboxRun?: MiddleboxRunPlan;
}

/**
 * Where each phase's blip begins: at t = 0, except idle's with blipWorst — just before the first
 * keepalive probe (¼ s, more than a jiffy and the capture's slack), so the outage swallows probes.
 */
function blipStarts(args: CheckArgs, input: ModelInput): Partial<Record<UserPhase, number>> {
  if (args.blipS === undefined || !args.blipWorst) return {};
  const firstProbe = predictPhases(input).idle.events.find((e) => e.packet === 'KEEPALIVE')?.t;
  return firstProbe !== undefined && firstProbe > 0.25 ? { idle: firstProbe - 0.25 } : {};
}

export function planCheck(args: CheckArgs, features: KernelFeatures): CheckPlan {
  const nsSysctls = args.namespaceSysctls ?? (args.profile === 'fast' ? FAST_SYSCTLS : {});
  const inNamespace: TcpSysctls = { ...defaultSysctls(features), ...nsSysctls };
  const socket = socketSettingsFor(args.config, inNamespace);
  const input = { sysctls: inNamespace, socket, features };
  const blipAt = blipStarts(args, input);
  const expected = Object.fromEntries(args.phases.map((p) => [p, expectedRunS(p, input, args.blipS === undefined ? undefined : (blipAt[p] ?? 0) + args.blipS, args.side)])) as Record<UserPhase, number>;
  return {
    args,
    features,
    options: socketOptions(args.config),
    nsSysctls,
    host: hostSysctls(features),
    expected,
    toRun: args.phases.filter((p) => expected[p] <= args.maxRunS),
    blipAt,
    ...(args.middlebox ? { middleboxRun: planMiddleboxRun(input, args.middlebox, args.maxRunS) } : {}),
  };
}

/** The path's run on the kernel (or why not): its observation, or the error that stopped it. */
type PathRun = { obs: Observation } | { error: string } | { notRun: string };

/**
 * Run the path through a router namespace (recipes/path.ts), with the configuration's options and
 * namespace sysctls as the phases get them, when the plan says it fits --max-run.
 */
function runPath({ args, options, nsSysctls, middleboxRun }: CheckPlan): Promise<PathRun> | undefined {
  if (!args.middlebox || !middleboxRun) return undefined;
  if (!middleboxRun.run) return Promise.resolve({ notRun: middleboxRun.why! });
  const spec = pathPhase({ family: args.family, middlebox: args.middlebox, client: { options, sysctls: nsSysctls }, name: 'check' }, { writeAtS: middleboxRun.writeAtS, aliveFor: KEPT_HOLD_S });
  return withProfile(args.profile, () => runScenario(spec)).then(
    (obs) => ({ obs }),
    (e: Error) => ({ error: String(e.message).split('\n')[0]! }),
  );
}

/**
 * The middlebox lines of a check: the model's answer at the profile's sysctls, as the phases'
 * predictions are, with the kernel's run of the path beside it when it ran.
 */
function middleboxOutcome({ args, features, nsSysctls, middleboxRun }: CheckPlan, run: PathRun | undefined): MiddleboxResult | undefined {
  if (!args.middlebox || !middleboxRun || !run) return undefined;
  const sysctls: TcpSysctls = { ...defaultSysctls(features), ...nsSysctls };
  // the model asked about the write the run makes, so the two lines answer the same question
  const predicted = middleboxResult({ sysctls, socket: socketSettingsFor(args.config, sysctls), features }, args.middlebox, args.maxDetect.idle, middleboxRun.writeAtS);
  if ('notRun' in run) return { ...predicted, notRun: run.notRun };
  if ('error' in run) return { ...predicted, notRun: 'the run on the kernel failed', error: run.error };
  return withMeasured(predicted, measuredMiddlebox(run.obs));
}

export interface CheckHooks {
  /** a phase finished (passed, failed or threw) */
  phaseDone?: (phase: UserPhase) => void;
  /** the middlebox path's run finished */
  pathDone?: () => void;
}

/** Run the plan's phases on this kernel (the caller holds the timing lock) and build the report. */
export async function runCheckPlan(plan: CheckPlan, hooks: CheckHooks = {}): Promise<CheckReport> {
  const { args, features, options, nsSysctls, host, toRun } = plan;
  // the path runs beside the phases, in namespaces of its own
  const path = runPath(plan)?.finally(() => hooks.pathDone?.());
  // the Observations record the profile, and the scenarios read it
  // side 'server': the options go on the listener (the accepted socket inherits them), the namespace sysctls on the server's side
  const scenarioFor = (phase: UserPhase) =>
    args.side === 'server'
      ? SERVER_PHASE_SCENARIOS[phase as ServerPhase]({ family: args.family, server: { options, sysctls: nsSysctls }, name: 'check' })
      : PHASE_SCENARIOS[phase]({ family: args.family, client: { options, sysctls: nsSysctls }, name: 'check', ...(args.blipS !== undefined ? { blipS: args.blipS, ...(plan.blipAt[phase] ? { blipAtS: plan.blipAt[phase] } : {}) } : {}) });
  const settled = await Promise.allSettled(toRun.map((phase) => withProfile(args.profile, () => runScenario(scenarioFor(phase))).finally(() => hooks.phaseDone?.(phase))));
  const inNamespace: TcpSysctls = { ...defaultSysctls(features), ...nsSysctls };
  const results: PhaseResult[] = args.phases.map((phase) => {
    const budgetS = args.maxDetect[phase];
    const i = toRun.indexOf(phase);
    if (i < 0) {
      const p = phasePredictions({ sysctls: inNamespace, socket: socketSettingsFor(args.config, inNamespace), features }, args.side)[phase];
      return withBudget(
        {
          phase,
          origin: originOf(phase, args.side),
          predicted: { closeAt: p.closeAt, errno: p.errno },
          verdict: 'not run',
          why: [`the model says it takes ${humanDuration(plan.expected[phase])}, over --max-run ${humanDuration(args.maxRunS)}; judged by the model alone`],
        },
        budgetS,
      );
    }
    const s = settled[i]!;
    if (s.status === 'fulfilled') return resultOf(phase, s.value, budgetS, args.side);
    return {
      phase,
      origin: originOf(phase, args.side),
      predicted: { closeAt: null, errno: null },
      verdict: 'error',
      why: [String((s.reason as Error).message).split('\n')[0]!],
      ...(budgetS !== undefined ? { budgetS } : {}),
      overBudget: false,
    };
  });
  if (args.blipS !== undefined) {
    const input = { sysctls: inNamespace, socket: socketSettingsFor(args.config, inNamespace), features };
    for (const r of results) {
      const b = blipFor(r.phase, input, (plan.blipAt[r.phase] ?? 0) + args.blipS);
      const predicted = b.survives === 'uncertain' ? 'uncertain' : b.survives ? 'survives' : 'dies';
      r.blip = { seconds: args.blipS, predicted, marginS: b.marginS, ...(r.measured ? { survived: r.measured.closeAt === null } : {}) };
      if ((predicted === 'uncertain' || b.timelineCertain === false) && (r.verdict === 'agrees' || r.verdict === 'differs')) {
        r.verdict = 'uncertain';
        r.why = [b.prediction.notes.at(-1)!.replace(/^blip: /, '')];
      }
    }
  }
  // with a blip the gate is surviving it: a phase whose connection died fails it, as an over-budget one does
  for (const r of results) if (r.blip?.survived === false) r.overBudget = true;
  const over = results.filter((r) => r.overBudget).map((r) => r.phase);
  const errors = results.filter((r) => r.verdict === 'error').map((r) => r.phase);
  const middlebox = middleboxOutcome(plan, await path);
  const hostInput = { sysctls: host, socket: socketSettingsFor(args.config, host), features };
  return {
    side: args.side ?? 'client',
    kernel: { release: features.release, hz: features.hz },
    family: args.family,
    profile: args.profile,
    ...(args.preset ? { preset: args.preset } : {}),
    config: args.config,
    options,
    namespaceSysctls: nsSysctls,
    hostSysctls: { tcp_syn_retries: host.tcp_syn_retries, tcp_retries2: host.tcp_retries2 },
    phases: results,
    ...(args.blipS !== undefined ? { blipS: args.blipS } : {}),
    ...(middlebox ? { middlebox } : {}),
    advice: args.side === 'server' ? adviseServer(hostInput) : [...advise(hostInput), ...(args.middlebox ? adviseMiddlebox(hostInput, args.middlebox) : [])],
    gate: { budgets: args.maxDetect, over, errors },
    exitCode: over.length || errors.length || middlebox?.overBudget || middlebox?.error ? 1 : 0,
    artifacts: resultsDir(),
  };
}
