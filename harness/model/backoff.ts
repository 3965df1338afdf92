/**
 * The backoff and give-up rules shared by the retransmit-timer phases (SYN-SENT, busy
 * ESTABLISHED) and the persist timer (zero window). Everything is in integer jiffies, as in
 * net/ipv4/tcp_timer.c; ms appear only where the kernel compares against tcp_time_stamp (ms).
 */
import { ilog2, jiffiesToMs, msecsToJiffies, tcpConstants } from './jiffies.js';

/**
 * tcp_model_timeout() (net/ipv4/tcp_timer.c, added by 01a523b07161 "tcp: create a helper to model
 * exponential backoff"): how long `boundary` exponentially backed-off retransmissions take from an
 * initial RTO of rtoBase, with the RTO capped at rtoMax; returned in ms (jiffies_to_msecs).
 * Since 6.15 the cap and the linear threshold use tcp_rto_max(sk) instead of TCP_RTO_MAX.
 * R=15, base 200 ms, max 120 s → 924.6 s; R=5 → 12.6 s; SYN N=6, base 1 s → 127 s.
 */
export function tcpModelTimeoutMs(boundary: number, rtoBaseJ: number, rtoMaxJ: number, hz: number): number {
  const linearBackoffThresh = ilog2(Math.floor(rtoMaxJ / rtoBaseJ));
  const timeoutJ =
    boundary <= linearBackoffThresh
      ? (2 ** (boundary + 1) - 1) * rtoBaseJ
      : (2 ** (linearBackoffThresh + 1) - 1) * rtoBaseJ + (boundary - linearBackoffThresh) * rtoMaxJ;
  return jiffiesToMs(timeoutJ, hz);
}

/**
 * tcp_clamp_rto_to_user_timeout() (4.19+, b701a99e431d): with TCP_USER_TIMEOUT the next
 * retransmit timer never overshoots the user timeout counted from retrans_stamp; once it has
 * passed, the timer fires after 1 jiffy.
 */
export function clampRtoToUserTimeout(rtoJ: number, userTimeoutMs: number, elapsedMs: number, hz: number): number {
  if (!userTimeoutMs) return rtoJ;
  const remainingMs = userTimeoutMs - elapsedMs;
  if (remainingMs <= 0) return 1;
  return Math.min(rtoJ, msecsToJiffies(remainingMs, hz));
}

/** What the retransmit timer does, phase by phase (the arguments of tcp_retransmit_timer). */
export interface RetransmitTimerSpec {
  hz: number;
  /** jiffies from the origin when the retransmit timer first fires */
  firstFireJ: number;
  /** icsk_rto at the first firing, jiffies */
  rtoJ: number;
  /** tcp_rto_max(sk), jiffies */
  rtoMaxJ: number;
  /**
   * Where tp->retrans_stamp comes from. 'origin': tcp_connect() stamps the first SYN.
   * 'first-retransmit': tcp_retransmit_skb() saves tcp_skb_timestamp of the head skb after
   * __tcp_retransmit_skb() re-sent it, i.e. the time of the first retransmission (7ae189759cc4
   * "tcp: always set retrans_stamp on recovery"; __tcp_transmit_skb updates skb_mstamp_ns on
   * every (re)transmission of the original skb).
   */
  stamp: 'origin' | 'first-retransmit';
  /** SYN states only: expired when icsk_retransmits >= countLimit (tcp_write_timeout). null = none. */
  countLimit: number | null;
  /**
   * retransmits_timed_out() budget in ms: icsk_user_timeout if set, else tcp_model_timeout(...).
   * Checked only once icsk_retransmits > 0. null = no time check (SYN-SENT on 5.1–5.3).
   */
  budgetMs: number | null;
  /** TCP_USER_TIMEOUT (ms) for tcp_clamp_rto_to_user_timeout(); 0 = off. */
  clampUserTimeoutMs: number;
  /**
   * SYN-SENT linear backoff (6.5+): the RTO is doubled only once tp->total_rto (icsk_backoff
   * before 6.8's "tcp: use tp->total_rto to track number of linear timeouts in SYN_SENT state")
   * exceeds tcp_syn_linear_timeouts. 0 elsewhere: every RTO doubles.
   */
  linearTimeouts: number;
}

export interface RetransmitTimerOutcome {
  /** jiffies from origin of each retransmission, n = 1.. */
  retransmitsJ: number[];
  /** jiffies from origin when tcp_write_err() runs (ETIMEDOUT) */
  closeJ: number;
}

/** A timeline that never ends would loop for ever; no sane setting needs this many timers. */
const MAX_FIRINGS = 100_000;

/**
 * tcp_retransmit_timer() fired again and again with nothing ever acknowledged:
 *   tcp_write_timeout() → expired? tcp_write_err() : retransmit, icsk_retransmits++ (and
 *   tp->total_rto++ in tcp_update_rto_stats()), back off unless in the linear SYN window,
 *   re-arm at tcp_clamp_rto_to_user_timeout().
 */
export function runRetransmitTimer(spec: RetransmitTimerSpec): RetransmitTimerOutcome {
  const { hz } = spec;
  const retransmitsJ: number[] = [];
  let nowJ = spec.firstFireJ;
  let rtoJ = spec.rtoJ;
  let stampJ: number | null = spec.stamp === 'origin' ? 0 : null;

  for (let firing = 0; firing < MAX_FIRINGS; firing++) {
    const retransmits = retransmitsJ.length;
    const countExpired = spec.countLimit !== null && retransmits >= spec.countLimit;
    // retransmits_timed_out(): "if (!icsk->icsk_retransmits) return false;"
    const timeExpired =
      spec.budgetMs !== null &&
      retransmits > 0 &&
      stampJ !== null &&
      jiffiesToMs(nowJ - stampJ, hz) >= spec.budgetMs;
    if (countExpired || timeExpired) return { retransmitsJ, closeJ: nowJ };

    retransmitsJ.push(nowJ);
    if (stampJ === null) stampJ = nowJ;
    // After tcp_update_rto_stats(), total_rto == number of RTO retransmissions so far.
    if (retransmitsJ.length > spec.linearTimeouts) rtoJ = Math.min(rtoJ * 2, spec.rtoMaxJ);
    nowJ += clampRtoToUserTimeout(rtoJ, spec.clampUserTimeoutMs, jiffiesToMs(nowJ - stampJ, hz), hz);
  }
  throw new Error('runRetransmitTimer: no give-up within 100000 timer firings (no budget and no count limit?)');
}

/**
 * tcp_probe0_base(): max(icsk_rto, TCP_RTO_MIN), and tcp_probe0_when(): base << backoff with the
 * shift capped at ilog2(TCP_RTO_MAX / TCP_RTO_MIN) + 1 and the result at max_when
 * (tcp_rto_max(sk) on 6.15+, TCP_RTO_MAX before).
 */
export function probe0Base(rtoJ: number, hz: number): number {
  return Math.max(rtoJ, tcpConstants(hz).TCP_RTO_MIN);
}

export function probe0When(baseJ: number, backoff: number, maxWhenJ: number, hz: number): number {
  const { TCP_RTO_MAX, TCP_RTO_MIN } = tcpConstants(hz);
  const shift = Math.min(ilog2(TCP_RTO_MAX / TCP_RTO_MIN) + 1, backoff);
  return Math.min(baseJ * 2 ** shift, maxWhenJ);
}

/**
 * tcp_clamp_probe0_to_user_timeout() (5.11, 344db93ae3ee "tcp: make TCP_USER_TIMEOUT accurate for
 * zero window probes"): the next probe never overshoots U counted from icsk_probes_tstamp, but is
 * at least TCP_TIMEOUT_MIN (2 jiffies) away.
 */
export function clampProbe0ToUserTimeout(
  whenJ: number,
  userTimeoutMs: number,
  sinceProbesTstampJ: number | null,
  hz: number,
): number {
  if (!userTimeoutMs || sinceProbesTstampJ === null) return whenJ;
  const remainingJ = Math.max(
    msecsToJiffies(userTimeoutMs, hz) - Math.max(0, sinceProbesTstampJ),
    tcpConstants(hz).TCP_TIMEOUT_MIN,
  );
  return Math.min(remainingJ, whenJ);
}
