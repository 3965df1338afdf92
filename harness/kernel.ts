import { existsSync, readFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { featuresForRelease } from './model/features.js';
import type { KernelFeatures } from './model/types.js';

/**
 * The running kernel's features. Feature probes first (the sysctl files exist or not), the release
 * number only where no probe exists (the zero-window and SYN-SENT user-timeout fixes), because
 * stable and distro kernels carry backports that a version number would hide.
 */
export function runningKernel(): KernelFeatures {
  const release = osRelease();
  const base = featuresForRelease(release, kernelHz());
  const has = (s: string) => existsSync(`/proc/sys/net/ipv4/${s}`);
  return {
    ...base,
    synLinearTimeouts: has('tcp_syn_linear_timeouts'),
    rtoMinUsSysctl: has('tcp_rto_min_us'),
    rtoMax: has('tcp_rto_max_ms'),
  };
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
