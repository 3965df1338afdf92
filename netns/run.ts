import { execa } from 'execa';

/** A command of the plumbing failed; the message is the command and what it printed, on one line. */
export class PlumbingError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`\`${command}\` failed: ${stderr.trim().split('\n')[0] || 'no output'}`);
    this.name = 'PlumbingError';
  }
}

/**
 * Run one plumbing command (ip, nft) and return its stdout. execa keeps the argument vector
 * intact (no shell) and its result carries stderr, which we fold into a one-line error.
 */
export async function run(file: string, args: string[], input?: string): Promise<string> {
  const r = await execa(file, args, { input, reject: false, stripFinalNewline: true });
  if (r.failed) {
    const shown = [file, ...args].join(' ') + (input ? ' <<EOF' : '');
    throw new PlumbingError(shown, String(r.stderr || r.shortMessage || ''));
  }
  return String(r.stdout);
}
