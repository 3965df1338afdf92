/**
 * fast (default): per-namespace sysctls and socket options lowered so each case takes seconds.
 * faithful (DEADPEER_PROFILE=faithful): kernel defaults, the reference experiments' conditions.
 * The model predicts for whatever values are in force, so both profiles assert the same rules.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TcpSysctls } from '../model/types.js';

export type ProfileName = 'fast' | 'faithful';

/**
 * The fast profile's sysctls for a client's namespace in `check` and `exec`: the SYN budget and the
 * retransmission budget lowered so connect, busy and zero-window end in seconds. tcp_retries2 5
 * (12.6 s) keeps the busy give-up clear of timer-wheel slack around a retransmission (see
 * cases/busy-retransmit).
 */
export const FAST_SYSCTLS: Partial<TcpSysctls> = { tcp_syn_retries: 3, tcp_retries2: 5 };

/** The profile a check() or exec() call chose, for everything it runs (its scenarios record it). */
const chosen = new AsyncLocalStorage<ProfileName>();

/**
 * Run `fn` under this profile: what it starts (and awaits) sees it from currentProfile(), and
 * nothing else does — the caller's process.env is not the place for one call's choice.
 */
export function withProfile<T>(profile: ProfileName, fn: () => T): T {
  return chosen.run(profile, fn);
}

/** The profile in force: the one a call chose (withProfile), else DEADPEER_PROFILE, else fast. */
export function currentProfile(): ProfileName {
  const p = chosen.getStore() ?? process.env.DEADPEER_PROFILE ?? 'fast';
  if (p !== 'fast' && p !== 'faithful') {
    throw new Error(`DEADPEER_PROFILE must be "fast" or "faithful", not "${p}"`);
  }
  return p;
}

/** Pick the value for the current profile. */
export function byProfile<T>(choices: Record<ProfileName, T>): T {
  return choices[currentProfile()];
}
