import { spawn } from 'node:child_process';
import { EnvironmentError, InputError } from '../../core/errors.js';
import { ensureHelper, helperPath } from '../../helper/build.js';
import { type DoneLine, parseReaderLine, ReaderProtocolError, type ReaderLine } from './reader-events.js';
import type { AuditArgs } from './args.js';

/**
 * The reader: the native helper once, in its audit mode, for every socket of the targets — one
 * process, however many sockets, and its lines handed on as they come (a 100 k-socket audit never
 * holds the whole output as text).
 */

/** The reader's arguments for these targets. */
export function readerArgs(a: Pick<AuditArgs, 'pids' | 'all' | 'netns'>): string[] {
  return ['audit', ...a.pids.flatMap((p) => ['--pid', String(p)]), ...(a.all ? ['--all'] : []), ...(a.netns !== undefined ? ['--netns', a.netns] : [])];
}

/** Run the reader; `onLine` gets each line in order. Resolves with its totals. */
export async function runReader(a: Pick<AuditArgs, 'pids' | 'all' | 'netns'>, onLine: (l: ReaderLine) => void): Promise<DoneLine> {
  const problem = ensureHelper();
  if (problem) throw new EnvironmentError(problem);
  // no real-time priority: the reader times nothing, and a normal user could not have it
  const proc = spawn(helperPath(), readerArgs(a), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEADPEER_HELPER_RT: '0' } });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal }));
  });
  let done: DoneLine | undefined;
  let failure: Error | undefined;
  const take = (text: string) => {
    if (failure || !text) return;
    try {
      const line = parseReaderLine(text);
      if (!line) return;
      if (line.ev === 'done') done = line;
      else onLine(line);
    } catch (e) {
      // read on to the end, so the reader is never left blocked on a full pipe
      failure = e as Error;
      proc.kill('SIGTERM');
    }
  };
  // lines split as the chunks come, synchronously: an async line iterator costs a promise per socket
  let rest = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const l of lines) take(l);
  });
  await new Promise<void>((resolve) => {
    proc.stdout.on('end', resolve);
    proc.on('error', () => resolve()); // it never started: `exited` says why
  });
  take(rest);
  const { code, signal } = await exited;
  if (failure) throw failure instanceof ReaderProtocolError ? new Error(`the helper's audit output: ${failure.message}`) : failure;
  const said = stderr.trim().split('\n')[0]?.replace(/^deadpeer-helper audit: /, '') ?? '';
  // 2: the reader refused its arguments (a namespace file that is none, a pid that exited meanwhile)
  if (code === 2) throw new InputError(said || 'the reader refused its arguments');
  if (code !== 0 || !done) throw new Error(`the helper's audit ${signal ? `was killed by ${signal}` : `exited with ${code}`}${said ? `: ${said}` : ' without its totals'}`);
  return done;
}
