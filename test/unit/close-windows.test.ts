import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';
import { describeRun, judgeClose } from '../close-windows.js';
import type { Observation } from '../../harness/core/observation.js';

/**
 * The judge of `deadpeer model`'s closeWindow against a run (test/model-close-windows.test.ts
 * applies it to every observation of the suite) can fail: on a real run it passes, and each
 * doctoring of that run that moves the close out of the window, or the run's model away from the
 * command's, fails it.
 */
const real = (): Observation => JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'idle-keepalive-on-ipv4.observation.json'), 'utf8'));
const judge = (obs: Observation) => {
  const d = describeRun(obs);
  if ('inexpressible' in d) throw new Error(d.inexpressible);
  return judgeClose(obs, d.args);
};

describe('closeWindow against an observation', () => {
  it('a real run (idle, keepalive 5/3/3): described as the command line a user would type, its close inside', () => {
    const j = judge(real());
    expect(j.argv).toEqual(['idle', '--json', '--keepalive', '5:3:3', '--peer', 'gone']);
    expect(j.problems).toEqual([]);
    expect(j.closeAt).toBe(14);
    expect(j.closeWindow).toEqual([13.996, 15.04]);
    expect(j.margin).toBeGreaterThan(0);
  });

  it('a close moved past the window (beyond what observing it adds) fails; one just inside passes', () => {
    const late = real();
    late.close!.t = late.origin + 15.04 + 0.011;
    expect(judge(late).problems).toEqual([expect.stringMatching(/^ended at 15\.051 s, outside deadpeer model's closeWindow 13\.996…15\.040 s$/)]);
    const edge = real();
    edge.close!.t = edge.origin + 15.04 + 0.009; // the helper's wake-up after the kernel's moment
    expect(judge(edge).problems).toEqual([]);
    expect(judge(edge).margin).toBeLessThan(0);
    const early = real();
    early.close!.t = early.origin + 13.99;
    expect(judge(early).problems).toEqual([expect.stringMatching(/outside deadpeer model's closeWindow/)]);
  });

  it('a run that never closed, where the command says it does, fails', () => {
    const open = real();
    open.close = null;
    expect(judge(open).problems).toEqual([expect.stringMatching(/the run saw no end/)]);
  });

  it("a run whose own model answered differently from the command fails: the command must compute what the cases assert", () => {
    const other = real();
    other.settings.client.socket.keepCnt = 4; // the command now predicts 17 s for what the case predicted as 14 s
    expect(judge(other).problems).toEqual([expect.stringMatching(/answers .* the case's model/), expect.stringMatching(/outside/)]);
  });

  it('what the kernel ignores stays (the command answers it), what the command refuses is left out; what it cannot express is said', () => {
    const busyKeepalive = real();
    busyKeepalive.phase = 'busy';
    busyKeepalive.prediction = { ...busyKeepalive.prediction, phase: 'busy', inputs: { peer: 'gone', rtoMs: 204, tlpMs: 204 } };
    const d = describeRun(busyKeepalive);
    expect('args' in d && d.dropped).toEqual([]);
    expect('args' in d && d.args.keepalive).toEqual({ idle: 5, intvl: 3, cnt: 3 });
    const synSentAlive = real();
    synSentAlive.phase = 'syn-sent';
    synSentAlive.prediction = { ...synSentAlive.prediction, phase: 'syn-sent', inputs: {} };
    const s = describeRun({ ...synSentAlive, settings: { ...synSentAlive.settings, client: { ...synSentAlive.settings.client, socket: { ...synSentAlive.settings.client.socket, rtoMaxMs: 5000 } } }, kernel: { ...synSentAlive.kernel, rtoMax: false } });
    // a kernel without TCP_RTO_MAX_MS (doctored): the option and the sysctl cannot be represented, and are left out
    expect('args' in s && s.dropped).toEqual([expect.stringMatching(/^--rto-max \(Linux .* has no TCP_RTO_MAX_MS/), expect.stringMatching(/^--sysctl tcp_rto_max_ms \(does not exist/)]);
    expect('args' in s && s.args.keepalive).toEqual({ idle: 5, intvl: 3, cnt: 3 }); // ignored by the kernel in syn-sent: answered
    const noInputs = real();
    noInputs.phase = 'busy';
    expect(describeRun(noInputs)).toEqual({ inexpressible: expect.stringMatching(/does not record its measured RTO/) });
    // a local drop is no `deadpeer model` option: described as a vanished peer it would be judged by the wrong model
    const localDrop = real();
    localDrop.phase = 'busy';
    localDrop.prediction = { ...localDrop.prediction, phase: 'busy', inputs: { peer: 'gone', rtoMs: 204, localDrop: true } };
    expect(describeRun(localDrop)).toEqual({ inexpressible: expect.stringMatching(/own egress dropped its packets/) });
  });
});
