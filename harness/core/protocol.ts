import type { HelperRole } from './side.js';

/** The native helper's line protocol, as the TypeScript side sees it (harness/helper/helper.c documents it). */
/** Socket options the helper knows; values in the kernel's units (seconds, ms, bytes). */
export const SOCK_OPTS = [
  'SO_KEEPALIVE',
  'SO_RCVBUF',
  'SO_SNDBUF',
  'SO_REUSEADDR',
  'TCP_KEEPIDLE',
  'TCP_KEEPINTVL',
  'TCP_KEEPCNT',
  'TCP_USER_TIMEOUT',
  'TCP_SYNCNT',
  'TCP_DEFER_ACCEPT',
  'TCP_NOTSENT_LOWAT',
  'TCP_NODELAY',
  'TCP_MAXSEG',
  'TCP_RTO_MAX_MS',
  'TCP_RTO_MIN_US',
  'TCP_LINGER2',
] as const;

export type SockOpt = (typeof SOCK_OPTS)[number];

/** TCP_INFO + SIOCOUTQ/SIOCINQ as the helper reports them. */
export interface TcpInfo {
  state: string;
  ca_state: number;
  retransmits: number;
  probes: number;
  backoff: number;
  rto_us: number;
  ato_us: number;
  snd_mss: number;
  rcv_mss: number;
  unacked: number;
  lost: number;
  retrans: number;
  total_retrans: number;
  last_data_sent_ms: number;
  last_data_recv_ms: number;
  last_ack_recv_ms: number;
  rtt_us: number;
  rttvar_us: number;
  snd_cwnd: number;
  snd_wscale: number;
  rcv_wscale: number;
  rcv_space: number;
  notsent_bytes: number;
  snd_wnd: number;
  bytes_acked: number;
  bytes_received: number;
  segs_out: number;
  /** SIOCOUTQ: unsent + unacknowledged bytes */
  outq: number;
  /** SIOCINQ: bytes received, not yet read */
  inq: number;
}

/** Every line the helper prints: its kind, the CLOCK_MONOTONIC time, and the kind's fields. */
export interface HelperEvent {
  ev: string;
  t: number;
  re?: number;
  side: HelperRole;
  [k: string]: unknown;
}
