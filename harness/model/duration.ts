/**
 * The one duration grammar of every command and option (30s, 1500ms, 2m, a bare number = seconds).
 * It lives in the model's room because the model's own vocabulary (a middlebox's idle timeout)
 * is written in it too; the apps wrap it with their one-line InputError.
 */

/** Seconds, or undefined when the value is not a duration (a number is taken as seconds as it is). */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return value >= 0 && Number.isFinite(value) ? value : undefined;
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$/.exec(value) : null;
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' || m[2] === 'min' ? n * 60 : n;
}

/** What the grammar accepts, for the messages that refuse a value. */
export const DURATION_EXAMPLES = 'a duration such as 30s, 1500ms or 2m';
