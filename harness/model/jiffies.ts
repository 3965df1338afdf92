/**
 * Kernel time units. TCP timers are armed in jiffies (1/HZ s) while user-visible settings and
 * tcp_time_stamp are milliseconds; the models compute in integer jiffies, as the kernel does, and
 * convert only at the edges, so that rounding (msecs_to_jiffies rounds up) matches the kernel.
 */

/** One jiffy in milliseconds. */
export function jiffyMs(hz: number): number {
  return 1000 / hz;
}

/** include/linux/jiffies.h msecs_to_jiffies(): rounds up. */
export function msecsToJiffies(ms: number, hz: number): number {
  if (ms <= 0) return 0;
  // The epsilon absorbs float noise (e.g. 0.1 s · 250) so an exact multiple does not round up.
  return Math.ceil(ms / jiffyMs(hz) - 1e-9);
}

/** jiffies_to_msecs() (kept fractional: at HZ values that do not divide 1000 the kernel truncates). */
export function jiffiesToMs(j: number, hz: number): number {
  return j * jiffyMs(hz);
}

/** Seconds rounded to the millisecond: the unit of every ModelEvent.t and Prediction.closeAt. */
export function jiffiesToSeconds(j: number, hz: number): number {
  return Math.round(jiffiesToMs(j, hz)) / 1000;
}

/** include/net/tcp.h constants, in jiffies for a given HZ. */
export function tcpConstants(hz: number) {
  return {
    /** TCP_TIMEOUT_INIT: initial RTO of a SYN / SYN+ACK (1 s; tcp_timeout_init() without BPF). */
    TCP_TIMEOUT_INIT: hz,
    /** TCP_RTO_MIN = HZ/5 (integer division, as in the kernel). */
    TCP_RTO_MIN: Math.floor(hz / 5),
    /** TCP_RTO_MAX = 120 s: the compile-time cap (tcp_rto_max(sk) can lower it on 6.15+). */
    TCP_RTO_MAX: 120 * hz,
    /** TCP_TIMEOUT_MIN: 2 jiffies, the floor of tcp_clamp_probe0_to_user_timeout(). */
    TCP_TIMEOUT_MIN: 2,
    /** TCP_RESOURCE_PROBE_INTERVAL = HZ/2 (500 ms): the retry after a transmission the local host dropped. */
    TCP_RESOURCE_PROBE_INTERVAL: Math.floor(hz / 2),
  };
}

/** The kernel's ilog2 for positive integers. */
export function ilog2(n: number): number {
  return Math.floor(Math.log2(Math.max(1, Math.floor(n))));
}
