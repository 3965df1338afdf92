/**
 * The kernel model: what the running (or a named) kernel should do when the peer vanishes, per
 * phase. Pure functions of (effective settings, kernel features); see each module for the rules
 * and the kernel source they encode.
 */
import { predictBusy } from './busy.js';
import { predictDeferAccept } from './defer-accept.js';
import { predictIdle } from './idle.js';
import { predictSynRecv } from './syn-recv.js';
import { predictSynSent } from './syn-sent.js';
import type { Phase, PhaseInput, Prediction } from './types.js';
import { predictZeroWindow } from './zero-window.js';

export * from './types.js';
export { predictSynSent } from './syn-sent.js';
export { predictSynRecv } from './syn-recv.js';
export { predictDeferAccept } from './defer-accept.js';
export { predictIdle } from './idle.js';
export { predictBusy } from './busy.js';
export { predictZeroWindow } from './zero-window.js';
export { timerSlack, cumulativeSlack, timerWheelLevel, levelGranularityJiffies } from './slack.js';
export type { Slack, TimerSlack } from './slack.js';
export { predictionWindows } from './windows.js';
export type { FiringWindow, PredictionWindows } from './windows.js';
export {
  featuresForRelease,
  defaultSysctls,
  defaultSocket,
  parseRelease,
  releaseAtLeast,
  tinyRttRtoMs,
  rtoFromRtt,
  rtoMinFloorUs,
  modelKnowsRelease,
  OLDEST_RELEASE,
  OLDEST_RELEASE_WHY,
  TINY_SRTT_US,
} from './features.js';
export { tcpModelTimeoutMs } from './backoff.js';
export { secsToRetrans, retransToSecs, deferAcceptRetrans, deferAcceptReadBack } from './reqsk.js';

export const PHASES: readonly Phase[] = ['syn-sent', 'syn-recv', 'defer-accept', 'idle', 'busy', 'zero-window'];

const predictors: { [P in Phase]: (input: PhaseInput[P]) => Prediction } = {
  'syn-sent': predictSynSent,
  'syn-recv': predictSynRecv,
  'defer-accept': predictDeferAccept,
  idle: predictIdle,
  busy: predictBusy,
  'zero-window': predictZeroWindow,
};

/** The prediction for one phase. */
export function predict<P extends Phase>(phase: P, input: PhaseInput[P]): Prediction {
  const predictor = predictors[phase] as (input: PhaseInput[P]) => Prediction;
  return predictor(input);
}
export { MIDDLEBOX_PRESETS, MAX_IDLE_TIMEOUT_S, parseMiddlebox, middleboxFamilyProblem } from './middlebox.js';
export type { Middlebox, MiddleboxMode, MiddleboxKind, MiddleboxPreset } from './middlebox.js';
export { predictPath, RTT_ALLOWANCE_S } from './path.js';
export type { PathInput, PathPrediction, MappingKept } from './path.js';
export { durationSeconds } from './duration.js';
