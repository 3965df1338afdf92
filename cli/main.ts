import { runningKernel } from '../harness/engine/kernel.js';
import { reapStale } from '../netns/reaper.js';
import { runCheck } from './check.js';
import { runExec } from './exec.js';
import { runHtml } from './html.js';
import { runKernels } from './kernels.js';
import { runModel } from './model.js';
import { runReport } from './report.js';
import { runSetup } from './setup.js';
import { runShow } from './show.js';

const USAGE = `usage: deadpeer <command> [options]

commands:
  report            run every case on this kernel and print the summary table (the main job)
  check …           run a client socket configuration through every phase on this kernel (deadpeer check --help)
  exec … -- CMD     run a real client program against a peer that vanishes (deadpeer exec --help)
  model <phase> …   what the kernel model predicts, without running anything (deadpeer model --help)
  show <dir|json>   the side-by-side model/kernel timeline of a saved run
  kernels <dir…>    the cross-kernel table from kernel-matrix result folders (npm run matrix)
  html <run dir>    (re)write <run dir>/report.html, the run report with every case's timeline picture
  reap              remove namespaces left behind by a killed run (only dp- ones whose owner is dead)
  setup             install what is missing here (apt packages, as root) and build the native helper
  help              this text`;

/** The CLI. Returns the exit code: 0 ok, 1 a check failed, 2 bad usage. Errors are one line. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
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
      case 'show':
        return runShow(rest);
      case 'kernels':
        return runKernels(rest);
      case 'html':
        return runHtml(rest);
      case 'setup':
        return runSetup(rest);
      case 'reap': {
        if (rest.length) return fail(`deadpeer reap: unexpected argument "${rest[0]}" (it takes none)`, 2);
        if (process.getuid?.() !== 0) return fail('deadpeer reap: must run as root (it deletes network namespaces)', 2);
        const reaped = await reapStale();
        process.stdout.write(reaped.length ? `reaped: ${reaped.join(' ')}\n` : 'nothing to reap\n');
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        return fail(`deadpeer: unknown command "${cmd}" (commands: report, check, exec, model, show, kernels, html, reap, setup, help)`, 2);
    }
  } catch (e) {
    return fail(`deadpeer ${cmd}: ${(e as Error).message.split('\n')[0]}`, 1);
  }
}

function fail(msg: string, code: number): number {
  process.stderr.write(msg + '\n');
  return code;
}
