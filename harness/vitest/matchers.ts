import { expect } from 'vitest';
import { renderTimeline } from '../judge/timeline-text.js';
import { judgeTimeline } from '../judge/verdict.js';
import type { Observation } from '../core/observation.js';

/**
 * vitest matchers over an Observation. Every failure message carries the side-by-side timeline
 * (model vs kernel), so a red test explains itself without re-running anything.
 */
export interface CloseExpectation {
  /** seconds from the observation's origin */
  at: number;
  /** allowed deviation: ± seconds, or [early, late] */
  within: number | [number, number];
}

export interface ObservationMatchers<R = unknown> {
  /** The subject socket died with this errno at `at` (± within) seconds from the origin. */
  toCloseWith(errno: string, expected: CloseExpectation): R;
  /** Every predicted packet, in count and time, and the close, as the model says (kernel tolerances). */
  toFollowModel(): R;
  /** The subject socket was still open when the run ended. */
  toStayOpen(): R;
}

declare module 'vitest' {
  interface Matchers<T = any> extends ObservationMatchers<T> {}
}

function timeline(obs: Observation): string {
  return renderTimeline(obs, judgeTimeline(obs));
}

expect.extend({
  toCloseWith(obs: Observation, errno: string, exp: CloseExpectation) {
    const [early, late] = typeof exp.within === 'number' ? [exp.within, exp.within] : exp.within;
    const rel = obs.close ? obs.close.t - obs.origin : null;
    const pass = !!obs.close && obs.close.errno === errno && rel! >= exp.at - early && rel! <= exp.at + late;
    const seen = obs.close ? `closed with ${obs.close.errno} at ${rel!.toFixed(3)} s` : 'still open';
    return {
      pass,
      message: () =>
        `expected ${obs.name} (IPv${obs.family}) ${pass ? 'not ' : ''}to close with ${errno} at ${exp.at.toFixed(3)} s (−${early.toFixed(3)}/+${late.toFixed(3)}); ${seen}\n\n${timeline(obs)}`,
    };
  },
  toFollowModel(obs: Observation) {
    const v = judgeTimeline(obs);
    return {
      pass: v.ok,
      message: () =>
        v.ok
          ? `expected ${obs.name} to diverge from the model, but it followed it`
          : v.cannotJudge
            ? `${obs.name} (IPv${obs.family}) cannot be judged: ${v.cannotJudge}\n\n${renderTimeline(obs, v)}`
            : `${obs.name} (IPv${obs.family}) diverged from the model:\n\n${renderTimeline(obs, v)}`,
    };
  },
  toStayOpen(obs: Observation) {
    const pass = obs.close === null;
    return {
      pass,
      message: () =>
        pass
          ? `expected ${obs.name} to close, but it was still open after ${(obs.end - obs.origin).toFixed(3)} s`
          : `expected ${obs.name} (IPv${obs.family}) to stay open, but it closed with ${obs.close!.errno} at ${(obs.close!.t - obs.origin).toFixed(3)} s\n\n${timeline(obs)}`,
    };
  },
});
