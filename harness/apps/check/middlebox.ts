import { tinyRttRtoMs } from '../../model/features.js';
import type { Middlebox } from '../../model/middlebox.js';
import { type MappingKept, type PathPrediction, predictPath } from '../../model/path.js';
import type { ModelInput } from '../../model/types.js';
import { humanDuration } from './advice.js';

/**
 * `check --middlebox`: the configuration behind a middlebox that forgets idle connections — does
 * the idle connection keep its mapping, and what does the first write after the expiry meet.
 */
export interface MiddleboxResult {
  middlebox: Middlebox;
  /** 'predicted': the model's answer (no kernel run of the path yet: see run.ts middleboxOutcome) */
  basis: 'predicted';
  keepsMapping: { kept: MappingKept; why: string };
  /** the application's first write, one second after the expiry: how long after it the socket notices */
  firstWrite: { atS: number; noticeAfterS: number | null; errno: string | null; line: string };
  /** the server's socket meanwhile */
  server: string;
  /** idle's --max-detect */
  budgetS?: number;
  /** a lost mapping whose write is noticed later than the budget (or never); a kept one, or a RST at once, is within it */
  overBudget: boolean;
  path: PathPrediction;
}

/** The write comes a second after the entry expires: the first moment it meets a forgotten one. */
export const WRITE_AFTER_EXPIRY_S = 1;

/** The path's answer at these settings (the retransmission chain at a tiny RTT's RTO, as check's busy phase). */
export function predictMiddlebox(i: ModelInput, middlebox: Middlebox): PathPrediction {
  return predictPath({ ...i, middlebox, writeAtS: middlebox.idleTimeoutS + WRITE_AFTER_EXPIRY_S, rtoMs: tinyRttRtoMs(i.sysctls, i.features.hz) });
}

export function middleboxResult(i: ModelInput, middlebox: Middlebox, budgetS: number | undefined): MiddleboxResult {
  const path = predictMiddlebox(i, middlebox);
  const atS = middlebox.idleTimeoutS + WRITE_AFTER_EXPIRY_S;
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
