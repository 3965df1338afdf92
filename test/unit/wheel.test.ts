import { describe, expect, it } from 'vitest';
import { fireJ, jiffyToOriginSeconds, wheelFireAbs } from '../../harness/model/wheel.js';

describe('timer wheel firing (kernel/time/timer.c calc_index)', () => {
  it('level 0 (delta < 63 jiffies) fires one jiffy after expiry', () => {
    expect(wheelFireAbs(1000, 10, 250)).toBe(1011);
  });

  it('level 1 rounds the expiry up past an 8-jiffy granule', () => {
    // 1 s at HZ=250 = 250 jiffies: expiry 1250 → granule 1248..1255 → fires at 1256
    expect(wheelFireAbs(1000, 250, 250)).toBe(1256);
    expect(wheelFireAbs(1006, 250, 250)).toBe(1264);
  });

  it('level 2 (a 5 s keepalive) rounds up to 64 jiffies (256 ms at HZ=250)', () => {
    expect(wheelFireAbs(0, 1250, 250)).toBe(1280);
    expect(wheelFireAbs(30, 1250, 250)).toBe(1344);
  });

  it('relative helpers: ideal without a wheel, exact with one', () => {
    expect(fireJ(0, 250)).toBe(250);
    const wheel = { originJ: 1006, originFrac: 0.5, hz: 250 };
    expect(fireJ(0, 250, wheel)).toBe(1264 - 1006);
    expect(jiffyToOriginSeconds(258, 250, wheel)).toBeCloseTo((258 - 0.5) / 250, 9);
  });

  it('reproduces a measured SYN-SENT chain to the jiffy', () => {
    // kernel 6.18 HZ=250, faithful run: first SYN at mono 1484.0644 s (jiffies offset 4294892231);
    // each retransmission re-armed at the jiffy the previous one fired
    const offset = 4294892231;
    const J = (t: number) => Math.floor(t * 250) + offset;
    const observed = [1485.0921, 1486.1161, 1487.1401];
    let prev = 1484.0644;
    for (const t of observed) {
      const f = wheelFireAbs(J(prev), 250, 250);
      expect(Math.abs((f - offset) / 250 - t)).toBeLessThan(0.005);
      prev = t;
    }
  });
});
