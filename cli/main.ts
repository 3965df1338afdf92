import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseCheckArgs } from '../harness/apps/check/args.js';
import { InputError } from '../harness/core/errors.js';
import { oneLine } from '../harness/core/one-line.js';
import { ROOT } from '../harness/core/paths.js';
import { runningKernel } from '../harness/engine/kernel.js';
import { needsUserNamespace, runWhereExperimentsRun, withSystemDirs } from '../harness/suite/rootless.js';
import { TimingLockError } from '../harness/suite/timing-lock.js';
import { reapStale } from '../netns/reaper.js';
import { runAuditCommand } from './audit.js';
import { parseExecArgs } from './exec.js';
import { runCheck } from './check.js';
import { runExec } from './exec.js';
import { runHtml } from './html.js';
import { runKernels } from './kernels.js';
import { runModel } from './model.js';
import { runReport } from './report.js';
import { runRecommend } from './recommend.js';
import { runSetup } from './setup.js';
import { runShow } from './show.js';

const USAGE = `usage: deadpeer <command> [options]

commands:
  report            run every case on this kernel and print the summary table (the main job)
  check …           run a client socket configuration through every phase on this kernel (deadpeer check --help)
  exec … -- CMD     run a real client program against a peer that vanishes (deadpeer exec --help)
  audit PID…|--all  the connections of running programs, judged: when each would notice a dead peer (deadpeer audit --help)
  model <phase> …   what the kernel model predicts, without running anything (deadpeer model --help)
  recommend …       the settings that notice a dead peer within a budget and survive a blip (deadpeer recommend --help)
  show <dir|json>   the side-by-side model/kernel timeline of a saved run
  kernels <dir…>    the cross-kernel table from kernel-matrix result folders (npm run matrix)
  html <run dir>    (re)write <run dir>/report.html, the run report with every case's timeline picture
  reap              remove namespaces left behind by a killed run (only dp- ones whose owner is dead)
  run -- CMD…       run a command where deadpeer's experiments can run (as root: as it is; as a normal
                    user: in a user namespace of deadpeer's own — npm test is \`deadpeer run -- vitest run\`)
  setup             install what is missing here (apt packages, as root) and build the native helper
  help              this text

As a normal user, report, check, exec and run go on rootless, inside a user namespace of their own:
no SCHED_FIFO for the helpers, and the model's times are the ideal ones (docs/DESIGN.md).
audit runs as you, without a namespace: your own processes, or anyone's as root (or CAP_SYS_PTRACE).`;

/** The commands that run experiments: a normal user's go on inside a user namespace of their own. */
const EXPERIMENTS: Record<string, string> = { report: 'deadpeer report', check: 'deadpeer check', exec: 'deadpeer exec' };

/**
 * Whether this invocation only prints (help, a refused argument) and needs no namespace: answered
 * here, at once, rather than after waiting for another run's timing lock.
 */
function onlyPrints(cmd: string, rest: string[]): boolean {
  if (cmd === 'check') return parseCheckArgs(rest, { features: runningKernel() }).kind !== 'args';
  if (cmd === 'exec') return parseExecArgs(rest).kind !== 'args';
  return rest.length > 0 || !existsSync(join(ROOT, 'cases')); // report takes no arguments, and runs a checkout's cases
}

/** The CLI. Returns the exit code: 0 ok, 1 a check failed, 2 bad usage. Errors are one line. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // ip and nft live in /usr/sbin. The CLI's own process, so its own environment: the library
  // functions never write process.env (test/unit/env-untouched.test.ts lists the few exceptions)
  process.env.PATH = withSystemDirs(process.env.PATH);
  try {
    if (cmd && EXPERIMENTS[cmd] && needsUserNamespace() && !onlyPrints(cmd, rest))
      return await runWhereExperimentsRun([process.execPath, join(ROOT, 'bin', 'deadpeer.js'), ...argv], { what: EXPERIMENTS[cmd], prefix: EXPERIMENTS[cmd] });
    switch (cmd) {
      case 'model': {
        const r = runModel(rest, { features: runningKernel() });
        if (r.stdout) process.stdout.write(r.stdout.endsWith('\n') ? r.stdout : r.stdout + '\n');
        if (r.stderr) process.stderr.write(r.stderr.endsWith('\n') ? r.stderr : r.stderr + '\n');
        return r.code;
      }
      case 'report':
        return await runReport(rest);
      case 'check':
        return await runCheck(rest);
      case 'exec':
        return await runExec(rest);
      case 'audit':
        return await runAuditCommand(rest);
      case 'show':
        return runShow(rest);
      case 'kernels':
        return runKernels(rest);
      case 'html':
        return runHtml(rest);
      case 'recommend':
        return await runRecommend(rest);
      case 'setup':
        return runSetup(rest);
      case 'run': {
        const command = rest[0] === '--' ? rest.slice(1) : rest;
        if (!command.length) return fail('deadpeer run: no command: deadpeer run -- <command…>, e.g. deadpeer run -- vitest run', 2);
        return await runWhereExperimentsRun(command, { what: `deadpeer run -- ${command.join(' ')}`, prefix: 'deadpeer run' });
      }
      case 'reap': {
        if (rest.length) return fail(`deadpeer reap: unexpected argument "${rest[0]}" (it takes none)`, 2);
        if (needsUserNamespace()) {
          // a rootless run's namespaces live in its own user and mount namespaces and die with it
          process.stdout.write("nothing to reap: a rootless run's namespaces die with it\n");
          return 0;
        }
        const reaped = await reapStale();
        process.stdout.write(reaped.length ? `reaped: ${reaped.join(' ')}\n` : 'nothing to reap\n');
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        if (rest.length) return fail(`deadpeer ${cmd}: unexpected argument "${rest[0]}" (it takes none: deadpeer <command> --help for a command's options)`, 2);
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        return fail(`deadpeer: unknown command "${cmd}" (commands: report, check, exec, audit, model, recommend, show, kernels, html, reap, run, setup, help)`, 2);
    }
  } catch (e) {
    // bad input (DEADPEER_LOCK_WAIT_S among it) and a timing lock we will not wait for are refusals: 2
    const refused = e instanceof InputError || e instanceof TimingLockError;
    return fail(`deadpeer ${cmd}: ${(e as Error).message.split('\n')[0]}`, refused ? 2 : 1);
  }
}

/** A refusal: one line whatever the values echoed in it held (harness/core/one-line.ts). */
function fail(msg: string, code: number): number {
  process.stderr.write(oneLine(msg) + '\n');
  return code;
}
