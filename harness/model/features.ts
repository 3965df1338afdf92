/**
 * Kernel features from a release string (for `--kernel X.Y` and as the base the running-kernel
 * probe refines), and the defaults a new network namespace starts with.
 */
import type { KernelFeatures, SocketSettings, TcpSysctls } from './types.js';

/** "6.18.44-fc-v657" → [6, 18, 44]; "5.4" → [5, 4, 0]. Throws on anything else. */
export function parseRelease(release: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  if (!m) throw new Error(`not a kernel release: "${release}" (expected X.Y or X.Y.Z...)`);
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** version >= a.b.c */
export function releaseAtLeast(v: readonly number[], a: number, b: number, c = 0): boolean {
  if (v[0] !== a) return v[0] > a;
  if (v[1] !== b) return v[1] > b;
  return v[2] >= c;
}

/**
 * Features a mainline / stable kernel of that release has. The running kernel's probe
 * (harness/engine/kernel.ts) overrides the ones that have a feature probe. `version` is the upstream
 * version when the release string hides it (Debian's "5.10.0-46-amd64" is 5.10.262): the gates on
 * stable point releases below need the real one.
 */
export function featuresForRelease(release: string, hz: number, version: [number, number, number] = parseRelease(release)): KernelFeatures {
  return {
    release,
    version,
    hz,
    // 6.5: ccce324dabfe "tcp: make the first N SYN RTO backoffs linear" (net.ipv4.tcp_syn_linear_timeouts)
    synLinearTimeouts: releaseAtLeast(version, 6, 5),
    // 6.11: net.ipv4.tcp_rto_min_us sysctl
    rtoMinUsSysctl: releaseAtLeast(version, 6, 11),
    // 6.15: 54a378f43425 "tcp: add the ability to control max RTO" (TCP_RTO_MAX_MS) + tcp_rto_max_ms sysctl
    rtoMax: releaseAtLeast(version, 6, 15),
    // 5.11: 9d9b1ee0b2d1 "tcp: fix TCP_USER_TIMEOUT with zero window" + 344db93ae3ee; stable 5.4.93 and
    // 5.10.12 (the same stable batch, 2021-01-30; verify against the stable changelog if it matters)
    zeroWindowUserTimeout:
      releaseAtLeast(version, 5, 11) ||
      (version[0] === 5 && version[1] === 10 && version[2] >= 12) ||
      (version[0] === 5 && version[1] === 4 && version[2] >= 93),
    // 5.4: a66b10c05ee2, 3256a2d6ab1f: TCP_USER_TIMEOUT ends SYN-SENT at U
    synSentUserTimeoutClean: releaseAtLeast(version, 5, 4),
    // 6.19: 1e9d3005e02c "tcp: Apply max RTO to non-TFO SYN+ACK" (net-next, Nov 2025, merged for 6.19):
    // tcp_reqsk_timeout() = min(req->timeout << num_timeout, tcp_rto_max(req->rsk_listener)), where it
    // was min(…, TCP_RTO_MAX); TFO SYN+ACKs had the cap since 54a378f43425 (6.15). Nothing to probe:
    // the sysctl and the socket option are 6.15's, only their reach into the request timer changed.
    synAckRtoMax: releaseAtLeast(version, 6, 19),
  };
}

/** Kernel defaults for a NEW network namespace (tcp_sk_init() in net/ipv4/tcp_ipv4.c). */
export function defaultSysctls(features: KernelFeatures): TcpSysctls {
  return {
    tcp_syn_retries: 6,
    tcp_synack_retries: 5,
    tcp_retries1: 3,
    tcp_retries2: 15,
    tcp_keepalive_time: 7200,
    tcp_keepalive_intvl: 75,
    tcp_keepalive_probes: 9,
    ...(features.synLinearTimeouts ? { tcp_syn_linear_timeouts: 4 } : {}),
    ...(features.rtoMinUsSysctl ? { tcp_rto_min_us: 200_000 } : {}),
    ...(features.rtoMax ? { tcp_rto_max_ms: 120_000 } : {}),
    tcp_syncookies: 1,
  };
}

/** A socket nobody set options on: every value read back equals the namespace sysctl. */
export function defaultSocket(sysctls: TcpSysctls): SocketSettings {
  return {
    keepalive: false,
    keepIdle: sysctls.tcp_keepalive_time,
    keepIntvl: sysctls.tcp_keepalive_intvl,
    keepCnt: sysctls.tcp_keepalive_probes,
    userTimeoutMs: 0,
    synCnt: 0,
  };
}

/**
 * The RTO of an established connection with a tiny RTT (veth ≈ 40 µs): __tcp_set_rto() =
 * usecs_to_jiffies(srtt + rttvar) with rttvar floored at rto_min, i.e. rto_min plus a few µs,
 * rounded up to the next jiffy (204 ms at HZ=250, 201 ms at HZ=1000). The default when no measured
 * tcpi_rto is given.
 */
export function tinyRttRtoMs(sysctls: TcpSysctls, hz: number): number {
  const rtoMinUs = sysctls.tcp_rto_min_us ?? 200_000;
  const jiffyUs = 1_000_000 / hz;
  return (Math.floor(rtoMinUs / jiffyUs) + 1) * (jiffyUs / 1000);
}
