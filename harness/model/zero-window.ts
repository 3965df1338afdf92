/**
 * Zero window: data waits to be sent, nothing is in flight, the receiver advertises win 0.
 * The persist timer (ICSK_TIME_PROBE0) sends window probes.
 *
 * Rules (net/ipv4/tcp_timer.c tcp_probe_timer, net/ipv4/tcp_output.c tcp_send_probe0 /
 * tcp_probe0_when, net/ipv4/tcp_input.c tcp_ack / tcp_ack_probe, 6.x):
 * - First probe at tcp_probe0_base = max(icsk_rto, TCP_RTO_MIN) after the zero-window ACK; after
 *   each probe icsk_backoff++ (while < tcp_retries2) and the next at base << backoff, capped at
 *   tcp_rto_max. A win-0 answer re-arms the same interval (tcp_ack_probe) and zeroes
 *   icsk_probes_out (tcp_ack) but not the backoff.
 * - Give-up, by kernel:
 *   5.11+ / 5.4.93+ / 5.10.y (9d9b1ee0b2d1, 344db93ae3ee): the first firing stamps
 *     icsk_probes_tstamp; a later firing aborts when now - tstamp >= U; the timer is clamped to
 *     what is left of U (tcp_clamp_probe0_to_user_timeout). Only an ACK opening the window resets
 *     the stamp, so an alive receiver answering win 0 no longer keeps the socket open past U.
 *   5.1–5.10 without the fix (9721e709fa68): abort when tcp_model_timeout(probes_out, base) >= U;
 *     probes_out is zeroed by every answer, so an alive receiver is never timed out (the bug).
 *   before 5.1: abort when now - (head skb timestamp, stamped at the first firing) > U.
 *   Always: abort when icsk_probes_out >= tcp_retries2 (only reachable when probes go unanswered).
 * - An alive receiver does NOT answer every probe. A probe carries seq = snd_una - 1, below the
 *   receiver's rcv_wup: tcp_validate_incoming() (net/ipv4/tcp_input.c) finds it out of window
 *   (tcp_sequence → SKB_DROP_REASON_TCP_OLD_SEQUENCE) and answers with a dupack only if
 *   tcp_oow_rate_limited() lets it: at most one out-of-window answer per
 *   net.ipv4.tcp_invalid_ratelimit (500 ms by default) per socket (f2b2c582e824 "tcp: mitigate ACK
 *   loops for connections as tcp_sock", 032ee4236954; 4.0+). Probes 0.204 s → 0.612 s apart are
 *   closer than that, so the second one goes unanswered: icsk_probes_out is not zeroed and counts
 *   towards tcp_retries2 at the next firing (measured on 6.18: with tcp_retries2 = 1 a live receiver
 *   is dropped at the third firing). The probe times do not change: tcp_ack_probe() would re-arm the
 *   timer with the same base << backoff that tcp_send_probe0() already armed.
 */
import { clampProbe0ToUserTimeout, probe0Base, probe0When, tcpModelTimeoutMs } from './backoff.js';
import { rtoMaxMs, versionAtLeast } from './effective.js';
import { jiffiesToMs, msecsToJiffies, tcpConstants } from './jiffies.js';
import { packetSeries, seconds, userTimeoutClamps } from './timeline.js';
import type { KernelFeatures, Prediction, ZeroWindowInput } from './types.js';

export interface ZeroWindowModelInput extends ZeroWindowInput {
  /**
   * The RECEIVER's net.ipv4.tcp_invalid_ratelimit, ms (read back from its namespace): it answers
   * a window probe only if its previous out-of-window answer is at least this old. Default 500
   * (HZ/2, tcp_sk_init); 0 = every probe answered. Matters while the receiver is there (peer 'alive',
   * or 'gone' before peerGoneAtS).
   */
  peerInvalidRateLimitMs?: number;
  /**
   * When the receiver last answered an out-of-window segment (a probe) before the origin, seconds
   * from the origin (negative); absent = never. A receiver that answered a probe of an earlier
   * zero-window episode less than the rate limit before this episode's first probe skips it.
   */
  peerLastAnswerAtS?: number;
  /**
   * With peer 'gone': when it vanished, seconds from the origin (default 0, before the first probe).
   * Until then it answers like an alive receiver (a receiver that vanishes after answering a probe).
   */
  peerGoneAtS?: number;
}

/** The kernel's default net.ipv4.tcp_invalid_ratelimit (HZ/2 jiffies, shown as ms). */
export const DEFAULT_INVALID_RATELIMIT_MS = 500;

/**
 * An alive receiver's answers to window probes, fed the probe times (jiffies) in order: true when
 * it answers. __tcp_oow_rate_limited() sends an answer when none was sent yet (last_oow_ack_time
 * 0) or the last one is at least the rate limit old (elapsed < sysctl_tcp_invalid_ratelimit →
 * skipped), in jiffies.
 */
export function probeAnswerer(rateLimitMs: number, hz: number, lastAnswerJ: number | null = null): (probeJ: number) => boolean {
  const limitJ = msecsToJiffies(rateLimitMs, hz);
  let lastJ = lastAnswerJ;
  return (probeJ) => {
    if (lastJ !== null && probeJ - lastJ < limitJ) return false;
    lastJ = probeJ;
    return true;
  };
}

/** Which of these probes (seconds from the origin, as in Prediction.events) an alive receiver answers. */
export function answeredProbes(probeTimesS: readonly number[], rateLimitMs: number, hz: number, lastAnswerAtS?: number): boolean[] {
  const last = lastAnswerAtS === undefined ? null : Math.round(lastAnswerAtS * hz);
  return probeTimesS.map((t) => Math.round(t * hz)).map(probeAnswerer(rateLimitMs, hz, last));
}

type UserTimeoutRule = 'probes-tstamp' | 'model-probes-out' | 'skb-tstamp';

function userTimeoutRule(features: KernelFeatures): UserTimeoutRule {
  if (features.zeroWindowUserTimeout) return 'probes-tstamp';
  return versionAtLeast(features, 5, 1) ? 'model-probes-out' : 'skb-tstamp';
}

const DEFAULT_HORIZON_S = 900;

/** What the persist timer is told, in jiffies; see persistChain. */
interface PersistChainSpec {
  hz: number;
  features: KernelFeatures;
  /** tcp_probe0_base, jiffies: when the timer first fires (from the origin), and the unit of the backoff */
  baseJ: number;
  /** tcp_probe0_when's cap (tcp_rto_max), jiffies */
  maxWhenJ: number;
  /** net.ipv4.tcp_retries2: icsk_probes_out at which tcp_probe_timer gives up */
  maxProbes: number;
  userTimeoutMs: number;
  /** whether the receiver answers a probe sent at this jiffy (its answer zeroes icsk_probes_out) */
  answers: (tJ: number) => boolean;
  /** the sender's egress drops every probe: TCP_RESOURCE_PROBE_INTERVAL, no backoff (localDropNotes) */
  localDrop: boolean;
  /** list probes up to here when nothing ends the chain */
  horizonJ: number;
  /** whether something is certain to end it (else it stops at horizonJ) */
  ends: boolean;
}

/**
 * tcp_probe_timer() fired again and again: the give-up checks, then tcp_send_probe0(), which counts
 * the probe (icsk_probes_out++, zeroed by an answer) and re-arms the timer — base << ++backoff after
 * a probe that left, TCP_RESOURCE_PROBE_INTERVAL with the backoff untouched after one the local host
 * dropped (err > 0) — clamped to what is left of U on 5.11+.
 */
function persistChain(spec: PersistChainSpec): { probesJ: number[]; closeJ: number | null } {
  const { hz, features, baseJ, maxWhenJ, maxProbes, userTimeoutMs, answers, horizonJ, ends } = spec;
  const rule = userTimeoutRule(features);
  const userTimeoutJ = msecsToJiffies(userTimeoutMs, hz);
  const rtoMaxJ = tcpConstants(hz).TCP_RTO_MAX;
  const resourceJ = tcpConstants(hz).TCP_RESOURCE_PROBE_INTERVAL;
  const probesJ: number[] = [];
  let nowJ = baseJ;
  let backoff = 0;
  let probesOut = 0; // as tcp_probe_timer sees it: an alive receiver's answer zeroes it
  let tstampJ: number | null = null;
  let closeJ: number | null = null;
  while (ends || nowJ <= horizonJ) {
    let abort = false;
    if (rule === 'probes-tstamp') {
      if (tstampJ === null) tstampJ = nowJ;
      else if (userTimeoutMs && nowJ - tstampJ >= userTimeoutJ) abort = true;
    } else if (rule === 'model-probes-out') {
      if (userTimeoutMs && tcpModelTimeoutMs(probesOut, baseJ, rtoMaxJ, hz) >= userTimeoutMs) abort = true;
    } else {
      if (tstampJ === null) tstampJ = nowJ;
      else if (userTimeoutMs && jiffiesToMs(nowJ - tstampJ, hz) > userTimeoutMs) abort = true;
    }
    if (abort || probesOut >= maxProbes) {
      closeJ = nowJ;
      break;
    }
    probesJ.push(nowJ);
    // tcp_send_probe0 counts the probe, dropped locally or not; the receiver's answer (tcp_ack) zeroes the count
    probesOut = !spec.localDrop && answers(nowJ) ? 0 : probesOut + 1;
    let whenJ: number;
    if (spec.localDrop) whenJ = resourceJ;
    else {
      if (backoff < maxProbes) backoff++;
      whenJ = probe0When(baseJ, backoff, maxWhenJ, hz);
    }
    if (rule === 'probes-tstamp') whenJ = clampProbe0ToUserTimeout(whenJ, userTimeoutMs, nowJ - (tstampJ ?? nowJ), hz);
    nowJ += whenJ;
    if (probesJ.length > 100_000) throw new Error('persistChain: no give-up');
  }
  return { probesJ, closeJ };
}

/**
 * The local-drop rules (tcp_send_probe0, net/ipv4/tcp_output.c) as of c1d5674f8313 "tcp: less
 * aggressive window probing on local congestion" (5.1). Before it a locally dropped probe was not
 * counted past the first and the retry came at min(base << backoff, 500 ms): not modelled.
 */
export function localDropNotes(features: KernelFeatures): string[] {
  if (!versionAtLeast(features, 5, 1))
    throw new Error(`a local drop is modelled from 5.1 on (c1d5674f8313); kernel ${features.release} retried at min(base << backoff, 500 ms) without counting the probes`);
  return [
    "local drop: the sender's own egress drops each probe, so __tcp_transmit_skb() returns NET_XMIT_DROP (> 0; an " +
      'nft output-hook drop returns -EPERM instead and backs off normally); tcp_send_probe0() then re-arms at ' +
      'TCP_RESOURCE_PROBE_INTERVAL (HZ/2, 500 ms) without raising icsk_backoff, but still counts icsk_probes_out ' +
      '(c1d5674f8313, 5.1), so tcp_retries2 and TCP_USER_TIMEOUT end it as for unanswered probes; nothing reaches the ' +
      "wire or the receiver (the kernel's own tcp_user_timeout_user-timeout-probe.pkt: 6 probes in U = 3 s)",
  ];
}

export function predictZeroWindow(input: ZeroWindowModelInput): Prediction {
  const { sysctls, socket, features, peer } = input;
  const { hz } = features;
  const rule = userTimeoutRule(features);
  const userTimeoutMs = socket.userTimeoutMs;
  const maxProbes = sysctls.tcp_retries2;
  const baseJ = probe0Base(msecsToJiffies(input.rtoMs, hz), hz);
  const maxWhenJ = msecsToJiffies(rtoMaxMs(sysctls, socket, features), hz);
  const horizonJ = (input.horizonS ?? DEFAULT_HORIZON_S) * hz;

  const rateLimitMs = input.peerInvalidRateLimitMs ?? DEFAULT_INVALID_RATELIMIT_MS;
  const goneAtJ = peer === 'gone' ? (input.peerGoneAtS ?? 0) * hz : Infinity;
  const answerer = probeAnswerer(rateLimitMs, hz, input.peerLastAnswerAtS === undefined ? null : Math.round(input.peerLastAnswerAtS * hz));
  const answers = (tJ: number) => tJ < goneAtJ && answerer(tJ);

  const notesLocal = input.localDrop ? localDropNotes(features) : [];

  // Certain to end: unanswered probes hit tcp_retries2; U ends an alive receiver's probing except on
  // 5.1–5.10 kernels without the fix. Otherwise list probes up to the horizon.
  const ends = peer === 'gone' || !!input.localDrop || (!!userTimeoutMs && rule !== 'model-probes-out');
  const { probesJ, closeJ } = persistChain({
    hz,
    features,
    baseJ,
    maxWhenJ,
    maxProbes,
    userTimeoutMs,
    answers,
    localDrop: !!input.localDrop,
    horizonJ,
    ends,
  });

  const notes = [
    ...notesLocal,
    `persist timer: first probe at tcp_probe0_base = max(rto ${input.rtoMs} ms, TCP_RTO_MIN) after the zero-window ACK, ` +
      `then base << icsk_backoff (backoff capped at tcp_retries2 = ${maxProbes}), capped at tcp_rto_max`,
    input.localDrop
      ? `no probe reaches the receiver: abort when icsk_probes_out >= tcp_retries2 = ${maxProbes}`
      : peer === 'alive'
      ? 'receiver alive: each win-0 answer zeroes icsk_probes_out (tcp_ack) and re-arms the same interval ' +
        '(tcp_ack_probe) (RFC 1122 4.2.2.17); but it answers at most one probe per tcp_invalid_ratelimit = ' +
        `${rateLimitMs} ms (tcp_oow_rate_limited, f2b2c582e824), so tcp_retries2 ends it only if that many probes ` +
        'in a row fall inside the rate limit'
      : `probes unanswered${input.peerGoneAtS ? ` from ${input.peerGoneAtS.toFixed(3)} s (answered, rate-limited, before)` : ''}: ` +
        `abort when icsk_probes_out >= tcp_retries2 = ${maxProbes} (tcp_probe_timer max_probes; orphan rules apply only after close())`,
  ];
  if (userTimeoutMs) {
    notes.push(
      rule === 'probes-tstamp'
        ? `TCP_USER_TIMEOUT ${userTimeoutMs} ms counted from the first probe (icsk_probes_tstamp, 9d9b1ee0b2d1; ` +
            'timer clamped by tcp_clamp_probe0_to_user_timeout, 344db93ae3ee): 5.11+, 5.4.93+, 5.10.y'
        : rule === 'model-probes-out'
          ? 'kernel 5.1–5.10 without 9d9b1ee0b2d1: U is compared with tcp_model_timeout(icsk_probes_out, base) ' +
            '(9721e709fa68), and probes_out is zeroed by every answer: an alive receiver is never timed out'
          : 'kernel before 5.1: U counted from the head skb timestamp stamped at the first probe (b248230c3497 era), ' +
            'checked at each probe (strictly greater), no clamp',
    );
  }
  if (closeJ === null) notes.push(`never closes; probes listed up to the ${input.horizonS ?? DEFAULT_HORIZON_S} s horizon`);
  else notes.push('abort is tcp_write_err(): ETIMEDOUT, no RST');
  notes.push('keepalive is irrelevant while data is unsent (tcp_keepalive_timer reschedules)');
  notes.push(
    'this is the persist timer (nothing in flight); a window shrunk to zero with data in flight is the retransmit ' +
      'timer path (tcp_rtx_probe0_timed_out), not modelled here',
  );

  return {
    phase: 'zero-window',
    kernel: features.release,
    origin: 'the ACK that closed the window (nothing in flight, data waiting)',
    // U counts from the first probe (icsk_probes_tstamp); only 5.11+ clamps the probe timer to it
    ...userTimeoutClamps(packetSeries(probesJ, hz, 'client', input.localDrop ? 'LOCAL-DROP' : 'WINDOW-PROBE'), rule === 'probes-tstamp' ? userTimeoutMs : 0, { from: 0, clampsFrom: 1 }, closeJ !== null),
    closeAt: seconds(closeJ, hz),
    // U measured on the real firings from the first probe (icsk_probes_tstamp, or the head skb's stamp before 5.1)
    ...(closeJ !== null && userTimeoutMs && rule !== 'model-probes-out' ? { closeBudget: { from: 0, after: 0, ms: userTimeoutMs } } : {}),
    errno: closeJ === null ? null : 'ETIMEDOUT',
    // a connection that never closes is predicted up to the horizon and no further: a run that
    // watched longer (a late wake-up) is judged on the same span, not on probes past it
    ...(closeJ === null ? { watchUntil: input.horizonS ?? DEFAULT_HORIZON_S } : {}),
    notes,
    inputs: {
      peer,
      rtoMs: input.rtoMs,
      ...(input.localDrop ? { localDrop: true } : {}),
      peerInvalidRateLimitMs: rateLimitMs,
      ...(peer === 'gone' ? { peerGoneAtS: input.peerGoneAtS ?? 0 } : {}),
      ...(input.peerLastAnswerAtS !== undefined ? { peerLastAnswerAtS: input.peerLastAnswerAtS } : {}),
    },
  };
}
