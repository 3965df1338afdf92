/**
 * The two ways deadpeer refuses before it touches anything. Both carry a one-line message that
 * names what is wrong and what to do, so a CLI prints it as it is and an API caller can tell a
 * mistake in its own input from a machine that cannot run kernel experiments.
 */

/** Bad input: an unknown option, a value out of range, a malformed config or spec. */
export class InputError extends Error {
  override name = 'InputError';
}

/** This machine cannot run the experiment: not root, `nft` missing, the helper not built, … */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}
