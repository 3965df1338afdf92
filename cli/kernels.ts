import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadKernelRun, renderKernelsHtml, renderKernelsMarkdown } from '../harness/report/kernels.js';
import { oneLine } from '../harness/core/one-line.js';

const USAGE = 'usage: deadpeer kernels [--out FILE.md] [--html FILE.html] <kernel result folder…>   (folders written by matrix/run.sh, e.g. deadpeer-results/matrix/*)';

/**
 * `deadpeer kernels <dirs…>`: the cross-kernel table (markdown) from the folders the kernel matrix
 * left, one per kernel; markdown to stdout or to --out (matrix/run.sh writes docs/KERNELS.md this
 * way), and with --html the same table as a page linking each kernel's run report.
 * Exit 0 when every kernel ran and agreed with its model, 1 otherwise (the table is written anyway).
 */
export function runKernels(argv: string[]): number {
  let out: string | undefined;
  let html: string | undefined;
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') {
      out = argv[++i];
      if (!out) return usage('--out needs a file');
    } else if (a === '--html') {
      html = argv[++i];
      if (!html) return usage('--html needs a file');
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else if (a.startsWith('-')) return usage(`unknown option ${a}`);
    else dirs.push(a);
  }
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
  process.stderr.write(`${oneLine(`deadpeer kernels: ${why}`)}\n${USAGE}\n`);
  return 2;
}
