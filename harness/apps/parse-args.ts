/** What the option parsers of every deadpeer command share (node:util parseArgs). */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { InputError } from '../core/errors.js';

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

/** "--phases is given twice: keep one" — the words of every repeated-input refusal. */
export const givenTwice = (what: string, times = 2) => `${what} is given ${times === 2 ? 'twice' : `${times} times`}: keep one`;

/**
 * parseArgs, where an option given twice is refused instead of the last one silently winning
 * (`--max-detect 30s --max-detect 10s` would gate at 10 s, and nobody said which one was meant).
 * An option that is a list by design (`multiple: true`, such as `--sysctl NAME=VALUE`) stays
 * repeatable, but `distinct[option]` names what each value sets, and the same thing twice is
 * refused. Throws an InputError (describeParseError words it as it is).
 */
export function parseOnce<T extends ParseArgsConfig>(config: T, distinct: Record<string, (value: string) => string> = {}): ReturnType<typeof parseArgs<T>> {
  const { tokens, ...parsed } = parseArgs({ ...config, tokens: true });
  const seen = new Map<string, number>();
  for (const t of tokens ?? []) {
    if (t.kind !== 'option') continue;
    const key = distinct[t.name] && t.value !== undefined ? `--${t.name} ${distinct[t.name]!(t.value)}` : `--${t.name}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const repeated = [...seen].find(([, n]) => n > 1);
  if (repeated) throw new InputError(givenTwice(repeated[0], repeated[1]));
  return (config.tokens ? { ...parsed, tokens } : parsed) as ReturnType<typeof parseArgs<T>>;
}

/**
 * The same item twice in one comma-separated list (`--phases idle,idle`) or mapping: refused like
 * a repeated option, rather than quietly counted once (or, for `idle=20s,idle=30s`, the last).
 */
export function refuseRepeats(where: string, items: readonly string[]): void {
  const twice = items.find((x, i) => items.indexOf(x) !== i);
  if (twice !== undefined) throw new InputError(`${where}: ${givenTwice(twice, items.filter((x) => x === twice).length)}`);
}

/** A parseArgs error as one line that says what is allowed; `positional` words an unexpected argument. */
export function describeParseError(err: unknown, allowed: string, positional?: (arg: string) => string): string {
  if (err instanceof InputError) return err.message;
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
