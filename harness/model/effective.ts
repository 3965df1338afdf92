/**
 * The effective value of each knob, resolved the way the kernel resolves it (socket option first,
 * then the namespace sysctl, then the compile-time constant), in one place so that every phase
 * reads the same rule.
 */
import { releaseAtLeast } from './features.js';
import type { KernelFeatures, ModelInput, SocketSettings, TcpSysctls } from './types.js';

const TCP_RTO_MAX_MS = 120_000;

/**
 * tcp_rto_max(sk) in ms. 6.15+ (54a378f43425 "tcp: add the ability to control max RTO" and the
 * tcp_rto_max_ms sysctl that follows it): icsk_rto_max is set from net.ipv4.tcp_rto_max_ms in
 * tcp_init_sock() and overridden by TCP_RTO_MAX_MS. Before 6.15 it is the constant TCP_RTO_MAX.
 */
export function rtoMaxMs(sysctls: TcpSysctls, socket: SocketSettings, features: KernelFeatures): number {
  if (!features.rtoMax) return TCP_RTO_MAX_MS;
  return socket.rtoMaxMs ?? sysctls.tcp_rto_max_ms ?? TCP_RTO_MAX_MS;
}

/** tcp_write_timeout(): retry_until = icsk_syn_retries (TCP_SYNCNT) ?: sysctl_tcp_syn_retries. */
export function synRetries({ sysctls, socket }: ModelInput): number {
  return socket.synCnt || sysctls.tcp_syn_retries;
}

/**
 * reqsk_timer_handler(): max_syn_ack_retries = the listener's icsk_syn_retries (TCP_SYNCNT set on
 * the listening socket) ?: sysctl_tcp_synack_retries.
 */
export function synAckRetries({ sysctls, socket }: ModelInput): number {
  return socket.synCnt || sysctls.tcp_synack_retries;
}

/** net.ipv4.tcp_syn_linear_timeouts, 0 where the kernel predates it (6.5, ccce324dabfe). */
export function synLinearTimeouts({ sysctls, features }: ModelInput): number {
  return features.synLinearTimeouts ? (sysctls.tcp_syn_linear_timeouts ?? 4) : 0;
}

/** A compact "X.Y.Z" for notes. */
export function versionString(features: KernelFeatures): string {
  return features.version.join('.');
}

/** the kernel's version >= major.minor.patch */
export function versionAtLeast(features: KernelFeatures, major: number, minor: number, patch = 0): boolean {
  return releaseAtLeast(features.version, major, minor, patch);
}
