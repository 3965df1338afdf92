import type { SocketSettings, TcpSysctls } from '../model/types.js';

/**
 * What the helper's socket reader says about a program's socket (pidfd_getfd + getsockopt +
 * TCP_INFO: `peeksock` for exec, each `sock` line of `audit`), turned into the names exec's report
 * uses and into the model's settings. exec and audit both read sockets through here, so an option
 * is named, and read into the model, the same way in both reports.
 */

/** The options the reader reads, in the order reports list them (absent from a read = the kernel refused it). */
export const OPTION_NAMES = ['SO_KEEPALIVE', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_KEEPCNT', 'TCP_USER_TIMEOUT', 'TCP_SYNCNT', 'TCP_RTO_MAX_MS', 'TCP_NODELAY', 'TCP_NOTSENT_LOWAT', 'SO_RCVBUF', 'SO_SNDBUF'] as const;

export type OptionName = (typeof OPTION_NAMES)[number];

/** The options of one read, by name (exec's and audit's `options`). */
export function optionsOf(read: Record<string, unknown> | undefined): Record<string, number> {
  const o: Record<string, number> = {};
  for (const n of OPTION_NAMES) if (read && typeof read[n] === 'number') o[n] = read[n] as number;
  return o;
}

/** Whether two reads hold the same options (a program may still be setting them right after connecting). */
export const sameOptions = (a: Record<string, unknown>, b: Record<string, unknown>): boolean => OPTION_NAMES.every((n) => a[n] === b[n]);

/** The socket settings the model reads, from getsockopt values (absent = the sysctl). */
export function settingsFrom(o: Record<string, number>, s: TcpSysctls): SocketSettings {
  return {
    keepalive: o.SO_KEEPALIVE === 1,
    keepIdle: o.TCP_KEEPIDLE ?? s.tcp_keepalive_time,
    keepIntvl: o.TCP_KEEPINTVL ?? s.tcp_keepalive_intvl,
    keepCnt: o.TCP_KEEPCNT ?? s.tcp_keepalive_probes,
    userTimeoutMs: o.TCP_USER_TIMEOUT ?? 0,
    // getsockopt(TCP_SYNCNT) reads back the sysctl when unset: equal to it means "not set" here
    synCnt: o.TCP_SYNCNT !== undefined && o.TCP_SYNCNT !== s.tcp_syn_retries ? o.TCP_SYNCNT : 0,
    ...(o.TCP_RTO_MAX_MS !== undefined ? { rtoMaxMs: o.TCP_RTO_MAX_MS } : {}),
  };
}

/** The TCP_INFO fields the reader adds to a read, in the report's units (ms, bytes). */
export interface TcpInfoRead {
  /** tcpi_rto: the connection's own retransmission timeout now (backed off while retransmitting), ms */
  rtoMs: number;
  /** tcpi_rtt: the smoothed RTT, ms */
  rttMs: number;
  sndMss: number;
  /** segments sent and not yet acknowledged */
  unacked: number;
  /** bytes written by the program and not yet sent */
  notsentBytes: number;
  /** icsk_backoff: how many times the RTO has doubled (retransmitting or probing) */
  backoff?: number;
  /** icsk_probes_out: keepalive or window probes unanswered so far */
  probes?: number;
  /** SACK negotiated on this connection (tcpi_options); absent = not read */
  sack?: boolean;
}

/** The TCP_INFO part of a read; undefined when it carries none. */
export function tcpInfoOf(read: Record<string, unknown>): TcpInfoRead | undefined {
  const n = (k: string) => (typeof read[k] === 'number' ? (read[k] as number) : undefined);
  const [rto, rtt, mss, unacked, notsent] = [n('rto_us'), n('rtt_us'), n('snd_mss'), n('unacked'), n('notsent_bytes')];
  if (rto === undefined || rtt === undefined || mss === undefined || unacked === undefined || notsent === undefined) return undefined;
  const [backoff, probes, sack] = [n('backoff'), n('probes'), n('sack')];
  return {
    rtoMs: rto / 1000,
    rttMs: rtt / 1000,
    sndMss: mss,
    unacked,
    notsentBytes: notsent,
    ...(backoff !== undefined ? { backoff } : {}),
    ...(probes !== undefined ? { probes } : {}),
    ...(sack !== undefined ? { sack: sack === 1 } : {}),
  };
}
