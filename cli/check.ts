/**
 * `deadpeer check`: a client socket configuration, run through every phase on the real kernel (in
 * parallel, each phase in its own pair of namespaces), judged against the model, with advice and
 * an optional CI gate on the detection times.
 */
import { existsSync, readFileSync } from 'node:fs';
import { advise, humanDuration, predictPhases } from '../harness/apps/check/advice.js';
import { runningKernel } from '../harness/engine/kernel.js';
import { defaultSocket, defaultSysctls } from '../harness/model/features.js';
import type { KernelFeatures, ModelInput, Prediction, SocketSettings, TcpSysctls } from '../harness/model/types.js';
import { TCP_SYSCTL_NAMES } from '../harness/model/types.js';
import { PHASE_ORIGIN, PHASE_SCENARIOS, type UserPhase } from '../harness/recipes/phases.js';
import { preflightProblem } from '../harness/suite/preflight.js';
import { acquireTimingLock } from '../harness/suite/timing-lock.js';
import { PRESETS, type SocketConfig, describeConfig, findPreset, socketOptions } from '../harness/apps/check/presets.js';
import { runScenario } from '../harness/engine/scenario.js';
import { judgeTimeline } from '../harness/judge/verdict.js';
import { CHECK_USAGE, type CheckArgs, parseCheckArgs } from './check-args.js';
import type { Observation } from '../harness/core/observation.js';
import { resultsDir } from '../harness/core/paths.js';

/**
 * The fast profile's sysctls for the client's namespace: the SYN budget and the retransmission
 * budget lowered so connect, busy and zero-window end in seconds. tcp_retries2 5 (12.6 s) keeps
 * the busy give-up clear of timer-wheel slack around a retransmission (see cases/busy-retransmit).
 */
export const FAST_SYSCTLS: Partial<TcpSysctls> = { tcp_syn_retries: 3, tcp_retries2: 5 };

/** How long a phase whose model says "never" is watched (s): it must stay open and silent that long. */
const NEVER_HOLD_S = 3;

export interface PhaseResult {
  phase: UserPhase;
  /** t = 0 of the times */
  origin: string;
  predicted: { closeAt: number | null; errno: string | null };
  /** absent when the phase was not run */
  measured?: { closeAt: number | null; errno: string | null; watchedS: number };
  verdict: 'agrees' | 'differs' | 'not run' | 'error';
  /** why: the verdict's problems, the reason a phase was not run, or the error */
  why: string[];
  /** the settings the kernel really held on the client's socket */
  readBack?: SocketSettings;
  budgetS?: number;
  /** detection time over the budget (a phase that never detects is infinitely over) */
  overBudget: boolean;
  artifacts?: string;
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

/** How long the model says running a phase takes (s), before anything runs: to skip and to pace the progress lines. */
export function expectedRunS(phase: UserPhase, input: ModelInput): number {
  const p = predictPhases(input);
  const pred: Prediction = { connect: p.connect, idle: p.idle, busy: p.busy, 'zero-window': p.zeroWindow }[phase];
  if (pred.closeAt !== null) return pred.closeAt;
  return (pred.events.at(-1)?.t ?? 0) + NEVER_HOLD_S;
}

/** Detection time for the gate: measured when the phase ran, else predicted; never = infinite. */
function detectionS(r: Pick<PhaseResult, 'measured' | 'predicted'>): number {
  const t = r.measured ? r.measured.closeAt : r.predicted.closeAt;
  return t ?? Infinity;
}

function resultOf(phase: UserPhase, obs: Observation, budgetS: number | undefined): PhaseResult {
  const v = judgeTimeline(obs);
  const r: PhaseResult = {
    phase,
    origin: PHASE_ORIGIN[phase],
    predicted: { closeAt: obs.prediction.closeAt, errno: obs.prediction.errno },
    measured: { closeAt: ms(v.close.observed), errno: obs.close?.errno ?? null, watchedS: ms(obs.end - obs.origin)! },
    verdict: v.ok ? 'agrees' : 'differs',
    why: v.problems,
    readBack: obs.settings.client.socket,
    ...(budgetS !== undefined ? { budgetS } : {}),
    overBudget: false,
    artifacts: obs.artifacts.dir,
  };
  r.overBudget = budgetS !== undefined && detectionS(r) > budgetS;
  return r;
}

/** Seconds to the millisecond: what the capture's precision supports, and readable JSON. */
const ms = (t: number | null) => (t === null ? null : Math.round(t * 1000) / 1000);

const fmtS = (t: number | null) => (t === null ? 'never' : `${t.toFixed(3)} s`);

function measuredCell(r: PhaseResult): string {
  if (r.verdict === 'not run') return '(not run)';
  if (r.verdict === 'error' || !r.measured) return '(error)';
  return r.measured.closeAt === null ? `open at ${r.measured.watchedS.toFixed(1)} s` : fmtS(r.measured.closeAt);
}

function verdictCell(r: PhaseResult): string {
  return { agrees: 'agrees with the model', differs: 'DIFFERS from the model', 'not run': 'model only', error: 'ERROR' }[r.verdict];
}

/** The plain-text table, columns sized to their content. */
export function renderTable(results: PhaseResult[]): string {
  const gated = results.some((r) => r.budgetS !== undefined);
  const head = ['phase', 't = 0', 'model', 'kernel', 'errno', 'verdict', ...(gated ? ['budget'] : [])];
  const rows = results.map((r) => [
    r.phase,
    r.origin,
    fmtS(r.predicted.closeAt),
    measuredCell(r),
    (r.measured ? r.measured.errno : r.predicted.errno) ?? '—',
    verdictCell(r),
    ...(gated ? [r.budgetS === undefined ? '—' : `${humanDuration(r.budgetS)}: ${r.overBudget ? 'OVER' : 'ok'}`] : []),
  ]);
  const width = head.map((_, i) => Math.max(...[head, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(head), width.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function listPresets(): string {
  const w = Math.max(...PRESETS.map((p) => p.name.length));
  return (
    PRESETS.map((p) => `${p.name.padEnd(w)}  ${p.title}: ${describeConfig(p.config)}\n${' '.repeat(w)}  source: ${p.source}`).join('\n') +
    '\n\ncombine with overrides, e.g. deadpeer check --preset go-1.23 --user-timeout 30000\n'
  );
}

const optionsLine = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '(none: a plain socket)';

export async function runCheck(argv: string[]): Promise<number> {
  const features = runningKernel();
  const parsed = parseCheckArgs(argv, { features });
  if (parsed.kind === 'help') return out(CHECK_USAGE, 0);
  if (parsed.kind === 'list-presets') return out(listPresets(), 0);
  if (parsed.kind === 'error') return err(`deadpeer check: ${parsed.message}`, 2);
  const args = parsed.args;
  const problem = await preflightProblem();
  if (problem) return err(`deadpeer check: ${problem}`, 2);
  const lock = await acquireTimingLock('deadpeer check', (line) => process.stderr.write(`${line}\n`));
  try {
    return await checkOnKernel(args, features);
  } finally {
    await lock.release();
  }
}

async function checkOnKernel(args: CheckArgs, features: KernelFeatures): Promise<number> {
  // the Observations record the profile, and the scenarios read it
  process.env.DEADPEER_PROFILE = args.profile;
  const nsSysctls = args.profile === 'fast' ? FAST_SYSCTLS : {};
  const options = socketOptions(args.config);
  const host = hostSysctls(features);
  const inNamespace: TcpSysctls = { ...defaultSysctls(features), ...nsSysctls };
  const expected = Object.fromEntries(
    args.phases.map((p) => [p, expectedRunS(p, { sysctls: inNamespace, socket: socketSettingsFor(args.config, inNamespace), features })]),
  ) as Record<UserPhase, number>;

  const header = headerLines(args, features, options, host);
  if (!args.json) process.stdout.write(header.join('\n') + '\n\n');

  const toRun = args.phases.filter((p) => expected[p] <= args.maxRunS);
  const pace = progress(toRun, expected);
  const settled = await Promise.allSettled(
    toRun.map((phase) =>
      runScenario(PHASE_SCENARIOS[phase]({ family: args.family, client: { options, sysctls: nsSysctls }, name: 'check' })).finally(() => pace.done(phase)),
    ),
  ).finally(pace.stop);

  const results: PhaseResult[] = args.phases.map((phase) => {
    const budgetS = args.maxDetect[phase];
    const i = toRun.indexOf(phase);
    if (i < 0) {
      const pred = predictPhases({ sysctls: inNamespace, socket: socketSettingsFor(args.config, inNamespace), features });
      const p = { connect: pred.connect, idle: pred.idle, busy: pred.busy, 'zero-window': pred.zeroWindow }[phase];
      const r: PhaseResult = {
        phase,
        origin: PHASE_ORIGIN[phase],
        predicted: { closeAt: p.closeAt, errno: p.errno },
        verdict: 'not run',
        why: [`the model says it takes ${humanDuration(expected[phase])}, over --max-run ${humanDuration(args.maxRunS)}; judged by the model alone`],
        ...(budgetS !== undefined ? { budgetS } : {}),
        overBudget: false,
      };
      r.overBudget = budgetS !== undefined && detectionS(r) > budgetS;
      return r;
    }
    const s = settled[i]!;
    if (s.status === 'fulfilled') return resultOf(phase, s.value, budgetS);
    return {
      phase,
      origin: PHASE_ORIGIN[phase],
      predicted: { closeAt: null, errno: null },
      verdict: 'error',
      why: [String((s.reason as Error).message).split('\n')[0]!],
      ...(budgetS !== undefined ? { budgetS } : {}),
      overBudget: false,
    };
  });

  const advice = advise({ sysctls: host, socket: socketSettingsFor(args.config, host), features });
  const over = results.filter((r) => r.overBudget);
  const errors = results.filter((r) => r.verdict === 'error');
  const code = over.length || errors.length ? 1 : 0;

  if (args.json) {
    const json = {
      kernel: { release: features.release, hz: features.hz },
      family: args.family,
      profile: args.profile,
      ...(args.preset ? { preset: args.preset } : {}),
      config: args.config,
      options,
      namespaceSysctls: nsSysctls,
      hostSysctls: { tcp_syn_retries: host.tcp_syn_retries, tcp_retries2: host.tcp_retries2 },
      phases: results,
      advice,
      gate: { budgets: args.maxDetect, over: over.map((r) => r.phase), errors: errors.map((r) => r.phase) },
      exitCode: code,
      artifacts: resultsDir(),
    };
    process.stdout.write(JSON.stringify(json) + '\n');
    return code;
  }

  const lines = [renderTable(results), ''];
  for (const r of results.filter((x) => x.verdict !== 'agrees' && x.why.length)) {
    lines.push(`${r.phase}: ${r.why.join('; ')}${r.artifacts ? ` (timeline: deadpeer show ${r.artifacts})` : ''}`);
  }
  lines.push(`advice (from the model, at this host's sysctls: tcp_syn_retries ${host.tcp_syn_retries}, tcp_retries2 ${host.tcp_retries2}):`);
  lines.push(...(advice.length ? advice.map((a) => `  - ${a}`) : ['  - none: every phase is detected, and no setting works against another']));
  lines.push(`artifacts (pcap + observation per phase): ${resultsDir()}`);
  if (Object.keys(args.maxDetect).length) {
    lines.push(
      over.length
        ? `gate: FAILED — over budget: ${over.map((r) => `${r.phase} (${fmtS(r.measured ? r.measured.closeAt : r.predicted.closeAt)} > ${humanDuration(r.budgetS!)})`).join(', ')}`
        : 'gate: passed — every phase within its budget',
    );
  }
  if (errors.length) lines.push(`could not measure: ${errors.map((r) => r.phase).join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return code;
}

function headerLines(args: CheckArgs, features: KernelFeatures, options: Record<string, number>, host: TcpSysctls): string[] {
  const preset = args.preset ? findPreset(args.preset) : undefined;
  const profile =
    args.profile === 'fast'
      ? `profile fast: the client's namespace runs with ${Object.entries(FAST_SYSCTLS)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')} (this host: ${host.tcp_syn_retries}, ${host.tcp_retries2}) so every phase takes seconds; ` +
        'the model predicts for those values (--profile faithful: the kernel\'s own, up to ≈15 min)'
      : 'profile faithful: the kernel\'s default sysctls in the client\'s namespace';
  return [
    `deadpeer check: ${describeConfig(args.config)} (${args.sources.join(' + ')}${preset ? `: ${preset.title}` : ''})`,
    `  socket options: ${optionsLine(options)}`,
    `  kernel ${features.release} (HZ ${features.hz}), IPv${args.family}`,
    `  ${profile}`,
    `  phases run in parallel; times in seconds from each phase's t = 0; "never" = no timer would ever notice`,
  ];
}

/** Progress on stderr for runs the model says are slow: every 30 s, which phases are still running. */
function progress(phases: UserPhase[], expected: Record<UserPhase, number>): { done: (p: UserPhase) => void; stop: () => void } {
  const finished = new Set<UserPhase>();
  const slow = Math.max(0, ...phases.map((p) => expected[p]));
  if (slow <= 30) return { done: () => undefined, stop: () => undefined };
  const start = Date.now();
  process.stderr.write(`deadpeer check: the slowest phase takes ≈${humanDuration(slow)} by the model; progress every 30 s\n`);
  const timer = setInterval(() => {
    const running = phases.filter((p) => !finished.has(p)).map((p) => `${p} (model: ≈${humanDuration(expected[p])})`);
    process.stderr.write(`deadpeer check: ${humanDuration((Date.now() - start) / 1000)} elapsed; still running: ${running.join(', ')}\n`);
  }, 30_000);
  return { done: (p) => finished.add(p), stop: () => clearInterval(timer) };
}

function out(text: string, code: number): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return code;
}

function err(text: string, code: number): number {
  process.stderr.write(text.split('\n')[0] + '\n');
  return code;
}
