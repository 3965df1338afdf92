import { expect, it } from 'vitest';
import { FAMILIES, kernelCases, timeoutFor } from '../harness/case.js';
import { faults } from '../harness/faults.js';
import { predictBusy } from '../harness/model/busy.js';
import { runScenario, sideInput } from '../harness/scenario.js';
import { accept, arm, awaitClose, connect, established, listen, measureRto, send, hold } from '../harness/steps.js';
import { renderTimeline } from '../harness/timeline-text.js';
import { judgeTimeline } from '../harness/verdict.js';

const busy = (name: string, family: 4 | 6, bytes: number, options: Record<string, number>, sysctls: Record<string, number>, pre: number) =>
  runScenario({
    name: `busy-explore/${name}`,
    phase: 'busy',
    family,
    client: { options, sysctls },
    model: (s) => predictBusy({ ...sideInput(s, 'client'), rtoMs: s.rtoMs! }),
    steps: [listen(), connect(), established(), accept(), measureRto('client'), arm(faults.blackhole()), ...(pre ? [hold(pre)] : []), send('client', bytes), awaitClose()],
  });

for (const family of [4] as const) {
  kernelCases(`explore ${family}`, () => {
    for (const [name, bytes, opts, sc, pre] of [
      ['one-seg', 1000, {}, { tcp_retries2: 5 }, 0],
      ['multi-seg', 20000, {}, { tcp_retries2: 5 }, 0],
      ['ut', 1000, { TCP_USER_TIMEOUT: 5000 }, { tcp_retries2: 5 }, 0],
      ['ut-pre', 1000, { TCP_USER_TIMEOUT: 5000 }, { tcp_retries2: 5 }, 3],
    ] as const) {
      it(name, { timeout: 60000 }, async () => {
        const obs = await busy(name, family, bytes, opts, sc, pre);
        console.log(renderTimeline(obs, judgeTimeline(obs)));
        console.log(JSON.stringify(obs.snapshots), JSON.stringify(obs.marks), obs.origin);
      });
    }
  });
}
