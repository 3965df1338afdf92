import { accessSync, closeSync, constants, openSync, readSync } from 'node:fs';
import type { WheelOrigin } from '../model/wheel.js';

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

/**
 * One reading: jiffies − floor(now / TICK_NSEC), and whether the whole read ended within the tick
 * "now" fell in. "now" is printed at the top and "jiffies" further down, possibly several read()s
 * later: a pause in between makes jiffies look ahead by the ticks that passed (seen under load: 2
 * and 7 jiffies, whole wheel granules). Within one tick it can only be exact or one behind — when
 * that tick's handler had not yet bumped jiffies (it runs late while the printing holds a CPU's
 * timer lock with interrupts off). process.hrtime is CLOCK_MONOTONIC too.
 */
export function readKernelClock(hz: number): { hz: number; offset: number; sameTick: boolean } | undefined {
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
  return { hz, offset: Number(BigInt(jiffies) - nowNs / tickNs), sameTick: done / tickNs === nowNs / tickNs };
}

/**
 * The largest offset among readings that stayed within one tick: each is exact or one behind, and
 * readings land at random moments of the tick, so some are exact. Undefined when fewer than three
 * of up to 200 readings stayed within a tick (the models then predict ideal times).
 */
export function kernelClock(hz: number): KernelClock | undefined {
  const readings: Array<{ offset: number; sameTick: boolean }> = [];
  for (let i = 0; i < 200 && readings.filter((r) => r.sameTick).length < 8; i++) {
    const r = readKernelClock(hz);
    if (!r) return undefined;
    readings.push(r);
  }
  const offset = offsetFromReadings(readings);
  return offset === undefined ? undefined : { hz, offset };
}

/** The choice kernelClock() makes, on its own (pure). */
export function offsetFromReadings(readings: ReadonlyArray<{ offset: number; sameTick: boolean }>): number | undefined {
  const within = readings.filter((r) => r.sameTick).map((r) => r.offset);
  return within.length >= 3 ? Math.max(...within) : undefined;
}

/**
 * Why the jiffies clock cannot be had, in words for a listing: /proc/timer_list is root-only (0400)
 * and a rootless run, root only of its own user namespace, cannot read it; or it was readable but
 * gave no consistent reading.
 */
export function kernelClockProblem(): string {
  try {
    accessSync('/proc/timer_list', constants.R_OK);
    return 'the jiffies clock gave no consistent reading (/proc/timer_list)';
  } catch {
    return 'the jiffies clock is unreadable (/proc/timer_list is root-only)';
  }
}

const JIFFIES_ENV = 'DEADPEER_JIFFIES_OFFSET';
let clockRead: { hz: number; clock: KernelClock | undefined } | undefined;

/**
 * The jiffies clock, read once per process (the offset is constant per boot) — or once per suite:
 * the global setup reads it before the workers load the machine and hands it down in
 * DEADPEER_JIFFIES_OFFSET (shareKernelClock).
 */
export function sharedKernelClock(hz: number): KernelClock | undefined {
  const shared = Number(process.env[JIFFIES_ENV]);
  if (Number.isSafeInteger(shared) && shared > 0) return { hz, offset: shared };
  if (clockRead?.hz !== hz) clockRead = { hz, clock: kernelClock(hz) };
  return clockRead.clock;
}

/** Read the jiffies clock now, in a quiet moment, for every process this one starts. */
export function shareKernelClock(hz: number): void {
  const clock = kernelClock(hz);
  if (clock) process.env[JIFFIES_ENV] = String(clock.offset);
}

/** Where a moment on CLOCK_MONOTONIC (seconds) sits on the jiffies clock. */
export function wheelOriginAt(clock: KernelClock, monoSeconds: number): WheelOrigin {
  const ticks = monoSeconds * clock.hz;
  const whole = Math.floor(ticks);
  return { originJ: whole + clock.offset, originFrac: ticks - whole, hz: clock.hz };
}
