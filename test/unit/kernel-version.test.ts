import { describe, expect, it } from 'vitest';
import { upstreamVersion } from '../../harness/engine/kernel.js';
import { featuresForRelease } from '../../harness/model/features.js';

/** Distribution kernels hide the stable point release behind an ABI name; the release gates need the real one. */
describe('upstreamVersion', () => {
  // /proc/version of Debian's bullseye kernel, as booted by the kernel matrix
  const debian510 =
    'Linux version 5.10.0-46-amd64 (debian-kernel@lists.debian.org) (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110, GNU ld (GNU Binutils for Debian) 2.35.2) #1 SMP Debian 5.10.262-1 (2026-07-31)';

  it("Debian: the version after the build number, not the compiler's", () => {
    expect(upstreamVersion('5.10.0-46-amd64', debian510)).toEqual([5, 10, 262]);
    expect(upstreamVersion('6.12.117+deb12-amd64', 'Linux version 6.12.117+deb12-amd64 (…) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-10-01)')).toEqual([6, 12, 117]);
  });

  it('Ubuntu: the last field of /proc/version_signature', () => {
    expect(upstreamVersion('5.15.0-139-generic', 'Linux version 5.15.0-139-generic (buildd@lcy02-amd64-001) #149-Ubuntu SMP', 'Ubuntu 5.15.0-139.149-generic 5.15.180\n')).toEqual([5, 15, 180]);
  });

  it('falls back to the release, and never believes a version of another series', () => {
    expect(upstreamVersion('6.18.44-fc-v657', 'Linux version 6.18.44-fc-v657 (builder@sandboxing) (gcc (GCC) 15.3.0) #1 SMP PREEMPT_DYNAMIC @0')).toEqual([6, 18, 44]);
    expect(upstreamVersion('5.10.0-46-amd64', 'Linux version 5.10.0-46-amd64 #1 SMP Debian 6.1.100-1 (2026-01-01)')).toEqual([5, 10, 0]);
  });

  it('moves the stable-release gates: Debian 5.10.0-46 has the zero-window user-timeout fix (stable 5.10.12)', () => {
    expect(featuresForRelease('5.10.0-46-amd64', 250).zeroWindowUserTimeout).toBe(false);
    const f = featuresForRelease('5.10.0-46-amd64', 250, upstreamVersion('5.10.0-46-amd64', debian510));
    expect(f.zeroWindowUserTimeout).toBe(true);
    expect(f.release).toBe('5.10.0-46-amd64');
  });
});
