import { readFileSync } from 'node:fs';
import type { WheelOrigin } from './model/wheel.js';

/**
 * The kernel's jiffies clock against CLOCK_MONOTONIC. Since the tick is aligned to multiples of
 * TICK_NSEC on CLOCK_MONOTONIC (tick_sched `last_tick` is always such a multiple), jiffies =
 * floor(mono · HZ) + offset, with one constant offset per boot, read from /proc/timer_list ("now
 * at … nsecs" and "jiffies: …", printed together). Undefined when /proc/timer_list is unreadable
 * or the tick does not sit on that grid: the models then predict ideal times.
 */
export interface KernelClock {
  hz: number;
  /** jiffies − floor(mono_ns / TICK_NSEC) */
  offset: number;
}

export function readKernelClock(hz: number): KernelClock | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/timer_list', 'utf8');
  } catch {
    return undefined;
  }
  const now = /^now at (\d+) nsecs/m.exec(text)?.[1];
  const jiffies = /^jiffies: (\d+)/m.exec(text)?.[1];
  const lastTick = /\.last_tick\s*:\s*(\d+) nsecs/.exec(text)?.[1];
  if (!now || !jiffies) return undefined;
  const tickNs = BigInt(Math.round(1e9 / hz));
  if (lastTick && BigInt(lastTick) % tickNs !== 0n) return undefined;
  // jiffies may be read up to a tick after "now": the offset is stable per boot, so the smaller of
  // two candidates is right whenever a second reading agrees (the caller reads twice)
  return { hz, offset: Number(BigInt(jiffies) - BigInt(now) / tickNs) };
}

/** Read twice and keep the offset both readings support (a tick between the two fields shows as +1). */
export function kernelClock(hz: number): KernelClock | undefined {
  const a = readKernelClock(hz);
  const b = readKernelClock(hz);
  if (!a || !b) return undefined;
  return { hz, offset: Math.min(a.offset, b.offset) };
}

/** Where a moment on CLOCK_MONOTONIC (seconds) sits on the jiffies clock. */
export function wheelOriginAt(clock: KernelClock, monoSeconds: number): WheelOrigin {
  const ticks = monoSeconds * clock.hz;
  const whole = Math.floor(ticks);
  return { originJ: whole + clock.offset, originFrac: ticks - whole, hz: clock.hz };
}
