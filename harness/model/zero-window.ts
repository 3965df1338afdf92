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
 */
import { clampProbe0ToUserTimeout, probe0Base, probe0When, tcpModelTimeoutMs } from './backoff.js';
import { rtoMaxMs, versionAtLeast } from './effective.js';
import { jiffiesToMs, msecsToJiffies, tcpConstants } from './jiffies.js';
import { packetSeries, seconds } from './timeline.js';
import type { KernelFeatures, Prediction, ZeroWindowInput } from './types.js';

type UserTimeoutRule = 'probes-tstamp' | 'model-probes-out' | 'skb-tstamp';

function userTimeoutRule(features: KernelFeatures): UserTimeoutRule {
  if (features.zeroWindowUserTimeout) return 'probes-tstamp';
  return versionAtLeast(features, 5, 1) ? 'model-probes-out' : 'skb-tstamp';
}

const DEFAULT_HORIZON_S = 900;

export function predictZeroWindow(input: ZeroWindowInput): Prediction {
  const { sysctls, socket, features, peer } = input;
  const { hz } = features;
  const rule = userTimeoutRule(features);
  const userTimeoutMs = socket.userTimeoutMs;
  const userTimeoutJ = msecsToJiffies(userTimeoutMs, hz);
  const maxProbes = sysctls.tcp_retries2;
  const baseJ = probe0Base(msecsToJiffies(input.rtoMs, hz), hz);
  const maxWhenJ = msecsToJiffies(rtoMaxMs(sysctls, socket, features), hz);
  const horizonJ = (input.horizonS ?? DEFAULT_HORIZON_S) * hz;
  const rtoMaxJ = tcpConstants(hz).TCP_RTO_MAX;

  const probesJ: number[] = [];
  let nowJ = baseJ;
  let backoff = 0;
  let probesOut = 0; // as tcp_probe_timer sees it: an alive receiver's answer zeroes it
  let tstampJ: number | null = null;
  let closeJ: number | null = null;

  // Certain to end: unanswered probes hit tcp_retries2; U ends an alive receiver's probing except on
  // 5.1–5.10 kernels without the fix. Otherwise list probes up to the horizon.
  const ends = peer === 'gone' || (!!userTimeoutMs && rule !== 'model-probes-out');
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
    probesOut = peer === 'alive' ? 0 : probesOut + 1;
    if (backoff < maxProbes) backoff++;
    let whenJ = probe0When(baseJ, backoff, maxWhenJ, hz);
    if (rule === 'probes-tstamp') whenJ = clampProbe0ToUserTimeout(whenJ, userTimeoutMs, nowJ - (tstampJ ?? nowJ), hz);
    nowJ += whenJ;
    if (probesJ.length > 100_000) throw new Error('predictZeroWindow: no give-up');
  }

  const notes = [
    `persist timer: first probe at tcp_probe0_base = max(rto ${input.rtoMs} ms, TCP_RTO_MIN) after the zero-window ACK, ` +
      `then base << icsk_backoff (backoff capped at tcp_retries2 = ${maxProbes}), capped at tcp_rto_max`,
    peer === 'alive'
      ? 'receiver alive: each win-0 answer zeroes icsk_probes_out (tcp_ack) and re-arms the same interval ' +
        '(tcp_ack_probe), so tcp_retries2 never ends it (RFC 1122 4.2.2.17)'
      : `probes unanswered: abort when icsk_probes_out >= tcp_retries2 = ${maxProbes} (tcp_probe_timer max_probes; ` +
        'orphan rules apply only after close())',
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
    events: packetSeries(probesJ, hz, 'client', 'WINDOW-PROBE'),
    closeAt: seconds(closeJ, hz),
    errno: closeJ === null ? null : 'ETIMEDOUT',
    notes,
  };
}
