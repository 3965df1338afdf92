import { expect } from 'vitest';
import { judgeAccept } from '../judge/accept-verdict.js';
import { renderTimeline } from '../judge/timeline-text.js';
import { judgeTimeline } from '../judge/verdict.js';
import type { Observation } from '../core/observation.js';

/**
 * expect(obs).toAcceptAsModelled(): accept() returned the connection when the model says
 * (Prediction.acceptAt, windows from accept-verdict.ts), or never when it says never. Registered
 * by importing this module; the failure message carries the side-by-side timeline.
 */
export interface AcceptMatchers<R = unknown> {
  toAcceptAsModelled(): R;
}

declare module 'vitest' {
  interface Matchers<T = any> extends AcceptMatchers<T> {}
}

expect.extend({
  toAcceptAsModelled(obs: Observation) {
    const v = judgeAccept(obs);
    return {
      pass: v.ok,
      message: () =>
        v.ok
          ? `expected ${obs.name} (IPv${obs.family}) to diverge from the model's accept(), but it followed it`
          : `${obs.name} (IPv${obs.family}): ${v.problem}\n\n${renderTimeline(obs, judgeTimeline(obs))}`,
    };
  },
});
