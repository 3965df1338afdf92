/**
 * Client SYN-SENT: connect() to a peer that never answers (SYNs dropped).
 *
 * Rules (net/ipv4/tcp_output.c tcp_connect, net/ipv4/tcp_timer.c tcp_retransmit_timer /
 * tcp_write_timeout / retransmits_timed_out, 6.x):
 * - tcp_connect() sends the SYN, stamps tp->retrans_stamp and arms the retransmit timer at the
 *   initial RTO (TCP_TIMEOUT_INIT, 1 s).
 * - Each firing: expired if icsk_retransmits >= N + L (N = TCP_SYNCNT ?: tcp_syn_retries,
 *   L = tcp_syn_linear_timeouts, 6.5+) or, once a retransmit is out, if the time since the first
 *   SYN >= U (TCP_USER_TIMEOUT) or, without U, tcp_model_timeout(N, rto_base = 1 s).
 * - Otherwise resend the SYN; the RTO stays 1 s while total_rto <= L (6.5+), then doubles up to
 *   tcp_rto_max; the timer is clamped to what is left of U.
 */
import { runRetransmitTimer, tcpModelTimeoutMs } from './backoff.js';
import { rtoMaxMs, synLinearTimeouts, synRetries, versionString } from './effective.js';
import { msecsToJiffies, tcpConstants } from './jiffies.js';
import { packetSeries, seconds, userTimeoutClamps } from './timeline.js';
import type { Prediction, SynSentInput } from './types.js';

export function predictSynSent(input: SynSentInput): Prediction {
  const { socket, features } = input;
  const { hz } = features;
  const { TCP_TIMEOUT_INIT } = tcpConstants(hz);
  const retries = synRetries(input);
  const linear = synLinearTimeouts(input);
  const rtoMaxJ = msecsToJiffies(rtoMaxMs(input.sysctls, socket, features), hz);
  const modelBudgetMs = tcpModelTimeoutMs(retries, TCP_TIMEOUT_INIT, rtoMaxJ, hz);
  const userTimeoutMs = socket.userTimeoutMs;
  const notes: string[] = [];

  // 5.4+ (a66b10c05ee2, 3256a2d6ab1f): U is the time budget of SYN-SENT. Before, SYN-SENT gave up
  // on the count alone while tcp_clamp_rto_to_user_timeout() still clamped the RTO, so after U
  // the remaining SYNs went out one jiffy apart: the "odd SYN burst" of the 2019 reference.
  const userTimeoutEndsSyn = features.synSentUserTimeoutClean;
  const budgetMs = userTimeoutMs ? (userTimeoutEndsSyn ? userTimeoutMs : null) : modelBudgetMs;

  const outcome = runRetransmitTimer({
    hz,
    firstFireJ: TCP_TIMEOUT_INIT,
    rtoJ: TCP_TIMEOUT_INIT,
    rtoMaxJ,
    stamp: 'origin',
    countLimit: retries + linear,
    budgetMs,
    clampUserTimeoutMs: userTimeoutMs,
    linearTimeouts: linear,
  });

  notes.push(
    `retries N = ${retries} (${socket.synCnt ? 'TCP_SYNCNT' : 'net.ipv4.tcp_syn_retries'}); ` +
      'tcp_connect() sends the SYN and arms the retransmit timer at TCP_TIMEOUT_INIT (1 s)',
  );
  if (linear > 0) {
    notes.push(
      `6.5+ tcp_syn_linear_timeouts L = ${linear} (ccce324dabfe "tcp: make the first N SYN RTO backoffs linear"): ` +
        'tcp_retransmit_timer() keeps the RTO at 1 s while tp->total_rto <= L, then doubles it; ' +
        `tcp_write_timeout() count limit is N + L = ${retries + linear}`,
    );
  } else {
    notes.push(
      features.synLinearTimeouts
        ? 'tcp_syn_linear_timeouts = 0: every SYN RTO doubles'
        : 'kernel before 6.5 (no tcp_syn_linear_timeouts): every SYN RTO doubles (1, 2, 4, ... s)',
    );
  }
  if (userTimeoutMs && userTimeoutEndsSyn) {
    notes.push(
      `TCP_USER_TIMEOUT ${userTimeoutMs} ms replaces the time budget (retransmits_timed_out(sk, N, U)) ` +
        'and tcp_clamp_rto_to_user_timeout() clamps each RTO to what is left of U (5.4+: a66b10c05ee2, 3256a2d6ab1f); ' +
        'the count limit still applies',
    );
  } else if (userTimeoutMs) {
    notes.push(
      `kernel ${versionString(features)} predates a66b10c05ee2 (5.4): TCP_USER_TIMEOUT does not end SYN-SENT, ` +
        'but tcp_clamp_rto_to_user_timeout() fires the timer every jiffy once U has passed: a burst of the ' +
        'remaining SYNs, then ETIMEDOUT on the count limit',
    );
  } else {
    notes.push(
      `time budget tcp_model_timeout(N=${retries}, rto_base=1 s) = ${modelBudgetMs / 1000} s from the first SYN ` +
        '(retrans_stamp, set in tcp_connect), checked when the retransmit timer fires: the error comes at the ' +
        'first firing at or after it, or at the count limit, whichever is first',
    );
  }
  notes.push('SO_KEEPALIVE has no effect: tcp_keepalive_timer() returns early in SYN-SENT');

  return {
    phase: 'syn-sent',
    kernel: features.release,
    origin: 'the first SYN (connect())',
    // U counts from the first SYN; the first retransmission's delay is the initial RTO, later ones clamped
    ...userTimeoutClamps(
      [{ t: 0, side: 'client', packet: 'SYN', n: 0 }, ...packetSeries(outcome.retransmitsJ, hz, 'client', 'SYN')],
      userTimeoutMs,
      { from: -1, clampsFrom: 2 },
      true,
    ),
    closeAt: seconds(outcome.closeJ, hz),
    errno: 'ETIMEDOUT',
    notes,
  };
}
