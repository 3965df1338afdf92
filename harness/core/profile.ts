/**
 * fast (default): per-namespace sysctls and socket options lowered so each case takes seconds.
 * faithful (DEADPEER_PROFILE=faithful): kernel defaults, the reference experiments' conditions.
 * The model predicts for whatever values are in force, so both profiles assert the same rules.
 */
export type ProfileName = 'fast' | 'faithful';

export function currentProfile(): ProfileName {
  const p = process.env.DEADPEER_PROFILE ?? 'fast';
  if (p !== 'fast' && p !== 'faithful') {
    throw new Error(`DEADPEER_PROFILE must be "fast" or "faithful", not "${p}"`);
  }
  return p;
}

/** Pick the value for the current profile. */
export function byProfile<T>(choices: Record<ProfileName, T>): T {
  return choices[currentProfile()];
}
