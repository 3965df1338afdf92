/**
 * A blip: the peer is unreachable for a while, then the network heals. Whether the connection
 * survives is decided by the same timers that notice a vanished peer — the model of the phase with
 * the peer gone (its transmissions and its give-up) — and one rule: every transmission that fires
 * inside the outage is lost, the first one that fires after the heal reaches the peer and is
 * answered (the SYN gets its SYN+ACK, the retransmission its ACK, the keepalive or window probe
 * its answer), and that ends the episode — unless the give-up comes first:
 *   tcp_retransmit_timer / tcp_probe_timer / tcp_keepalive_timer give up at their budget whatever
 *   happens later, so a blip that outlasts the budget kills the connection exactly as a vanished
 *   peer would; one that heals before it costs nothing but the wait for the next firing.
 * Where a firing can land on either side of the heal (its timer-wheel window contains it), the
 * outcome is not decided by the settings and is said to be uncertain rather than guessed.
 */
import { type PredictionWindows, predictionWindows } from './windows.js';
import type { ModelEvent, Prediction } from './types.js';

export interface BlipVerdict {
  /** true: some transmission certainly fires after the heal and before the give-up; false: none can */
  survives: boolean | 'uncertain';
  /** survives, and it is certain which transmission recovers (false: a firing's window holds the heal, so the timeline is one of two) */
  timelineCertain?: boolean;
  /** seconds from t = 0 when the outage ends */
  healS: number;
  /** the transmission that gets through (an index into the gone prediction's events), when it survives */
  recoveredBy?: number;
  /** its ideal time, s from t = 0 */
  recoveredAt?: number;
  /**
   * How much later the outage could end and the connection still survive for certain (s); negative:
   * how much earlier it would have had to end. Infinite when nothing would ever notice.
   */
  marginS: number;
  /** until when (s from t = 0) a run should watch: past the recovery, before the next timer */
  watchUntilS: number | null;
  /** the timeline with the blip: the gone timeline up to the recovery, or to the give-up */
  prediction: Prediction;
  /**
   * How late the heal may come and this answer still hold (s): until the earliest firing of the
   * transmission it counts on (0 when uncertain; infinite when a later heal cannot change it: a
   * connection that dies of the blip dies of a longer one too).
   */
  lateAllowanceS: number;
}

/** Transmissions that can carry the connection across: not the RST or FIN of a give-up. */
const carries = (e: ModelEvent) => e.packet !== 'RST' && e.packet !== 'FIN';

/** A transmission that could carry the connection across, with its firing window. */
interface Candidate {
  e: ModelEvent;
  i: number;
  win: [number, number];
}

/**
 * What decides a blip, without the timeline that explains it: searches ask this thousands of times
 * and need only the answer, so the notes and the recovered timeline are left to predictBlip.
 */
type BlipDecision = { marginS: number } & (
  | { kind: 'recovers'; by: Candidate; straddler?: Candidate }
  | { kind: 'untouched'; firstWindowStart: number | undefined }
  | { kind: 'uncertain'; straddler: Candidate }
  | { kind: 'unnoticed' }
  | { kind: 'dies' }
);

function decide(gone: Prediction, w: PredictionWindows, healS: number): BlipDecision {
  const candidates: Candidate[] = [];
  const until = gone.closeAt ?? Infinity;
  for (let i = 0; i < gone.events.length; i++) {
    const e = gone.events[i]!;
    if (carries(e) && e.t < until) candidates.push({ e, i, win: w.events[i]!.window });
  }
  // the latest heal that still certainly survives: no later than the start of the last
  // transmission's window (the give-up is a later firing of the same timer, so every transmission
  // of the chain comes before it, however the windows overlap)
  let maxHeal = gone.closeAt === null && !candidates.length ? Infinity : -Infinity;
  for (const c of candidates) maxHeal = Math.max(maxHeal, c.win[0]);
  if (gone.closeAt === null && candidates.length) maxHeal = Infinity; // nothing ever gives up: a later firing always comes
  const marginS = maxHeal - healS;

  // a firing whose window holds the heal may be lost or answered: survival is still certain if a
  // later one surely fires after the heal and before the give-up — only which one recovers is not
  let straddler: Candidate | undefined;
  for (const c of candidates) {
    if (c.win[1] < healS) continue; // fires inside the outage: lost
    if (c.win[0] < healS) {
      straddler ??= c;
      continue;
    }
    return { kind: 'recovers', marginS, by: c, ...(straddler ? { straddler } : {}) };
  }
  // nothing was sent in the outage and nothing fired in it: the connection never knew — the next
  // firing (even one the gone timeline would end with) finds the peer back
  const lostAny = candidates.some((c) => c.win[0] < healS);
  if (!straddler && !lostAny && gone.closeAt !== null && w.close && healS < w.close.window[0])
    return { kind: 'untouched', marginS: Math.max(marginS, w.close.window[0] - healS), firstWindowStart: candidates[0]?.win[0] };
  if (straddler) return { kind: 'uncertain', marginS, straddler };
  if (gone.closeAt === null) return { kind: 'unnoticed', marginS };
  return { kind: 'dies', marginS };
}

/**
 * predictBlip's survives and marginS alone, from windows the caller already has
 * (predictionWindows(goneFor, hz)): the same decision, without building the timeline.
 */
export function blipAnswer(goneFor: Prediction, healS: number, windows: PredictionWindows): Pick<BlipVerdict, 'survives' | 'marginS'> {
  const d = decide(goneFor, windows, healS);
  return { survives: d.kind === 'uncertain' ? 'uncertain' : d.kind !== 'dies', marginS: d.marginS };
}

/**
 * The blip verdict from the phase's prediction with the peer gone for good (same settings, same
 * kernel), the heal (s from that prediction's t = 0) and HZ (for the wheel's windows).
 */
export function predictBlip(goneFor: Prediction, healS: number, hz: number): BlipVerdict {
  // the answer records the heal it was given (Prediction.inputs), like every measured input
  const gone: Prediction = { ...goneFor, inputs: { ...goneFor.inputs, healS } };
  const w = predictionWindows(gone, hz);
  const d = decide(gone, w, healS);
  const base = { healS, marginS: d.marginS };
  switch (d.kind) {
    case 'recovers': {
      const { by: c, straddler } = d;
      const next = gone.events[c.i + 1];
      const gap = next ? next.t - c.e.t : Infinity;
      const watchUntil = c.win[1] + Math.min(0.2, 0.4 * gap);
      return {
        ...base,
        lateAllowanceS: c.win[0] - healS,
        survives: true,
        timelineCertain: !straddler,
        recoveredBy: c.i,
        recoveredAt: c.e.t,
        // the answer comes back within the RTT; the next timer after an answered transmission is no
        // sooner than the gone chain's next gap would be, so watching 40 % of it (at most 0.2 s) sees nothing more
        watchUntilS: watchUntil,
        prediction: {
          ...gone,
          watchUntil,
          events: gone.events.slice(0, c.i + 1),
          closeAt: null,
          errno: null,
          closeTimer: undefined,
          notes: [
            ...gone.notes,
            `blip: the outage ends at ${healS.toFixed(3)} s; ${c.i ? `the ${c.i} transmission${c.i > 1 ? 's' : ''} before it are lost, ` : ''}the ${c.e.packet} #${c.e.n} at ${c.e.t.toFixed(3)} s reaches the peer and is answered: the connection survives (no errno)` +
              (straddler ? ` — or already the ${straddler.e.packet} #${straddler.e.n} at ${straddler.e.t.toFixed(3)} s, whose window (${straddler.win[0].toFixed(3)}…${straddler.win[1].toFixed(3)} s) holds the heal: survival is certain, which transmission recovers is not` : ''),
          ],
        },
      };
    }
    case 'untouched':
      return {
        ...base,
        lateAllowanceS: Math.min(d.firstWindowStart ?? Infinity, w.close!.window[0]) - healS,
        survives: true,
        timelineCertain: true,
        watchUntilS: null,
        prediction: {
          ...gone,
          events: [],
          closeAt: null,
          errno: null,
          closeTimer: undefined,
          notes: [...gone.notes, `blip: the outage ends at ${healS.toFixed(3)} s, before any timer fires: nothing is lost, nothing is noticed`],
        },
      };
    case 'uncertain': {
      const s = d.straddler;
      return uncertain(gone, base, `the ${s.e.packet} #${s.e.n} at ${s.e.t.toFixed(3)} s can fire on either side of the heal (${s.win[0].toFixed(3)}…${s.win[1].toFixed(3)} s), and nothing surely after it comes before the give-up`);
    }
    case 'unnoticed':
      return { ...base, lateAllowanceS: Infinity, survives: true, timelineCertain: true, watchUntilS: null, prediction: { ...gone, notes: [...gone.notes, `blip: nothing is sent and nothing gives up: an outage ending at ${healS.toFixed(3)} s goes unnoticed`] } };
    case 'dies':
      return {
        ...base,
        lateAllowanceS: Infinity,
        survives: false,
        watchUntilS: null,
        prediction: { ...gone, notes: [...gone.notes, `blip: the outage lasts until ${healS.toFixed(3)} s, past the give-up at ${gone.closeAt!.toFixed(3)} s: it kills the connection as a vanished peer would`] },
      };
  }
}

function uncertain(gone: Prediction, base: { healS: number; marginS: number }, why: string): BlipVerdict {
  return { ...base, lateAllowanceS: 0, survives: 'uncertain', watchUntilS: null, prediction: { ...gone, notes: [...gone.notes, `blip: too close to call — ${why}`] } };
}

/**
 * How late a fault armed at `armS` (s from t = 0) may take effect and the gone timeline still hold:
 * until the earliest firing of the first transmission that could fire at or after it (one that
 * slipped out before the fault would reach the peer). 0 when a firing's window holds the moment.
 */
export function armLateAllowanceS(gone: Prediction, armS: number, hz: number): number {
  const w = predictionWindows(gone, hz);
  let allowance = Infinity;
  gone.events.forEach((_, i) => {
    const [w0, w1] = w.events[i]!.window;
    if (w1 >= armS) allowance = Math.min(allowance, Math.max(0, w0 - armS));
  });
  return allowance;
}
