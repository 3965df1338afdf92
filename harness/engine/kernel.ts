import { existsSync, readFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { featuresForRelease, parseRelease } from '../model/features.js';
import type { KernelFeatures } from '../model/types.js';

/**
 * The running kernel's features. Feature probes first (the sysctl files exist or not), the release
 * number only where no probe exists (the zero-window and SYN-SENT user-timeout fixes), because
 * stable and distro kernels carry backports that a version number would hide.
 */
export function runningKernel(): KernelFeatures {
  const release = osRelease();
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
  const base = featuresForRelease(release, kernelHz(), upstreamVersion(release, read('/proc/version') ?? '', read('/proc/version_signature')));
  const has = (s: string) => existsSync(`/proc/sys/net/ipv4/${s}`);
  return {
    ...base,
    synLinearTimeouts: has('tcp_syn_linear_timeouts'),
    rtoMinUsSysctl: has('tcp_rto_min_us'),
    rtoMax: has('tcp_rto_max_ms'),
  };
}

/**
 * The upstream version of the running kernel. Distribution kernels name their release after an
 * ABI, not the stable point release they are built from: Debian's "5.10.0-46-amd64" is 5.10.262
 * ("… #1 SMP Debian 5.10.262-1 (2026-07-31)" in /proc/version), Ubuntu's "5.15.0-139-generic" is
 * 5.15.180 (/proc/version_signature). The model gates the zero-window and SYN-SENT user-timeout
 * fixes on stable point releases, so the ".0" would claim a 2021 fix missing from a 2026 kernel
 * (the kernel matrix caught exactly that on Debian's 5.10). Falls back to the release string; a
 * distro version is only believed when its major.minor matches the release's.
 */
export function upstreamVersion(release: string, procVersion: string, versionSignature?: string): [number, number, number] {
  const fromRelease = parseRelease(release);
  const candidates = [
    // Ubuntu: "Ubuntu 5.15.0-139.149-generic 5.15.180"
    /\s(\d+)\.(\d+)\.(\d+)\s*$/.exec(versionSignature ?? ''),
    // Debian: after the build number ("#1 SMP … Debian 5.10.262-1 (date)"); the compiler's "(Debian 10.2.1-6)" comes before it
    /#\d+\b.*?\bDebian (\d+)\.(\d+)\.(\d+)/.exec(procVersion),
  ];
  for (const m of candidates) {
    if (!m) continue;
    const v: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (v[0] === fromRelease[0] && v[1] === fromRelease[1] && v[2] >= fromRelease[2]) return v;
  }
  return fromRelease;
}

/**
 * CONFIG_HZ of the running kernel, from /proc/config.gz or /boot/config-<release>. Timer-wheel
 * tolerances derive from it; when no config is readable we assume HZ=100, the coarsest jiffy a
 * mainstream kernel uses, so tolerances err wide rather than flake (and say so).
 */
export function kernelHz(): number {
  const fromText = (t: string) => Number(/^CONFIG_HZ=(\d+)$/m.exec(t)?.[1]);
  try {
    const hz = fromText(gunzipSync(readFileSync('/proc/config.gz')).toString());
    if (hz) return hz;
  } catch {
    /* fall through */
  }
  try {
    const hz = fromText(readFileSync(`/boot/config-${osRelease()}`, 'utf8'));
    if (hz) return hz;
  } catch {
    /* fall through */
  }
  return 100;
}
