import { withProfile } from '../../core/profile.js';
import { assertCanRun } from '../../suite/preflight.js';
import { acquireTimingLock } from '../../suite/timing-lock.js';
import { type ExecArgs, type ExecOptions, execArgsFromOptions, execSysctls, middleboxRunPlan } from './args.js';
import type { AppPath } from './path.js';
import { type AppLine, type AppReport, runApp } from './run.js';
import { runServerApp, type ServerFault, type ServerPhase } from './server-role.js';
import { DEFAULT_MAX_RUN_S } from '../check/args.js';
import { type ProgramUser, resolveProgramUser } from './user.js';

/** What `deadpeer exec --json` prints and `exec()` returns: the run's report, its packets counted. */
export type ExecReport = Omit<AppReport, 'packets' | 'path'> & {
  /** packets on the wire (the capture itself is artifacts.pcap) */
  packets: number;
  /** --middlebox: the path's part (harness/apps/exec/path.ts AppPath), its server leg counted (the capture is capture-server-leg.pcap) */
  path?: Omit<AppPath, 'serverLeg'> & { serverLeg: number };
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
  const { path, ...rest } = r;
  if (r.role === 'server') {
    // the server's half passes when it let go of the dead client (and the resource went, when asked), or when only predicted
    const sd = r.serverSide!;
    const ok = !r.problems.length && (sd.notRun !== undefined || (r.t.serverReleased !== undefined && (sd.released === undefined || r.t.released !== undefined)));
    return { ...rest, packets: r.packets.length, noticed: r.t.serverReleased !== undefined, exitCode: ok ? 0 : 1 };
  }
  if (path) return pathExecReport(r, path, budgetS);
  const ok = noticed(r);
  if (r.blip && r.cannotJudge) return { ...rest, packets: r.packets.length, noticed: ok, exitCode: 1 };
  if (r.blip) {
    // a blip heals: passing is the connection coming through, and the program carrying on
    const survived = !r.problems.length && r.t.kernelAbort === undefined && r.t.appNoticed === undefined;
    return { ...rest, packets: r.packets.length, noticed: ok, survived, exitCode: survived ? 0 : 1 };
  }
  if (budgetS === undefined) return { ...rest, packets: r.packets.length, noticed: ok, exitCode: ok ? 0 : 1 };
  const at = ok && r.t.origin !== undefined ? r.t.appNoticed! - r.t.origin : Infinity;
  const overBudget = at > budgetS;
  return { ...rest, packets: r.packets.length, noticed: ok, budgetS, overBudget, exitCode: ok && !overBudget ? 0 : 1 };
}

/**
 * Behind a middlebox the program passes (exit 0) when nothing met a forgotten mapping and its
 * connection came through (the kernel did not abort it), or when it noticed the forgotten mapping —
 * within the gate, counted from its own next transmission (the trigger), since a program cannot
 * notice before it sends; a reset that fails at once passes. Predicted only (timeout over the run's
 * budget): 0 with the model's answer.
 */
function pathExecReport(r: AppReport, path: AppPath, budgetS: number | undefined): ExecReport {
  const { serverLeg, ...rest } = path;
  const { path: _path, ...report } = r;
  const out = { ...report, packets: r.packets.length, path: { ...rest, serverLeg: serverLeg.length } };
  const ok = noticed(r);
  if (path.notRun) return { ...out, noticed: false, exitCode: r.problems.length ? 1 : 0 };
  if (r.problems.length) return { ...out, noticed: false, exitCode: 1 };
  if (!path.trigger && r.t.kernelAbort === undefined && !r.unnoticed) {
    // the mapping held (or nothing met the forgotten one): nothing to notice — unless it was forgotten under a program that never sent again
    const hung = path.mapping.observed === 'forgotten';
    return { ...out, noticed: false, survived: !hung, exitCode: hung ? 1 : 0 };
  }
  const from = path.trigger?.t ?? r.t.origin;
  const at = ok && from !== undefined ? r.t.appNoticed! - from : Infinity;
  if (budgetS === undefined) return { ...out, noticed: ok, exitCode: ok ? 0 : 1 };
  const overBudget = at > budgetS;
  return { ...out, noticed: ok, budgetS, overBudget, exitCode: ok && !overBudget ? 0 : 1 };
}

/** Run the experiment these arguments describe (the caller has checked the machine and holds the timing lock). */
export async function runExecArgs(a: ExecArgs, hooks: { echo?: (l: AppLine) => void; say?: (t: string) => void; user?: ProgramUser } = {}): Promise<AppReport> {
  if (a.role === 'server') {
    return withProfile(a.profile, () =>
      runServerApp({
        phase: a.phase as ServerPhase,
        family: a.family,
        command: a.command,
        ...(a.client !== undefined ? { client: a.client } : {}),
        ...(a.released !== undefined ? { released: a.released } : {}),
        fault: a.fault as ServerFault,
        // the fast profile's budgets go to the side under test: here the server's namespace
        serverSysctls: execSysctls(a),
        ...(a.timeoutS !== undefined ? { timeoutS: a.timeoutS } : {}),
        budgetS: DEFAULT_MAX_RUN_S[a.profile],
        graceS: a.graceS,
        ...(hooks.echo ? { echo: hooks.echo } : {}),
        ...(hooks.say ? { say: hooks.say } : {}),
      }),
    );
  }
  const plan = middleboxRunPlan(a);
  // the run records the profile; withProfile scopes it to this call, the caller's environment stays as it was
  return withProfile(a.profile, () => runApp({
    phase: a.phase,
    family: a.family,
    command: a.command,
    ...(a.server !== undefined ? { server: a.server } : {}),
    fault: a.fault,
    ...(a.blipS !== undefined ? { blipS: a.blipS } : {}),
    ...(a.middlebox ? { middlebox: a.middlebox } : {}),
    ...(plan.run ? {} : { predictOnly: plan.why }),
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
