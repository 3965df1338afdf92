import type { TcpSysctls } from './types.js';

const INT_MAX = 2 ** 31 - 1;

/**
 * What the kernel accepts for each sysctl the model reads — a value outside is refused by the
 * kernel (EINVAL), so the model refuses it too rather than answer for a setting no host can have.
 * From net/ipv4/sysctl_net_ipv4.c (6.x): the u8 ones (proc_dou8vec_minmax) take 0..255;
 * tcp_syn_retries and tcp_syn_linear_timeouts are capped at MAX_TCP_SYNCNT (127), and
 * tcp_syn_retries starts at 1; tcp_rto_min_us from 1; tcp_rto_max_ms 1000..120000 (1 s to
 * TCP_RTO_MAX_SEC); the keepalive times are seconds kept as jiffies in an int
 * (proc_dointvec_jiffies: at most INT_MAX / HZ; the kernel also stores a negative one, which
 * means nothing, so the model starts at 0). Each checked by writing the bounds and one past them
 * in a fresh network namespace on 6.18.
 */
export function sysctlRange(name: keyof TcpSysctls, hz: number): { min: number; max: number } {
  switch (name) {
    case 'tcp_syn_retries':
      return { min: 1, max: 127 };
    case 'tcp_syn_linear_timeouts':
      return { min: 0, max: 127 };
    case 'tcp_synack_retries':
    case 'tcp_retries1':
    case 'tcp_retries2':
    case 'tcp_keepalive_probes':
    case 'tcp_syncookies':
      return { min: 0, max: 255 };
    case 'tcp_keepalive_time':
    case 'tcp_keepalive_intvl':
      return { min: 0, max: Math.floor(INT_MAX / hz) };
    case 'tcp_rto_min_us':
      return { min: 1, max: INT_MAX };
    case 'tcp_rto_max_ms':
      return { min: 1000, max: 120_000 };
  }
}
