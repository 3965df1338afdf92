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
 * The oldest release the model knows. Below it the rules are other ones, which the model does not
 * encode, so `deadpeer model --kernel` refuses it rather than apply today's:
 * - 4.19: tcp_clamp_rto_to_user_timeout() (b701a99e431d) — every RTO under TCP_USER_TIMEOUT clamped
 *   to what is left of it (syn-sent, busy); before, the last RTO overshot U by up to a whole RTO;
 * - 4.8: the non-cascading timer wheel (kernel/time/timer.c, 500f8089f8d0) whose granules the
 *   windows are built on (model/slack.ts);
 * - 4.1: one timer per request minisocket (fa76ce7328b2 "inet: get rid of central tcp/dccp listener
 *   timer"); before, SYN+ACKs were resent from a listener-wide scan every 200 ms;
 * - 3.1: the SYN's initial RTO of 1 s (9ad7c049f0f7, RFC 6298); before, 3 s.
 * The zero-window model's pre-5.1 rule (U from the head skb's timestamp) stays within this range.
 */
export const OLDEST_RELEASE: readonly [number, number, number] = [4, 19, 0];

/** Why OLDEST_RELEASE, in one line (for the refusal). */
export const OLDEST_RELEASE_WHY =
  'before it TCP_USER_TIMEOUT did not clamp the RTO (tcp_clamp_rto_to_user_timeout, b701a99e431d, 4.19), the timer wheel cascaded (before 4.8), SYN+ACKs came from a 200 ms listener scan (before 4.1) and the first SYN waited 3 s (before 3.1)';

/** The model encodes this release's rules (>= OLDEST_RELEASE). */
export function modelKnowsRelease(version: readonly number[]): boolean {
  return releaseAtLeast(version, ...OLDEST_RELEASE);
}

/** A veth's round trip is tens of µs: what the defaults assume when nothing was measured. */
export const TINY_SRTT_US = 50;

/** include/linux/jiffies.h usecs_to_jiffies(): rounds up. */
const usecsToJiffies = (us: number, hz: number) => Math.ceil((us * hz) / 1_000_000 - 1e-9);
/** jiffies_to_usecs(): exact where 10^6 / HZ is whole, else truncated. */
const jiffiesToUsecs = (j: number, hz: number) => Math.floor((j * 1_000_000) / hz + 1e-9);

/**
 * tcp_rto_min_us(sk) = jiffies_to_usecs(tcp_rto_min(sk)): icsk_rto_min is kept in jiffies,
 * usecs_to_jiffies(net.ipv4.tcp_rto_min_us) in tcp_init_sock() (6.11+, f086edef71be; the route's
 * rto_min likewise, in jiffies): 50 000 µs at HZ=250 is 13 jiffies, 52 000 µs.
 */
export function rtoMinFloorUs(rtoMinUs: number, hz: number): number {
  return jiffiesToUsecs(usecsToJiffies(rtoMinUs, hz), hz);
}

/** What the kernel's RTT estimator holds for a path, and the RTO it derives. */
export interface DerivedRto {
  /** tcp_sk(sk)->srtt_us >> 3, µs (TCP_INFO tcpi_rtt) */
  srttUs: number;
  /** rttvar_us, µs (TCP_INFO tcpi_rttvar) */
  rttvarUs: number;
  /** icsk_rto, ms (TCP_INFO tcpi_rto): __tcp_set_rto() bounded by tcp_rto_max */
  rtoMs: number;
}

/**
 * The RTO of an established connection whose every RTT sample is `rttUs`, once the estimator has
 * settled — tcp_rtt_estimator() (net/ipv4/tcp_input.c), one sample per round trip:
 *   first sample: srtt = m << 3, mdev = m << 1, rttvar = mdev_max = max(mdev, tcp_rto_min_us);
 *   then (error 0): mdev -= mdev >> 2; mdev_max = max(mdev_max, mdev); at each new round trip
 *   rttvar -= (rttvar - mdev_max) >> 2 and mdev_max restarts at tcp_rto_min_us.
 * So rttvar decays to its floor, tcp_rto_min_us (in whole jiffies, rtoMinFloorUs), and
 * tcp_set_rto() = __tcp_set_rto() = usecs_to_jiffies((srtt >> 3) + rttvar), then
 * tcp_bound_rto() caps it at tcp_rto_max. A young connection (the handshake's sample only) still
 * has rttvar = max(2·RTT, rto_min): an RTO up to 3·RTT.
 */
export function rtoFromRtt(rttUs: number, rtoMinUs: number, hz: number, rtoMaxMs = 120_000): DerivedRto {
  const m = Math.max(1, Math.round(rttUs));
  const floorUs = rtoMinFloorUs(rtoMinUs, hz);
  const srtt8 = m << 3;
  let mdev = m << 1;
  let rttvar = Math.max(mdev, floorUs);
  let mdevMax = rttvar;
  for (let rtt = 0; rtt < 10_000; rtt++) {
    // the next sample: error 0 → mdev decays by a quarter
    mdev += -(mdev >> 2);
    if (mdev > mdevMax) {
      mdevMax = mdev;
      if (mdevMax > rttvar) rttvar = mdevMax;
    }
    // a new round trip (after(snd_una, rtt_seq))
    const before = rttvar;
    if (mdevMax < rttvar) rttvar -= (rttvar - mdevMax) >> 2;
    mdevMax = floorUs;
    if (rttvar === before && mdev < 4) break;
  }
  const srttUs = srtt8 >> 3;
  const rtoJ = Math.min(usecsToJiffies(srttUs + rttvar, hz), usecsToJiffies(rtoMaxMs * 1000, hz));
  return { srttUs, rttvarUs: rttvar, rtoMs: (rtoJ * 1000) / hz };
}

/**
 * The RTO of an established connection with a tiny RTT (veth ≈ 40 µs), the default when no measured
 * tcpi_rto (or RTT) is given: rtoFromRtt(TINY_SRTT_US) — tcp_rto_min in whole jiffies plus a few
 * µs, rounded up to the next jiffy: 204 ms at HZ=250 (and 56 ms for tcp_rto_min_us 50 000: 13
 * jiffies of rto_min, 52 ms, plus the RTT, into the 14th), 201 ms at HZ=1000.
 */
export function tinyRttRtoMs(sysctls: TcpSysctls, hz: number): number {
  return rtoFromRtt(TINY_SRTT_US, sysctls.tcp_rto_min_us ?? 200_000, hz).rtoMs;
}
