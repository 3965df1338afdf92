import { expect } from 'vitest';
import type { Duration } from '../apps/check/args.js';
import { parseDuration } from '../apps/check/args.js';
import type { ExecReport } from '../apps/exec/exec.js';
import type { AppReport } from '../apps/exec/run.js';

/**
 * vitest matchers over what exec() returns: did the program notice the vanished peer, how soon,
 * and with which error. Times count from the phase's t = 0 (`report.t.origin`: the first SYN, the
 * last packet from the peer, the first unacknowledged data, the zero window), the same origin as
 * `deadpeer exec` prints. A report whose experiment could not run (never connected, never went
 * quiet, …) fails every one of them, with the reason: it proves nothing either way.
 */
export interface ExecMatchers<R = unknown> {
  /** The program noticed the dead peer (printed an error, closed the socket or exited) within `duration` of t = 0. */
  toNoticeWithin(duration: Duration): R;
  /** The error the program showed is this errno (by name, or recognised from its strerror text). */
  toFailWith(errno: string): R;
  /** The program showed no sign of noticing before the run ended (whether or not the kernel had aborted the socket). */
  toStayUnnoticed(): R;
}

declare module 'vitest' {
  interface Matchers<T = any> extends ExecMatchers<T> {}
}

type Report = ExecReport | AppReport;

const isReport = (r: unknown): r is Report => !!r && typeof r === 'object' && 'app' in r && 't' in r && 'problems' in r;
const secs = (r: Report, t: number | undefined) => (t === undefined || r.t.origin === undefined ? undefined : t - r.t.origin);
const fmt = (s: number | undefined) => (s === undefined ? '—' : `${s.toFixed(3)} s`);

/** What happened, in one paragraph: the failure message's evidence. */
function story(r: Report): string {
  const lines = [`  ${r.command.join(' ')} — phase ${r.phase}, fault ${r.fault}, IPv${r.family}, kernel ${r.kernel.release}`];
  if (r.problems.length) lines.push(...r.problems.map((p) => `  ! the experiment did not run: ${p}`));
  lines.push(`  kernel aborted the socket: ${r.t.kernelAbort === undefined ? 'not seen' : fmt(secs(r, r.t.kernelAbort))}${r.prediction ? ` (model: ${r.prediction.closeAt === null ? 'never' : fmt(r.prediction.closeAt)})` : ''}`);
  lines.push(`  program noticed: ${r.t.appNoticed === undefined ? 'no' : `${fmt(secs(r, r.t.appNoticed))} by ${r.app.noticedBy}${r.app.noticedLine ? `: "${r.app.noticedLine}"` : ''}`}`);
  lines.push(`  errno shown: ${r.app.errno ?? '—'}; expected ${r.expectedErrno ?? '—'}`);
  lines.push(`  artifacts: ${r.artifacts.dir}`);
  return lines.join('\n');
}

const notAReport = (name: string, r: unknown) => ({ pass: false, message: () => `${name} expects what exec() returns, got ${JSON.stringify(r)?.slice(0, 80)}` });

expect.extend({
  toNoticeWithin(r: unknown, duration: Duration) {
    if (!isReport(r)) return notAReport('toNoticeWithin', r);
    const limit = parseDuration('toNoticeWithin', duration);
    const at = secs(r, r.t.appNoticed);
    const pass = !r.problems.length && !r.unnoticed && at !== undefined && at <= limit;
    return {
      pass,
      message: () => `expected the program ${pass ? 'not ' : ''}to notice the vanished peer within ${limit} s of t = 0\n${story(r)}`,
    };
  },
  toFailWith(r: unknown, errno: string) {
    if (!isReport(r)) return notAReport('toFailWith', r);
    const pass = !r.problems.length && r.app.errno === errno;
    return {
      pass,
      message: () => `expected the program ${pass ? 'not ' : ''}to fail with ${errno}${r.app.errno ? '' : ' (it showed no errno)'}\n${story(r)}`,
    };
  },
  toStayUnnoticed(r: unknown) {
    if (!isReport(r)) return notAReport('toStayUnnoticed', r);
    const pass = !r.problems.length && r.t.appNoticed === undefined;
    return {
      pass,
      message: () => `expected the vanished peer ${pass ? 'to be noticed' : 'to stay unnoticed by the program'}\n${story(r)}`,
    };
  },
});
