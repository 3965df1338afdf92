/** What the option parsers of `deadpeer model` and `deadpeer check` share (node:util parseArgs). */

/**
 * "--user-timeout -5" would read as two options: glue a value that looks like a negative number
 * to its option, so that the value check, not the option parser, reports it.
 */
export function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[a-z-]+$/.test(argv[i]!) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else out.push(argv[i]!);
  }
  return out;
}

/** A parseArgs error as one line that says what is allowed; `positional` words an unexpected argument. */
export function describeParseError(err: unknown, allowed: string, positional?: (arg: string) => string): string {
  const message = String((err as Error).message);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option "${unknown[1]}": allowed options are ${allowed}`;
  const missing = /Option '(-[^' ]+)[^']*' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value (see --help)`;
  const notValue = /Option '(-[^' ]+)[^']*' does not take an argument/.exec(message);
  if (notValue) return `${notValue[1]} takes no value`;
  const unexpected = /Unexpected argument '([^']+)'/.exec(message);
  if (unexpected && positional) return positional(unexpected[1]!);
  return `${message.split('\n')[0]} (allowed options: ${allowed})`;
}
