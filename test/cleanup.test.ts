import { readdirSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { kernelCases } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictIdle } from '../harness/model/idle.js';
import { runScenario } from '../harness/engine/scenario.js';
import { accept, arm, connect, established, listen } from '../harness/engine/steps.js';
import { vethInHost } from '../netns/link.js';
import { listNamespaces } from '../netns/namespace.js';
import { sideInput } from '../harness/core/observation.js';
import type { ScenarioSpec, Step } from '../harness/engine/run.js';


/** Nothing of a run may outlive it: namespaces (and with them veths and nft tables) and helpers. */
const myNamespaces = async () => (await listNamespaces()).filter((n) => n.startsWith(`dp-${process.pid}x`));

/** Helper processes that are children of this test process (their comm is the binary's name, cut to 15). */
function myHelpers(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('deadpeer-helper')) pids.push(Number(d));
    } catch {
      /* exited while we looked */
    }
  }
  return pids;
}

const boom: Step = {
  label: 'boom',
  run: () => {
    throw new Error('deliberate failure');
  },
};

const spec = (name: string, steps: Step[]): ScenarioSpec => ({
  name,
  phase: 'idle',
  family: 4,
  model: (s) => predictIdle(sideInput(s, 'client')),
  steps,
});

// sequential: each test looks at this process's namespaces and children, which the other would share
kernelCases('cleanup on every path', () => {
  it.sequential('a step that throws: the error names the step; namespaces and helpers are gone', async () => {
    const err = await runScenario(spec('cleanup-throws', [listen(), connect(), established(), accept(), arm(faults.blackhole()), boom])).catch((e: Error) => e);
    expect(String(err)).toMatch(/step "boom" of cleanup-throws \(IPv4\) failed: deliberate failure/);
    expect(await myNamespaces()).toEqual([]);
    expect(vethInHost()).toBe(false);
    expect(myHelpers()).toEqual([]);
  });

  it.sequential('a run that passes leaves nothing either', async () => {
    const obs = await runScenario(spec('cleanup-passes', [listen(), connect(), established(), accept()]));
    expect(obs.close).toBeNull();
    expect(await myNamespaces()).toEqual([]);
    expect(vethInHost()).toBe(false);
    expect(myHelpers()).toEqual([]);
  });
});
