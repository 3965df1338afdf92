import { withProfile } from '../../core/profile.js';
import { assertCanRun } from '../../suite/preflight.js';
import { acquireTimingLock } from '../../suite/timing-lock.js';
import { type ExecArgs, type ExecOptions, execArgsFromOptions, execSysctls } from './args.js';
import { type AppLine, type AppReport, runApp } from './run.js';
import { type ProgramUser, resolveProgramUser } from './user.js';

/** What `deadpeer exec --json` prints and `exec()` returns: the run's report, its packets counted. */
export type ExecReport = Omit<AppReport, 'packets'> & {
  /** packets on the wire (the capture itself is artifacts.pcap) */
  packets: number;
  /** the experiment ran and the program noticed the dead peer */
  noticed: boolean;
  /** the gate (--max-notice / maxNotice), when given: seconds, and whether the program was later (or never noticed) */
  budgetS?: number;
  overBudget?: boolean;
  /** --fault blip:D: the connection came through — the kernel did not abort it and the program showed no failure */
  survived?: boolean;
  /** 0 noticed (within the budget, if any) — with a blip: survived; 1 not (or the experiment could not run): what the CLI exits with */
  exitCode: 0 | 1;
};

/** The program noticed: the experiment ran, and it showed something before the end (unlike a socket the kernel killed under it). */
export const noticed = (r: AppReport): boolean => !r.problems.length && r.t.appNoticed !== undefined && !r.unnoticed;

export function toExecReport(r: AppReport, budgetS?: number): ExecReport {
  const ok = noticed(r);
  if (r.blip && r.cannotJudge) return { ...r, packets: r.packets.length, noticed: ok, exitCode: 1 };
  if (r.blip) {
    // a blip heals: passing is the connection coming through, and the program carrying on
    const survived = !r.problems.length && r.t.kernelAbort === undefined && r.t.appNoticed === undefined;
    return { ...r, packets: r.packets.length, noticed: ok, survived, exitCode: survived ? 0 : 1 };
  }
  if (budgetS === undefined) return { ...r, packets: r.packets.length, noticed: ok, exitCode: ok ? 0 : 1 };
  const at = ok && r.t.origin !== undefined ? r.t.appNoticed! - r.t.origin : Infinity;
  const overBudget = at > budgetS;
  return { ...r, packets: r.packets.length, noticed: ok, budgetS, overBudget, exitCode: ok && !overBudget ? 0 : 1 };
}

/** Run the experiment these arguments describe (the caller has checked the machine and holds the timing lock). */
export async function runExecArgs(a: ExecArgs, hooks: { echo?: (l: AppLine) => void; say?: (t: string) => void; user?: ProgramUser } = {}): Promise<AppReport> {
  // the run records the profile; withProfile scopes it to this call, the caller's environment stays as it was
  return withProfile(a.profile, () => runApp({
    phase: a.phase,
    family: a.family,
    command: a.command,
    ...(a.server !== undefined ? { server: a.server } : {}),
    fault: a.fault,
    ...(a.blipS !== undefined ? { blipS: a.blipS } : {}),
    sysctls: execSysctls(a),
    ...(a.timeoutS !== undefined ? { timeoutS: a.timeoutS } : {}),
    graceS: a.graceS,
    strace: a.strace,
    ...hooks,
  }));
}

/**
 * Run a real program against a peer that vanishes and report when the kernel aborted its
 * connection and when — or whether — the program noticed: the same report `deadpeer exec --json`
 * prints. Bad options throw an InputError, a machine that cannot run it an EnvironmentError, both
 * before anything is created; waits for any other timing run on this machine first.
 */
export async function exec(options: ExecOptions): Promise<ExecReport> {
  const a = execArgsFromOptions(options);
  const user = a.user !== undefined ? resolveProgramUser(a.user, 'exec(): user') : undefined;
  await assertCanRun();
  const lock = await acquireTimingLock('deadpeer exec()');
  try {
    return toExecReport(await runExecArgs(a, { ...(options.onOutput ? { echo: options.onOutput } : {}), ...(user ? { user } : {}) }), a.maxNoticeS);
  } finally {
    await lock.release();
  }
}
