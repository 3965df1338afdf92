import { closeSync, openSync, readSync } from 'node:fs';
import type { WheelOrigin } from './model/wheel.js';

/**
 * The kernel's jiffies clock against CLOCK_MONOTONIC. Since the tick is aligned to multiples of
 * TICK_NSEC on CLOCK_MONOTONIC (tick_sched `last_tick` is always such a multiple), jiffies =
 * floor(mono · HZ) + offset, with one constant offset per boot, read from /proc/timer_list ("now
 * at … nsecs" and "jiffies: …"). Undefined when /proc/timer_list is unreadable
 * or the tick does not sit on that grid: the models then predict ideal times.
 */
export interface KernelClock {
  hz: number;
  /** jiffies − floor(mono_ns / TICK_NSEC) */
  offset: number;
}

/** /proc/timer_list, read to the end (seq_file hands it out a record per read() when CPUs have many timers). */
function readTimerList(): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync('/proc/timer_list', 'r');
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) chunks.push(Buffer.from(buf.subarray(0, n)));
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Leeway after a tick's moment for its handler to bump jiffies. */
const TICK_HANDLER_NS = 200_000n;

/**
 * One reading, as the range of offsets it allows. "now" is printed at the top and "jiffies"
 * further down, possibly several read()s later, so a pause in between makes jiffies look ahead by
 * up to the ticks that passed until the read ended (seen under load: 7 jiffies, a whole wheel
 * granule); and "now" just past a tick's moment may come before the tick handler bumped jiffies,
 * one behind. process.hrtime is CLOCK_MONOTONIC too, so the ticks that passed are known.
 */
export function readKernelClock(hz: number): { hz: number; lo: number; hi: number } | undefined {
  const text = readTimerList();
  const done = process.hrtime.bigint();
  if (text === undefined) return undefined;
  const now = /^now at (\d+) nsecs/m.exec(text)?.[1];
  const jiffies = /^jiffies: (\d+)/m.exec(text)?.[1];
  const lastTick = /\.last_tick\s*:\s*(\d+) nsecs/.exec(text)?.[1];
  if (!now || !jiffies) return undefined;
  const tickNs = BigInt(Math.round(1e9 / hz));
  if (lastTick && BigInt(lastTick) % tickNs !== 0n) return undefined;
  const nowNs = BigInt(now);
  const offset = Number(BigInt(jiffies) - nowNs / tickNs);
  const ticksPassed = Number(done / tickNs - nowNs / tickNs);
  return { hz, lo: offset - Math.max(0, ticksPassed), hi: offset + (nowNs % tickNs < TICK_HANDLER_NS ? 1 : 0) };
}

/** Readings until their ranges leave one offset (most readings are exact alone); undefined if they never do. */
export function kernelClock(hz: number): KernelClock | undefined {
  let lo = -Infinity;
  let hi = Infinity;
  for (let i = 0; i < 50; i++) {
    const r = readKernelClock(hz);
    if (!r) return undefined;
    lo = Math.max(lo, r.lo);
    hi = Math.min(hi, r.hi);
    if (lo > hi) return undefined; // readings that contradict each other: trust none
    if (lo === hi) return { hz, offset: lo };
  }
  return undefined;
}

/** Where a moment on CLOCK_MONOTONIC (seconds) sits on the jiffies clock. */
export function wheelOriginAt(clock: KernelClock, monoSeconds: number): WheelOrigin {
  const ticks = monoSeconds * clock.hz;
  const whole = Math.floor(ticks);
  return { originJ: whole + clock.offset, originFrac: ticks - whole, hz: clock.hz };
}
