/**
 * The request-socket timer of a listener (net/ipv4/inet_connection_sock.c reqsk_timer_handler and
 * syn_ack_recalc, net/ipv4/tcp_minisocks.c tcp_check_req), shared by SYN-RECV and
 * TCP_DEFER_ACCEPT. The minisocket has no TCP_USER_TIMEOUT, no keepalive and no linear SYN
 * timeouts: only num_timeout, the retry limit and the defer count.
 */
import { msecsToJiffies, tcpConstants } from './jiffies.js';
import type { KernelFeatures, ModelEvent, ModelInput, TimerHint } from './types.js';

/** include/net/tcp.h secs_to_retrans() is in net/ipv4/tcp.c: seconds → retransmit count. */
export function secsToRetrans(seconds: number, timeout: number, rtoMax: number): number {
  let res = 0;
  if (seconds > 0) {
    let period = timeout;
    res = 1;
    while (seconds > period && res < 255) {
      res++;
      timeout <<= 1;
      if (timeout > rtoMax) timeout = rtoMax;
      period += timeout;
    }
  }
  return res;
}

/** net/ipv4/tcp.c retrans_to_secs(): retransmit count → seconds (what getsockopt reads back). */
export function retransToSecs(retrans: number, timeout: number, rtoMax: number): number {
  let period = 0;
  if (retrans > 0) {
    period = timeout;
    while (--retrans) {
      timeout <<= 1;
      if (timeout > rtoMax) timeout = rtoMax;
      period += timeout;
    }
  }
  return period;
}

/**
 * setsockopt(TCP_DEFER_ACCEPT, S) stores secs_to_retrans(S, TCP_TIMEOUT_INIT/HZ = 1,
 * TCP_RTO_MAX/HZ = 120) in rskq_defer_accept; getsockopt returns retrans_to_secs() of it, so the
 * value reads back rounded up to the end of a SYN+ACK backoff period (5 → 7, 30 → 31).
 */
export function deferAcceptRetrans(seconds: number): number {
  return secsToRetrans(Math.floor(seconds), 1, 120);
}

export function deferAcceptReadBack(seconds: number): number {
  return retransToSecs(deferAcceptRetrans(seconds), 1, 120);
}

/**
 * The cap on the SYN+ACK backoff, tcp_reqsk_timeout(): the constant TCP_RTO_MAX up to and including
 * 6.18; the listener's tcp_rto_max() (TCP_RTO_MAX_MS on it, else net.ipv4.tcp_rto_max_ms) from 6.19
 * (features.synAckRtoMax, 1e9d3005e02c "tcp: Apply max RTO to non-TFO SYN+ACK").
 */
export function synAckRtoMaxJ(input: ModelInput): number {
  const { features, sysctls, socket } = input;
  const { TCP_RTO_MAX } = tcpConstants(features.hz);
  if (!synAckRtoMaxApplies(features)) return TCP_RTO_MAX;
  return msecsToJiffies(socket.rtoMaxMs ?? sysctls.tcp_rto_max_ms ?? 120_000, features.hz);
}

export function synAckRtoMaxApplies(features: KernelFeatures): boolean {
  return !!features.synAckRtoMax;
}

export interface ReqskSpec {
  hz: number;
  /** max_syn_ack_retries */
  maxRetries: number;
  /** rskq_defer_accept (a retransmit count); 0 = off */
  deferRetrans: number;
  /** inet_rsk(req)->acked before the first timer: the client's bare ACK arrived and was dropped */
  acked: boolean;
  /** the client is alive: a resent SYN+ACK is answered by an ACK at once */
  clientAnswers: boolean;
  /** the cap of req->timeout << num_timeout, jiffies */
  capJ: number;
}

export interface ReqskOutcome {
  /** jiffies of each SYN+ACK retransmission, n = 1.. */
  synAckJ: number[];
  /** the request became a full socket in the accept queue */
  acceptJ: number | null;
  /** the request was dropped (inet_csk_reqsk_queue_drop_and_put) */
  dropJ: number | null;
  /** firings that resent nothing (deferring: syn_ack_recalc() said no), each re-arming the timer */
  silentJ: number[];
}

/**
 * syn_ack_recalc():
 *   no defer: expire = num_timeout >= max; resend = 1
 *   defer D:  expire = num_timeout >= max && (!acked || num_timeout >= D)
 *             resend = !acked || num_timeout >= D - 1
 * then (not expired) resend if asked, num_timeout++, re-arm at timeout << num_timeout (capped).
 * tcp_check_req() drops a bare ACK while num_timeout < D (marking acked); otherwise the ACK
 * creates the child socket.
 */
export function runReqskTimer(spec: ReqskSpec): ReqskOutcome {
  const timeoutJ = tcpConstants(spec.hz).TCP_TIMEOUT_INIT;
  const synAckJ: number[] = [];
  const silentJ: number[] = [];
  let acked = spec.acked;
  let numTimeout = 0;
  let nowJ = timeoutJ;
  for (;;) {
    const defer = spec.deferRetrans;
    const expire = defer
      ? numTimeout >= spec.maxRetries && (!acked || numTimeout >= defer)
      : numTimeout >= spec.maxRetries;
    const resend = defer ? !acked || numTimeout >= defer - 1 : true;
    if (expire) return { synAckJ, acceptJ: null, dropJ: nowJ, silentJ };
    if (resend) synAckJ.push(nowJ);
    else silentJ.push(nowJ);
    numTimeout++;
    if (resend && spec.clientAnswers) {
      if (numTimeout >= defer) return { synAckJ, acceptJ: nowJ, dropJ: null, silentJ };
      acked = true; // TCPDEFERACCEPTDROP: the bare ACK is dropped
    }
    nowJ += Math.min(timeoutJ * 2 ** numTimeout, spec.capJ);
  }
}

/**
 * The request timer's silent firings as TimerHints: each SYN+ACK (and the drop) is reached through
 * the firings since the previous one, each of which re-armed the timer (model/wheel.ts).
 */
export function throughSilentFirings(events: ModelEvent[], silentJ: readonly number[], hz: number): ModelEvent[] {
  let prevT = 0;
  return events.map((e) => {
    const via = silentJ.map((j) => j / hz).filter((t) => t > prevT && t < e.t);
    prevT = e.t;
    return via.length ? { ...e, timer: { ...e.timer, via } } : e;
  });
}

/** The same for the firing that drops the request: Prediction.closeTimer, or nothing. */
export function dropThroughSilentFirings(lastEventT: number, dropJ: number | null, silentJ: readonly number[], hz: number): { closeTimer?: TimerHint } {
  if (dropJ === null) return {};
  const via = silentJ.map((j) => j / hz).filter((t) => t > lastEventT && t < dropJ / hz);
  return via.length ? { closeTimer: { via } } : {};
}
