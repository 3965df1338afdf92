import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeParseError, givenTwice, parseOnce } from '../harness/apps/parse-args.js';
import { loadKernelRun, renderKernelsHtml, renderKernelsMarkdown } from '../harness/report/kernels.js';
import { oneLine } from '../harness/core/one-line.js';

const USAGE = 'usage: deadpeer kernels [--out FILE.md] [--html FILE.html] <kernel result folder…>   (folders written by matrix/run.sh, e.g. deadpeer-results/matrix/*)';

const OPTIONS = {
  out: { type: 'string' },
  html: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every flag `deadpeer kernels` takes (the option walk tries each one twice). */
export const KERNELS_FLAGS = Object.keys(OPTIONS).map((o) => `--${o}`);

/**
 * `deadpeer kernels <dirs…>`: the cross-kernel table (markdown) from the folders the kernel matrix
 * left, one per kernel; markdown to stdout or to --out (matrix/run.sh writes docs/KERNELS.md this
 * way), and with --html the same table as a page linking each kernel's run report.
 * Exit 0 when every kernel ran and agreed with its model, 1 otherwise (the table is written anyway).
 */
export function runKernels(argv: string[]): number {
  let parsed;
  try {
    parsed = parseOnce({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    return usage(describeParseError(e, KERNELS_FLAGS.join(' ')));
  }
  const { values, positionals: dirs } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { out, html } = values;
  if (out === '' || html === '') return usage(`--${out === '' ? 'out' : 'html'} needs a file`);
  const twice = dirs.map((d) => resolve(d)).find((d, i, all) => all.indexOf(d) !== i);
  if (twice) return usage(givenTwice(`the folder ${twice}`));
  if (!dirs.length) return usage('no kernel result folders given');
  const missing = dirs.find((d) => !existsSync(d) || !statSync(d).isDirectory());
  if (missing) return usage(`not a folder: ${missing}`);
  const runs = dirs.map(loadKernelRun);
  const md = renderKernelsMarkdown(runs, { generatedAt: new Date(), command: 'npm run matrix' });
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
  } else process.stdout.write(md);
  if (html) {
    mkdirSync(dirname(html), { recursive: true });
    writeFileSync(html, renderKernelsHtml(runs, { baseDir: dirname(resolve(html)), generatedAt: new Date() }));
  }
  const bad = runs.some((r) => r.noResult || r.exitCode !== 0 || r.failures.length);
  return bad ? 1 : 0;
}

function usage(why: string): number {
  process.stderr.write(`${oneLine(`deadpeer kernels: ${why}`)} (deadpeer kernels --help for the usage)\n`);
  return 2;
}
