import type { Observation } from '../../core/observation.js';
import { judgeTimeline } from '../../judge/verdict.js';
import { tinyRttRtoMs } from '../../model/features.js';
import type { Middlebox } from '../../model/middlebox.js';
import { type MappingKept, type PathPrediction, predictPath } from '../../model/path.js';
import type { ModelInput } from '../../model/types.js';
import { LAST_CROSSING } from '../../recipes/path.js';
import { humanDuration } from './advice.js';

/**
 * `check --middlebox`: the configuration behind a middlebox that forgets idle connections — does
 * the idle connection keep its mapping, and what does the first write after the expiry meet. The
 * path is run on the kernel (a router namespace running conntrack, recipes/path.ts) when it fits
 * --max-run, beside the phases; otherwise the model's answer stands alone and says why.
 */
export interface MiddleboxResult {
  middlebox: Middlebox;
  /** 'measured': the path ran on this kernel (`measured`); 'predicted': the model's answer alone (`notRun` says why) */
  basis: 'measured' | 'predicted';
  /** basis 'predicted': why the path was not run (over --max-run) or what stopped the run */
  notRun?: string;
  /** the path run failed (a setup error, not a verdict): the check exits 1, as for a phase that could not be measured */
  error?: string;
  keepsMapping: { kept: MappingKept; why: string };
  /** the model's: the application's first write (1.5 s after the expiry; 2.5× the timeout when the mapping is kept, as the run writes): how long after it the socket notices */
  firstWrite: { atS: number; noticeAfterS: number | null; errno: string | null; line: string };
  /** basis 'measured': what the kernel did on the path, judged against the model for the run's own settings and write */
  measured?: MiddleboxMeasured;
  /** the server's socket meanwhile */
  server: string;
  /** idle's --max-detect */
  budgetS?: number;
  /** a lost mapping whose write is noticed later than the budget (or never) — measured when the path ran; a kept one, or a RST at once, is within it */
  overBudget: boolean;
  path: PathPrediction;
}

/** The path as the kernel ran it; times in s after the last packet through the router (the handshake's end). */
export interface MiddleboxMeasured {
  /** when the client wrote (the run's write, as it happened: 1.5 s after the expiry, or 2.5× the timeout for a kept mapping) */
  writeAtS: number;
  /** the router's table first showed the entry gone (its conntrack reader's sample); null = it never went */
  entryGoneAtS: number | null;
  /** the client's socket closed this long after the write; null = still open when the run ended */
  noticeAfterS: number | null;
  errno: string | null;
  /** the write's data reached the server, through the router: the mapping was there (the server's leg of the capture) */
  reachedServer: boolean;
  /** how long the run watched, s after the last packet through the router */
  watchedS: number;
  /** judgeTimeline against the path model's client prediction for this run; 'uncertain': the model calls the mapping a race */
  verdict: 'agrees' | 'differs' | 'cannot judge' | 'uncertain';
  why: string[];
  /** the path run's artifact folder (pcap, observation.json with path.conntrack) */
  artifacts: string;
}

/**
 * The write comes 1.5 s after the entry expires: far beyond the expiry's jiffy and the write's own
 * timing, so it meets the forgotten entry whichever way those fall (the same as cases/middlebox.test.ts).
 */
export const WRITE_AFTER_EXPIRY_S = 1.5;
/** A kept mapping is shown kept over more than two expiry periods before the write (as the cases do). */
export const KEPT_WRITE_FACTOR = 2.5;
/** A connection the model says stays open is watched this long past its last predicted event (as check's phases). */
export const KEPT_HOLD_S = 3;

/**
 * The path's answer at these settings (the retransmission chain at a tiny RTT's RTO, as check's busy
 * phase), for a write 1.5 s after the expiry unless told when.
 */
export function predictMiddlebox(i: ModelInput, middlebox: Middlebox, writeAtS = middlebox.idleTimeoutS + WRITE_AFTER_EXPIRY_S): PathPrediction {
  return predictPath({ ...i, middlebox, writeAtS, rtoMs: tinyRttRtoMs(i.sysctls, i.features.hz) });
}

/** Whether check runs the path on the kernel, and when its client writes. */
export interface MiddleboxRunPlan {
  /** the model's run time fits --max-run */
  run: boolean;
  /** the write, s after the handshake: 1.5 s after the expiry, or 2.5× the timeout when the model says the mapping is kept */
  writeAtS: number;
  /** how long the model says the path takes, s after the handshake: to the client's notice, or past a kept mapping's acknowledged write */
  expectedS: number;
  /** not run: why, one clause */
  why?: string;
}

/**
 * The run-or-predict decision, by --max-run as for the phases: the timeout plus what follows it —
 * the write after the expiry and the model's notice time after it, or for a kept mapping a write
 * after 2.5 timeouts (so the mapping is seen kept over two whole periods) and the hold after it.
 */
export function planMiddleboxRun(i: ModelInput, middlebox: Middlebox, maxRunS: number): MiddleboxRunPlan {
  const E = middlebox.idleTimeoutS;
  const kept = predictMiddlebox(i, middlebox).mapping.kept === 'yes';
  const writeAtS = kept ? E * KEPT_WRITE_FACTOR : E + WRITE_AFTER_EXPIRY_S;
  const path = predictMiddlebox(i, middlebox, writeAtS);
  const expectedS = path.outcome.noticeAtS ?? path.clientOriginS + (path.client.events.at(-1)?.t ?? 0) + KEPT_HOLD_S;
  if (expectedS <= maxRunS) return { run: true, writeAtS, expectedS };
  const why =
    E > maxRunS
      ? `the timeout (${E} s) is longer than --max-run ${humanDuration(maxRunS)}`
      : `the timeout (${E} s) and what follows it (${kept ? `a write at ${KEPT_WRITE_FACTOR}× it` : `the write ${WRITE_AFTER_EXPIRY_S} s after it and its notice`}) take ≈${humanDuration(expectedS)}, longer than --max-run ${humanDuration(maxRunS)}`;
  return { run: false, writeAtS, expectedS, why: `${why}; judged by the model alone` };
}

/**
 * What the kernel did on the path (a pathPhase run), judged by judgeTimeline against the path
 * model's client prediction for the run's own read-back settings and write, as a phase is.
 */
export function measuredMiddlebox(obs: Observation): MiddleboxMeasured {
  const v = judgeTimeline(obs);
  const t0 = obs.marks[LAST_CROSSING]!;
  const wrote = obs.marks['client sent'];
  if (wrote === undefined) throw new Error(`${obs.name}: the client never wrote`);
  const gone = obs.path?.conntrack.find((s) => !s.present);
  // a race is the model's way of saying either outcome is the kernel's right: a run that went the other way does not differ
  const race = obs.path?.predicted?.mapping.kept === 'race';
  return {
    writeAtS: ms(wrote - t0),
    entryGoneAtS: gone ? ms(gone.t - t0) : null,
    noticeAfterS: obs.close ? ms(Math.max(0, obs.close.t - wrote)) : null,
    errno: obs.close?.errno ?? null,
    reachedServer: !!obs.path?.serverLeg.some((p) => p.from === 'client' && p.len > 0),
    watchedS: ms(obs.end - t0),
    verdict: v.cannotJudge ? 'cannot judge' : v.ok ? 'agrees' : race ? 'uncertain' : 'differs',
    why: race && !v.ok && !v.cannotJudge ? [`the model calls the mapping a race (${obs.path!.predicted!.mapping.why}); this run went the other way`, ...v.problems] : v.problems,
    artifacts: obs.artifacts.dir,
  };
}

/**
 * The measured path beside the prediction. The gate, when measured, is the kernel's: the write's
 * notice time after it; a connection still open counts as never noticed when its write did not get
 * through (it met the forgotten entry), and as nothing to notice when it did.
 */
export function withMeasured(r: MiddleboxResult, m: MiddleboxMeasured): MiddleboxResult {
  const late = m.noticeAfterS === null ? !m.reachedServer : r.budgetS !== undefined && m.noticeAfterS > r.budgetS;
  return { ...r, basis: 'measured', measured: m, overBudget: r.budgetS !== undefined && late };
}

const ms = (t: number) => Math.round(t * 1000) / 1000;

/** The model's lines, for the write check's run of the path makes (planMiddleboxRun), 1.5 s after the expiry unless told. */
export function middleboxResult(i: ModelInput, middlebox: Middlebox, budgetS: number | undefined, atS = middlebox.idleTimeoutS + WRITE_AFTER_EXPIRY_S): MiddleboxResult {
  const path = predictMiddlebox(i, middlebox, atS);
  const { noticeAtS, errno } = path.outcome;
  const noticeAfterS = noticeAtS === null ? null : Math.max(0, Math.round((noticeAtS - atS) * 1000) / 1000);
  const line =
    path.mapping.kept === 'yes'
      ? 'is acknowledged (the mapping was kept)'
      : path.trigger?.by === 'keepalive'
        ? `comes after the keepalive probe met the forgotten mapping: ${path.outcome.line}`
        : errno === 'ECONNRESET'
          ? `fails after ${humanDuration(noticeAfterS)} with ECONNRESET (write() succeeds; the next call on the socket sees it)`
          : `hangs ${humanDuration(noticeAfterS)}, then ${errno}`;
  return {
    middlebox,
    basis: 'predicted',
    keepsMapping: { kept: path.mapping.kept, why: path.mapping.why },
    firstWrite: { atS, noticeAfterS, errno, line: path.mapping.kept === 'race' ? `if the expiry wins the race, ${line}` : line },
    server: path.server.line,
    ...(budgetS !== undefined ? { budgetS } : {}),
    overBudget: budgetS !== undefined && path.mapping.kept !== 'yes' && (noticeAfterS ?? Infinity) > budgetS,
    path,
  };
}

/**
 * Advice behind a middlebox: a keepalive idle time below its timeout, with room for one lost
 * probe — TCP_KEEPIDLE + TCP_KEEPINTVL below it, so the probe re-sent after a lost one still comes
 * in time; half the timeout for TCP_KEEPIDLE leaves that room for any TCP_KEEPINTVL up to a quarter.
 */
export function adviseMiddlebox(i: ModelInput, middlebox: Middlebox): string[] {
  const path = predictMiddlebox(i, middlebox);
  if (path.mapping.kept === 'yes') return [];
  const E = middlebox.idleTimeoutS;
  const r = middleboxResult(i, middlebox, undefined);
  return [
    `behind ${middlebox.name} (idle timeout ${humanDuration(E)}) the idle connection ${path.mapping.kept === 'race' ? 'may lose' : 'loses'} its mapping: ${path.mapping.why}; ` +
      `the first write after it ${r.firstWrite.line}; set TCP_KEEPIDLE below ${E} s (e.g. ${Math.max(1, Math.floor(E / 2))} s, half the timeout) with ` +
      `TCP_KEEPIDLE + TCP_KEEPINTVL below it too, so that one lost probe's retry still refreshes the entry in time`,
  ];
}
