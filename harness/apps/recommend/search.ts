import { blipAnswer } from '../../model/blip.js';
import type { KernelFeatures, ModelInput, Prediction, TcpSysctls } from '../../model/types.js';
import { predictionWindows } from '../../model/windows.js';
import type { UserPhase } from '../../recipes/phases.js';
import { advise, humanDuration, predictPhases } from '../check/advice.js';
import { predictBusy } from '../../model/busy.js';
import { tinyRttRtoMs } from '../../model/features.js';
import { keepCntCounts, predictIdle } from '../../model/idle.js';
import { predictSynSent } from '../../model/syn-sent.js';
import { predictZeroWindow } from '../../model/zero-window.js';
import type { SocketConfig } from '../check/presets.js';
import type { Middlebox } from '../../model/middlebox.js';
import { keepsMappingThroughOneLoss } from '../../model/path.js';
import { socketSettingsFor } from '../check/run.js';
import { type ClientName, CLIENTS } from './clients.js';

/**
 * `deadpeer recommend`: the socket settings that notice a vanished peer within a budget in every
 * phase and survive a blip of a given length, found by asking the model — at the window's late
 * end (the timer wheel's range, model/windows.ts), and for the blip at its worst placement. Pure:
 * settings and kernel in, a recommendation or the reasons there is none out.
 *
 * The worst blip for a phase begins just before its first transmission (the data, the first SYN,
 * the first keepalive or window probe): one beginning earlier heals earlier, one beginning after
 * a transmission that got through restarts the chain. So the heal is tested at that first
 * transmission's time + the blip's length.
 */
export interface RecommendOptions {
  /** every phase must notice a vanished peer within this (s), at the late end of the wheel's window */
  detectS: number;
  /** and survive an outage this long (s), wherever it falls */
  surviveS?: number;
  phases: UserPhase[];
  client: ClientName;
  /** a middlebox that forgets idle connections: only keepalive settings that keep its mapping through one lost probe */
  middlebox?: Middlebox;
}

export interface PhaseOutcome {
  phase: UserPhase;
  /** when the kernel gives up, s from t = 0: where the wheel can fire it */
  closeWindow: [number, number] | null;
  /** budget − the window's late end */
  detectMarginS: number;
  /** false: the last transmission's window reaches into the give-up's, so the count of transmissions is not decided by the settings */
  firm?: false;
  /** the blip at its worst placement: whether it is survived and with how much to spare */
  blip?: { healS: number; survives: boolean | 'uncertain'; marginS: number };
}

export interface Recommendation {
  config: SocketConfig;
  phases: PhaseOutcome[];
  /** keepalive probes an idle, healthy connection sends per hour: the traffic the settings cost */
  probesPerHour: number;
  /** the smallest of every phase's detection and blip margins */
  minMarginS: number;
  /** the model's advice on these settings (nothing that works against another, ideally) */
  advice: string[];
}

export type RecommendResult =
  | { ok: true; best: Recommendation; considered: number }
  | { ok: false; why: string[]; considered: number };


/** Whole seconds a person would set: every second up to a minute, then round values. */
const SECONDS = [...Array.from({ length: 60 }, (_, i) => i + 1), 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600];
const INTVL_S = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60];
const CNT = [1, 2, 3, 4, 5, 6, 8, 9, 10];
const SYNCNT = [1, 2, 3, 4, 5, 6];
const RTO_MAX_MS = [1000, 2000, 5000, 10_000];

/** When the phase's first transmission goes out, s from t = 0 (the worst blip begins just before it). */
function firstTransmission(phase: UserPhase, p: Prediction): number {
  if (phase === 'connect' || phase === 'busy') return 0; // the first SYN / the data is t = 0 itself
  return p.events.find((e) => e.packet !== 'RST' && e.packet !== 'FIN')?.t ?? 0;
}

export function outcome(phase: UserPhase, p: Prediction, hz: number, o: Pick<RecommendOptions, 'detectS' | 'surviveS'>): PhaseOutcome {
  const windows = predictionWindows(p, hz);
  const w = windows.close;
  const closeWindow: [number, number] | null = w ? w.window : null;
  // the last transmission and the give-up must not share the wheel's range: where they do, the
  // chain's lateness decides whether one more goes out, and no verdict could hold the count
  let lastTx = p.events.length - 1;
  while (lastTx >= 0 && (p.events[lastTx]!.packet === 'RST' || p.events[lastTx]!.packet === 'FIN')) lastTx--;
  const firm = !w || lastTx < 0 || windows.events[lastTx]!.window[1] < w.window[0];
  const out: PhaseOutcome = { phase, closeWindow, detectMarginS: closeWindow ? o.detectS - closeWindow[1] : -Infinity, ...(firm ? {} : { firm: false }) };
  if (o.surviveS !== undefined) {
    const healS = firstTransmission(phase, p) + o.surviveS;
    const b = blipAnswer(p, healS, windows);
    out.blip = { healS, survives: b.survives, marginS: b.marginS };
  }
  return out;
}

const passes = (x: PhaseOutcome) => x.firm !== false && x.detectMarginS >= 0 && (!x.blip || (x.blip.survives === true && x.blip.marginS >= 0));
const margin = (x: PhaseOutcome) => Math.min(x.detectMarginS, x.blip ? x.blip.marginS : Infinity);

function keepaliveChoices(client: ClientName, detectS: number, keeps: (idle: number, intvl: number) => boolean = () => true): Array<{ idle: number; intvl: number; cnt: number }> {
  const fixed = CLIENTS[client].can.keepalive;
  const out: Array<{ idle: number; intvl: number; cnt: number }> = [];
  // an idle connection cannot notice before its first probe: TCP_KEEPIDLE below the budget
  for (const idle of SECONDS.filter((i) => i < detectS))
    for (const intvl of fixed === 'idle=interval' ? [idle] : INTVL_S)
      if (keeps(idle, intvl)) for (const cnt of typeof fixed === 'object' ? [fixed.cnt] : CNT) out.push({ idle, intvl, cnt });
  return out;
}

/**
 * The margin a recommendation keeps on every phase where it can: the windows already hold the
 * timer wheel, and this second is for what the model does not see (a slow RTT, a late wake-up).
 */
export const MARGIN_FLOOR_S = 1;

/** Better: a margin of at least the floor, then fewer probes an hour, then the wider margin, then no advice against the settings. */
function better(a: Recommendation, b: Recommendation | undefined): boolean {
  if (!b) return true;
  const [fa, fb] = [a.minMarginS >= MARGIN_FLOOR_S, b.minMarginS >= MARGIN_FLOOR_S];
  if (fa !== fb) return fa;
  if (a.probesPerHour !== b.probesPerHour) return a.probesPerHour < b.probesPerHour;
  if (Math.abs(a.minMarginS - b.minMarginS) > 1e-9) return a.minMarginS > b.minMarginS;
  return a.advice.length < b.advice.length;
}

interface Scored<T> {
  value: T;
  outcomes: PhaseOutcome[];
  margin: number;
}

/**
 * The phases depend on different settings — idle on keepalive and U, busy and zero-window on U
 * and rto_max, connect on U, TCP_SYNCNT and rto_max — so each is asked about its own settings only,
 * and the best of each is combined per U: thousands of model calls instead of millions.
 */
export function searchSettings(o: RecommendOptions, env: { sysctls: TcpSysctls; features: KernelFeatures }): RecommendResult {
  const hz = env.features.hz;
  const can = CLIENTS[o.client].can;
  const rtoMs = tinyRttRtoMs(env.sysctls, hz);
  const input = (config: SocketConfig): ModelInput => ({ sysctls: env.sysctls, features: env.features, socket: socketSettingsFor(config, env.sysctls) });
  const predict: Record<UserPhase, (i: ModelInput) => Prediction> = {
    connect: (i) => predictSynSent(i),
    idle: (i) => predictIdle(i),
    busy: (i) => predictBusy({ ...i, rtoMs }),
    'zero-window': (i) => predictZeroWindow({ ...i, rtoMs, peer: 'gone' }),
  };
  const answer = (phase: UserPhase, config: SocketConfig) => outcome(phase, predict[phase](input(config)), hz, o);
  let considered = 0;
  const nearest: Partial<Record<UserPhase, PhaseOutcome>> = {};
  /** Every combination asked is counted, and weighed as the nearest miss, whether the model answered it now or for one with the same timeline. */
  const asked = (phase: UserPhase, x: PhaseOutcome): PhaseOutcome => {
    considered++;
    const n = nearest[phase];
    if (!n || (passes(x) && !passes(n)) || (passes(x) === passes(n) && margin(x) > margin(n))) nearest[phase] = x;
    return x;
  };
  // busy and zero-window do not read TCP_SYNCNT: the model answers each once per (U, rto_max), not
  // once per TCP_SYNCNT beside it. `key` names what the phase depends on (see the comment above).
  const answers = new Map<string, PhaseOutcome>();
  const ask = (phase: UserPhase, key: string, config: SocketConfig): PhaseOutcome => {
    let x = answers.get(key);
    if (!x) answers.set(key, (x = answer(phase, config)));
    return asked(phase, x);
  };
  /**
   * Of these choices (the simplest first), the one whose phases all pass with the widest margin —
   * counted only up to `cap`, the margin another phase already limits the whole to, so a setting
   * that widens nothing that matters (a TCP_RTO_MAX_MS that needs 6.15) is not added for it.
   */
  const widest = <T>(choices: T[], phases: UserPhase[], config: (t: T) => SocketConfig, key: (ph: UserPhase, t: T) => string, cap = Infinity): Scored<T> | undefined => {
    let best: Scored<T> | undefined;
    for (const c of choices) {
      const outcomes = phases.map((ph) => ask(ph, key(ph, c), config(c)));
      if (!outcomes.every(passes)) continue;
      const m = Math.min(cap, ...outcomes.map(margin));
      if (!best || m > best.margin + 1e-9) best = { value: c, outcomes, margin: m };
    }
    return best;
  };

  // U ends the connection no sooner than U: above the budget it cannot help any phase meet it
  const us = [0, ...SECONDS.filter((u) => u <= o.detectS)].filter((u) => u === 0 || can.userTimeout);
  const rtos: Array<number | undefined> = [undefined, ...(env.features.rtoMax && can.rtoMax ? RTO_MAX_MS : [])];
  const syns: Array<number | undefined> = [undefined, ...(can.synCnt ? SYNCNT : [])];
  const mb = o.middlebox;
  const kas = keepaliveChoices(o.client, o.detectS, mb && ((idleS, intvlS) => keepsMappingThroughOneLoss({ idleS, intvlS }, mb.idleTimeoutS, hz)));
  const retransmitting = o.phases.filter((p) => p === 'busy' || p === 'zero-window');
  const longestIdleFirst = [...kas].sort((a, b) => b.idle - a.idle);
  // choices that differ only in TCP_KEEPCNT sit next to each other (the sort is stable): each one's
  // index → the first of its run, where the model's answer is kept when the count plays no part
  const sameButCount = longestIdleFirst.map((ka, k) => {
    let first = k;
    while (first > 0 && longestIdleFirst[first - 1]!.idle === ka.idle && longestIdleFirst[first - 1]!.intvl === ka.intvl) first--;
    return first;
  });
  let best: Recommendation | undefined;
  for (const u of us) {
    const ut = u ? { userTimeoutMs: u * 1000 } : {};
    // a tie is judged by the advice on both sides, and the incumbent comes back for every tie: each
    // counted once, from the phases at this U (only idle reads the keepalive settings)
    const adviceCount = new Map<(typeof kas)[number], number>();
    let atU: ReturnType<typeof predictPhases> | undefined;
    const adviceOn = (ka: (typeof kas)[number]): number => {
      let n = adviceCount.get(ka);
      if (n === undefined) {
        const i = input({ ...ut, keepalive: ka });
        atU ??= predictPhases(input(ut));
        adviceCount.set(ka, (n = advise(i, { ...atU, idle: predictIdle(i) }).length));
      }
      return n;
    };
    // idle: keepalive with this U — the fewest probes an hour first, then the margin
    let idle: Scored<(typeof kas)[number] | undefined> | undefined = { value: undefined, outcomes: [], margin: Infinity };
    if (o.phases.includes('idle')) {
      idle = undefined;
      const answered: Array<PhaseOutcome | undefined> = [];
      const countCounts = keepCntCounts({ userTimeoutMs: u * 1000 });
      for (let k = 0; k < longestIdleFirst.length; k++) {
        const ka = longestIdleFirst[k]!;
        // every longer IDLE was tried: fewer probes cannot be had (with the margin floor kept, if it can be)
        if (idle && ka.idle < idle.value!.idle && idle.margin >= MARGIN_FLOOR_S) break;
        const x = asked('idle', (answered[countCounts ? k : sameButCount[k]!] ??= answer('idle', { ...ut, keepalive: ka })));
        if (!passes(x)) continue;
        const m = margin(x);
        // on a tie, the settings the model has no advice against (a TCP_KEEPCNT that U makes meaningless)
        const tie = idle && Math.abs(m - idle.margin) <= 1e-9 && adviceOn(ka) < adviceOn(idle.value!);
        const floorGained = idle && idle.margin < MARGIN_FLOOR_S && m >= MARGIN_FLOOR_S;
        const sameIdle = !idle || ka.idle === idle.value!.idle;
        if (!idle || floorGained || (sameIdle && (m > idle.margin + 1e-9 || tie))) idle = { value: ka, outcomes: [x], margin: m };
      }
      if (!idle) continue;
    }
    // busy and zero-window: U and rto_max; connect: U, TCP_SYNCNT and rto_max (one rto_max for all three)
    const rest = widest(
      rtos.flatMap((r) => (o.phases.includes('connect') ? syns : [undefined]).map((sc) => ({ r, sc }))),
      [...retransmitting, ...(o.phases.includes('connect') ? (['connect'] as UserPhase[]) : [])],
      ({ r, sc }) => ({ ...ut, ...(r !== undefined ? { rtoMaxMs: r } : {}), ...(sc !== undefined ? { synCnt: sc } : {}) }),
      (ph, { r, sc }) => `${ph} ${u}/${r}${ph === 'connect' ? `/${sc}` : ''}`,
      idle.margin,
    );
    if (!rest && (retransmitting.length || o.phases.includes('connect'))) continue;
    const config: SocketConfig = {
      ...(idle.value ? { keepalive: idle.value } : {}),
      ...ut,
      ...(rest?.value.r !== undefined ? { rtoMaxMs: rest.value.r } : {}),
      ...(rest?.value.sc !== undefined ? { synCnt: rest.value.sc } : {}),
    };
    const outcomes = o.phases.map((ph) => [...(rest?.outcomes ?? []), ...idle!.outcomes].find((x) => x.phase === ph)!);
    const rec: Recommendation = {
      config,
      phases: outcomes,
      probesPerHour: idle.value ? 3600 / idle.value.idle : 0,
      minMarginS: Math.min(...outcomes.map(margin)),
      advice: advise(input(config)),
    };
    if (better(rec, best)) best = rec;
  }
  if (best) return { ok: true, best, considered };
  return { ok: false, why: reasons(o, nearest), considered };
}

/** Why nothing can meet both numbers: the first principle that rules it out, then each phase's nearest miss. */
function reasons(o: RecommendOptions, nearest: Partial<Record<UserPhase, PhaseOutcome>>): string[] {
  const why: string[] = [];
  const can = CLIENTS[o.client];
  if (o.middlebox && !nearest.idle) {
    why.push(
      `idle: no keepalive ${can.label} can set within the budget keeps ${o.middlebox.name}'s mapping through one lost probe: TCP_KEEPIDLE + TCP_KEEPINTVL, ` +
        `the timer wheel's lateness and a round trip must stay below its ${humanDuration(o.middlebox.idleTimeoutS)} idle timeout`,
    );
  }
  if (o.surviveS !== undefined && o.surviveS >= o.detectS) {
    why.push(
      `a ${humanDuration(o.surviveS)} blip cannot be survived with a ${humanDuration(o.detectS)} budget: to outlive an outage the connection must not give up during it, so it cannot notice a dead peer sooner than the outage lasts`,
    );
  }
  for (const ph of o.phases) {
    const x = nearest[ph];
    if (!x || passes(x)) continue;
    if (!x.closeWindow) {
      why.push(`${ph}: no setting ${can.label} can make notices a vanished peer at all${can.cannot ? ` (${can.cannot})` : ''}`);
      continue;
    }
    if (x.detectMarginS < 0)
      why.push(`${ph}: the soonest any setting ${can.label} can make notices is ${x.closeWindow[1].toFixed(1)} s at the window's end, over the ${humanDuration(o.detectS)} budget${can.cannot ? ` (${can.cannot})` : ''}`);
    else if (x.blip)
      why.push(
        `${ph}: the settings that notice within ${humanDuration(o.detectS)} give up before a ${humanDuration(o.surviveS!)} outage heals, or fire too close to the heal to tell (best margin ${x.blip.marginS.toFixed(1)} s)`,
      );
  }
  return why.length ? why : ['no setting meets every phase at once'];
}
