/**
 * Busy ESTABLISHED: data sent into a black hole, nothing ever acknowledged.
 *
 * Rules (net/ipv4/tcp_timer.c tcp_retransmit_timer / tcp_write_timeout / retransmits_timed_out,
 * net/ipv4/tcp_output.c tcp_retransmit_skb, 6.x):
 * - The retransmit timer fires at icsk_rto after the (last) transmission; each firing retransmits
 *   the head and doubles the RTO up to tcp_rto_max.
 * - Give-up is time-based only (no count check outside SYN states): expired when
 *   now - retrans_stamp >= U, or without U tcp_model_timeout(tcp_retries2, TCP_RTO_MIN = 200 ms,
 *   tcp_rto_max), checked at each firing once a retransmission is out.
 * - retrans_stamp is saved by tcp_retransmit_skb() from the head skb's timestamp right after it was
 *   re-sent: the FIRST RETRANSMISSION, not the first transmission.
 * - With U each RTO is clamped to what is left of U (tcp_clamp_rto_to_user_timeout).
 * - Before the first RTO a tail loss probe (tailLossProbeMs) re-sends the last segment (or sends
 *   new data, if any is unsent); it re-arms the RTO from itself and does not set retrans_stamp.
 *   Every RTO then re-sends only the head, one MSS (tcp_retransmit_timer → tcp_retransmit_skb(head, 1)
 *   after tcp_enter_loss() cut cwnd to 1).
 */
import { runRetransmitTimer, tcpModelTimeoutMs } from './backoff.js';
import { rtoMaxMs } from './effective.js';
import { TINY_SRTT_US } from './features.js';
import { jiffiesToMs, msecsToJiffies, tcpConstants } from './jiffies.js';
import { inTimeOrder, packetSeries, seconds, userTimeoutClamps } from './timeline.js';
import type { BusyInput, Prediction } from './types.js';
import { predictZeroWindow } from './zero-window.js';

/** What tcp_schedule_loss_probe() reads when the data goes out. */
export interface TailLossProbeInput {
  hz: number;
  /** smoothed RTT, µs (TCP_INFO tcpi_rtt = srtt_us >> 3) */
  srttUs: number;
  /** segments in flight after the send (tcp_skb_pcount of what was sent: ⌈bytes / mss⌉ within cwnd) */
  packetsOut: number;
  /** icsk_rto, ms (TCP_INFO tcpi_rto) */
  rtoMs: number;
  /** tcp_rto_min(sk), µs: net.ipv4.tcp_rto_min_us (6.11+), else TCP_RTO_MIN */
  rtoMinUs: number;
  /** net.ipv4.tcp_early_retrans: TLP only with 3 or 4 */
  earlyRetrans: number;
  /** SACK negotiated (net.ipv4.tcp_sack on both ends) */
  sack: boolean;
}

/**
 * When the tail loss probe fires, ms after the data went out; undefined = no TLP.
 * tcp_schedule_loss_probe() (net/ipv4/tcp_output.c), as of 1c2709cfff1d "tcp: fix excessive TLP
 * and RACK timeouts from HZ rounding" (6.6, stable 4.19+):
 *   timeout_us = 2·srtt + (packets_out == 1 ? tcp_rto_min_us(sk) : TCP_TIMEOUT_MIN_US (2 ms));
 *   timeout = min(usecs_to_jiffies(timeout_us), usecs_to_jiffies(time left to the RTO)).
 * The RTO was armed as the data left, so the time left is icsk_rto less a few µs: the same jiffy.
 * With one segment (a tiny RTT) the probe therefore lands on the RTO itself; with several it
 * comes one jiffy after the send. Only for SACK connections with tcp_early_retrans 3 or 4.
 */
export function tailLossProbeMs(i: TailLossProbeInput): number | undefined {
  if ((i.earlyRetrans !== 3 && i.earlyRetrans !== 4) || !i.sack || i.packetsOut < 1) return undefined;
  const jiffyUs = 1_000_000 / i.hz;
  const usecsToJiffies = (us: number) => Math.ceil(us / jiffyUs - 1e-9);
  const rtoMinUs = usecsToJiffies(i.rtoMinUs) * jiffyUs; // tcp_rto_min_us(sk) = jiffies_to_usecs(icsk_rto_min)
  const timeoutUs = 2 * i.srttUs + (i.packetsOut === 1 ? rtoMinUs : 2000);
  const tlpJ = Math.min(usecsToJiffies(timeoutUs), msecsToJiffies(i.rtoMs, i.hz));
  return jiffiesToMs(tlpJ, i.hz);
}

export { TINY_SRTT_US };

/**
 * The tail loss probe of one segment sent on a path of this smoothed RTT with the kernel's defaults
 * (SACK on, tcp_early_retrans 3): 2·srtt + tcp_rto_min, capped by the RTO. With the RTO the same
 * RTT derives (rtoFromRtt: srtt + rto_min once settled) the probe lands on the RTO itself.
 */
export function rttTailLossProbeMs(srttUs: number, rtoMs: number, rtoMinUs: number, hz: number): number | undefined {
  return tailLossProbeMs({ hz, srttUs, packetsOut: 1, rtoMs, rtoMinUs, earlyRetrans: 3, sack: true });
}

/** rttTailLossProbeMs on a tiny-RTT link (a veth): on the RTO itself. */
export function tinyRttTailLossProbeMs(rtoMs: number, rtoMinUs: number, hz: number): number | undefined {
  return rttTailLossProbeMs(TINY_SRTT_US, rtoMs, rtoMinUs, hz);
}

export function predictBusy(input: BusyInput): Prediction {
  const { sysctls, socket, features } = input;
  const { hz } = features;
  if (input.localDrop) return busyLocalDrop(input);
  if (input.peer === 'alive') return busyAcknowledged(input);
  const { TCP_RTO_MIN } = tcpConstants(hz);
  const rtoMaxMsValue = rtoMaxMs(sysctls, socket, features);
  const rtoMaxJ = msecsToJiffies(rtoMaxMsValue, hz);
  const rtoJ = Math.min(msecsToJiffies(input.rtoMs, hz), rtoMaxJ);
  const modelBudgetMs = tcpModelTimeoutMs(sysctls.tcp_retries2, TCP_RTO_MIN, rtoMaxJ, hz);
  const userTimeoutMs = socket.userTimeoutMs;
  const tlpJ = input.tlpMs === undefined ? null : msecsToJiffies(input.tlpMs, hz);

  const outcome = runRetransmitTimer({
    hz,
    // A tail loss probe re-arms the RTO from the moment it is sent (tcp_send_loss_probe:
    // "Reset s.t. tcp_rearm_rto will restart timer from now").
    firstFireJ: (tlpJ ?? 0) + rtoJ,
    rtoJ,
    rtoMaxJ,
    stamp: 'first-retransmit',
    countLimit: null,
    budgetMs: userTimeoutMs || modelBudgetMs,
    clampUserTimeoutMs: userTimeoutMs,
    linearTimeouts: 0,
  });

  const rtoStart = tlpJ === null ? 1 : 2;
  const notes = [
    `first RTO ${input.rtoMs} ms (icsk_rto as the data left), doubled at each timeout up to tcp_rto_max ${rtoMaxMsValue} ms` +
      (features.rtoMax ? ' (6.15+: tcp_rto_max_ms / TCP_RTO_MAX_MS, 54a378f43425)' : ' (TCP_RTO_MAX before 6.15)'),
    'retrans_stamp = the first RETRANSMISSION: tcp_retransmit_skb() saves tcp_skb_timestamp(head) after ' +
      '__tcp_transmit_skb() re-stamped the skb (7ae189759cc4 "tcp: always set retrans_stamp on recovery"); ' +
      'the budget is counted from there',
    userTimeoutMs
      ? `TCP_USER_TIMEOUT ${userTimeoutMs} ms is the budget (retransmits_timed_out(sk, retries2, U)); tcp_retries2 ` +
        'ignored; each RTO clamped to what is left of U (tcp_clamp_rto_to_user_timeout, 4.19+)'
      : `budget tcp_model_timeout(tcp_retries2=${sysctls.tcp_retries2}, TCP_RTO_MIN=200 ms, rto_max) = ` +
        `${modelBudgetMs / 1000} s, checked at each retransmit timer firing; no count check outside SYN states ` +
        '(tcp_write_timeout)',
    'rto_base of the budget is the constant TCP_RTO_MIN even when tcp_rto_min_us / the route rto_min differ (6.11+ sysctl)',
    tlpJ === null
      ? 'no tail loss probe modelled (pass tlpMs when SACK is on and tcp_early_retrans >= 3)'
      : `tail loss probe at ${input.tlpMs} ms (tcp_send_loss_probe, numbered as retransmission 1); the RTO chain restarts ` +
        'from it; it does not start the budget: it re-sends through __tcp_retransmit_skb(), and only tcp_retransmit_skb() ' +
        '(the RTO path) sets retrans_stamp',
    'keepalive is irrelevant: tcp_keepalive_timer() reschedules while packets_out',
    'no RST: tcp_write_err() closes silently',
  ];

  return {
    phase: 'busy',
    kernel: features.release,
    origin: 'the first transmission of the oldest unacknowledged segment',
    // the RTO retransmissions follow the data and the TLP: U counts from the first of them (retrans_stamp)
    ...userTimeoutClamps(
      inTimeOrder(
        [{ t: 0, side: 'client', packet: 'DATA', n: 0 }],
        tlpJ === null ? [] : packetSeries([tlpJ], hz, 'client', 'RETRANSMIT'),
        packetSeries(outcome.retransmitsJ, hz, 'client', 'RETRANSMIT', rtoStart),
      ),
      userTimeoutMs,
      { from: rtoStart, clampsFrom: rtoStart + 1 },
      true,
    ),
    closeAt: seconds(outcome.closeJ, hz),
    // retransmits_timed_out(): the budget from retrans_stamp, checked at each firing after it
    closeBudget: { from: rtoStart, after: rtoStart, ms: userTimeoutMs || modelBudgetMs },
    errno: 'ETIMEDOUT',
    notes,
    inputs: { peer: 'gone', rtoMs: input.rtoMs, tlpMs: input.tlpMs ?? null },
  };
}

/**
 * The sender's own egress drops the data's first transmission: tcp_write_xmit() stops at the failed
 * tcp_transmit_skb(), so nothing is in flight (packets_out 0) with data waiting, and
 * tcp_check_probe_timer() arms the PERSIST timer at tcp_probe0_base — not the retransmit timer. From
 * there it is the zero-window chain with every probe dropped locally (tcp_write_wakeup() re-sends the
 * data, which fails again). The peer plays no part: nothing reaches it, so no tail loss probe, no RTO,
 * and retrans_stamp never starts. Measured on 6.18 (a netdev egress drop): persist timer at ≈204 ms,
 * then every 500 ms with icsk_backoff 0 and icsk_probes_out 1, 2, …
 */
function busyLocalDrop(input: BusyInput): Prediction {
  const zw = predictZeroWindow({ ...input, peer: 'gone', localDrop: true });
  return {
    ...zw,
    phase: 'busy',
    origin: "the write (its first transmission dropped by the sender's own egress)",
    notes: [
      "the data's first transmission is dropped locally: nothing in flight, data waiting, so tcp_check_probe_timer() " +
        'arms the persist timer (ICSK_TIME_PROBE0) at tcp_probe0_base = max(rto, TCP_RTO_MIN); no tail loss probe, no ' +
        'retransmit timer, no retrans_stamp: the give-up is tcp_probe_timer()\'s',
      ...zw.notes.filter((n) => !n.startsWith('this is the persist timer')),
    ],
    inputs: { peer: input.peer ?? 'gone', rtoMs: input.rtoMs, localDrop: true },
  };
}

/** The peer acknowledges the data: nothing is outstanding, no timer is left to give up. */
function busyAcknowledged({ features }: BusyInput): Prediction {
  return {
    phase: 'busy',
    kernel: features.release,
    origin: 'the first transmission of the oldest unacknowledged segment',
    events: [{ t: 0, side: 'client', packet: 'DATA', n: 0 }],
    closeAt: null,
    errno: null,
    notes: [
      'peer alive: its ACK covers the data, tcp_ack() → tcp_rearm_rto() stops the retransmit timer once nothing is in ' +
        'flight; no retransmission, no budget, the connection stays open',
    ],
    inputs: { peer: 'alive' },
  };
}
