import { describe, expect, it } from 'vitest';
import { checkArgsFromOptions, parseCheckArgs } from '../../harness/apps/check/args.js';
import { type MiddleboxMeasured, adviseMiddlebox, middleboxResult, planMiddleboxRun, withMeasured } from '../../harness/apps/check/middlebox.js';
import { findPreset, type SocketConfig } from '../../harness/apps/check/presets.js';
import { socketSettingsFor } from '../../harness/apps/check/run.js';
import { InputError } from '../../harness/core/errors.js';
import { FAST_SYSCTLS } from '../../harness/core/profile.js';
import { defaultSysctls, featuresForRelease, tinyRttRtoMs } from '../../harness/model/features.js';
import { MIDDLEBOX_PRESETS, predictBusy } from '../../harness/model/index.js';

/** `check --middlebox`: the arguments, and the lines the model gives per configuration. No kernel. */
const features = featuresForRelease('6.18.0', 250);
const files: Record<string, string> = { 'nat.yaml': 'middlebox: aws-nat-gateway\nkeepalive: 60:1:10\n', 'v6.yaml': 'middlebox: gcp-cloud-nat\nfamily: 6\n' };
const parse = (argv: string[]) => parseCheckArgs(argv, { features, readFile: (p) => files[p]! });
const sysctls = defaultSysctls(features);
const input = (c: SocketConfig, s = sysctls) => ({ sysctls: s, features, socket: socketSettingsFor(c, s) });

describe('check --middlebox: arguments', () => {
  it('a preset or idle-expiry spec, from a flag, the config file or check()', () => {
    const a = parse(['--preset', 'node-keepalive', '--middlebox', 'aws-nat-gateway']);
    expect(a.kind === 'args' && a.args.middlebox).toEqual(MIDDLEBOX_PRESETS['aws-nat-gateway']);
    const f = parse(['--config', 'nat.yaml']);
    expect(f.kind === 'args' && f.args.middlebox?.name).toBe('aws-nat-gateway');
    expect(checkArgsFromOptions({ middlebox: 'idle-expiry:6s:drop' }, features).middlebox).toEqual({ name: 'idle-expiry:6s:drop:firewall', idleTimeoutS: 6, mode: 'drop', kind: 'firewall' });
  });

  it('refused in one line: a bad spec, a NAT on IPv6, no idle phase, twice', () => {
    expect(parse(['--middlebox', 'idle-expiry:1.5s:drop'])).toEqual({
      kind: 'error',
      message: '--middlebox: "idle-expiry:1.5s:drop": the idle timeout must be whole seconds from 1 to 2147483 (conntrack\'s nf_conntrack_tcp_timeout_established counts whole seconds), not 1.5 s',
    });
    expect(parse(['--middlebox', 'aws-nat-gateway', '--family', '6'])).toEqual({ kind: 'error', message: '--middlebox: aws-nat-gateway is a NAT (IPv4 only): use IPv4, or idle-expiry:350s:reset:firewall for IPv6' });
    expect(parse(['--config', 'v6.yaml'])).toEqual({ kind: 'error', message: 'v6.yaml: middlebox: gcp-cloud-nat is a NAT (IPv4 only): use IPv4, or idle-expiry:1200s:drop:firewall for IPv6' });
    expect(parse(['--middlebox', 'azure-lb', '--phases', 'busy'])).toEqual({ kind: 'error', message: '--middlebox: a middlebox forgets an idle connection: it changes nothing unless idle is among --phases' });
    expect(parse(['--middlebox', 'azure-lb', '--middlebox', 'aws-nlb'])).toEqual({ kind: 'error', message: '--middlebox is given twice: keep one' });
    expect(() => checkArgsFromOptions({ middlebox: 'nope' }, features)).toThrow(InputError);
    expect(() => checkArgsFromOptions({ middlebox: 'aws-nat-gateway', family: 6 }, features)).toThrow(/^check\(\): middlebox: aws-nat-gateway is a NAT/);
  });
});

describe('check --middlebox: the lines per configuration', () => {
  const nat = MIDDLEBOX_PRESETS['aws-nat-gateway']!;

  it("node-keepalive (libuv's 60 s TCP_KEEPIDLE, read back) keeps an AWS NAT gateway's mapping; a plain socket loses it and its write meets a RST", () => {
    const node = middleboxResult(input(findPreset('node-keepalive')!.config), nat, undefined);
    expect(node.keepsMapping.kept).toBe('yes');
    expect(node.keepsMapping.why).toMatch(/the client's keepalive probes every 60 s/);
    expect(node.firstWrite).toMatchObject({ atS: 351.5, noticeAfterS: null, errno: null, line: 'is acknowledged (the mapping was kept)' });
    expect(node.basis).toBe('predicted');

    const plain = middleboxResult(input({}), nat, 30);
    expect(plain.keepsMapping.kept).toBe('no');
    expect(plain.firstWrite).toMatchObject({ noticeAfterS: 0, errno: 'ECONNRESET' });
    expect(plain.firstWrite.line).toMatch(/^fails after 0 s with ECONNRESET/);
    expect(plain.overBudget).toBe(false); // a RST at once is within any budget
  });

  it('a silent drop: the write hangs the busy chain (at the profile\'s tcp_retries2), and --max-detect gates it', () => {
    const fast = { ...sysctls, ...FAST_SYSCTLS };
    const drop = middleboxResult(input({}, fast), MIDDLEBOX_PRESETS['azure-lb']!, 10);
    const busy = predictBusy({ ...input({}, fast), peer: 'gone', rtoMs: tinyRttRtoMs(fast, 250) });
    expect(drop.firstWrite.noticeAfterS).toBeCloseTo(busy.closeAt!, 6);
    expect(drop.firstWrite.errno).toBe('ETIMEDOUT');
    expect(drop.firstWrite.line).toMatch(/^hangs .* s, then ETIMEDOUT$/);
    expect(drop.overBudget).toBe(busy.closeAt! > 10);
    expect(drop.overBudget).toBe(true);
    expect(middleboxResult(input({}, fast), MIDDLEBOX_PRESETS['azure-lb']!, busy.closeAt! + 1).overBudget).toBe(false);
  });

  it('libpq-defaults (the kernel\'s 7200 s TCP_KEEPIDLE) loses the mapping: the advice says to set TCP_KEEPIDLE below the timeout', () => {
    const i = input(findPreset('libpq-defaults')!.config);
    const r = middleboxResult(i, nat, undefined);
    expect(r.keepsMapping.kept).toBe('no');
    expect(r.keepsMapping.why).toMatch(/first probes at 7200 s \(TCP_KEEPIDLE\), at or after the 350 s idle timeout/);
    const [advice, ...more] = adviseMiddlebox(i, nat);
    expect(more).toEqual([]);
    expect(advice).toMatch(/^behind aws-nat-gateway \(idle timeout 5 min 50 s\) the idle connection loses its mapping: .* set TCP_KEEPIDLE below 350 s \(e\.g\. 175 s, half the timeout\)/);
    expect(adviseMiddlebox(input(findPreset('node-keepalive')!.config), nat)).toEqual([]);
  });
});

describe('check --middlebox: run on the kernel or predict (--max-run, as the phases)', () => {
  const fast = { ...sysctls, ...FAST_SYSCTLS };
  const short = (mode: 'reset' | 'drop') => ({ name: `idle-expiry:4s:${mode}:firewall`, idleTimeoutS: 4, mode, kind: 'firewall' as const });

  it('a lost mapping: the write 1.5 s after the expiry, and the run lasts until the model\'s notice', () => {
    expect(planMiddleboxRun(input({}, fast), short('reset'), 300)).toEqual({ run: true, writeAtS: 5.5, expectedS: 5.5 });
    const drop = planMiddleboxRun(input({}, fast), short('drop'), 300);
    const busy = predictBusy({ ...input({}, fast), peer: 'gone', rtoMs: tinyRttRtoMs(fast, 250) });
    expect(drop).toMatchObject({ run: true, writeAtS: 5.5 });
    expect(drop.expectedS).toBeCloseTo(5.5 + busy.closeAt!, 3);
    // the same path over a tighter budget: predicted, and said why
    expect(planMiddleboxRun(input({}, fast), short('drop'), 10)).toMatchObject({
      run: false,
      why: expect.stringMatching(/^the timeout \(4 s\) and what follows it \(the write 1\.5 s after it and its notice\) take ≈1\d\.\d s, longer than --max-run 10 s; judged by the model alone$/),
    });
  });

  it('a kept mapping: the write at 2.5× the timeout, watched past its acknowledgement', () => {
    const kept = planMiddleboxRun(input({ keepalive: { idle: 2, intvl: 1, cnt: 3 } }, fast), short('reset'), 300);
    expect(kept).toMatchObject({ run: true, writeAtS: 10 });
    expect(kept.expectedS).toBeGreaterThanOrEqual(13);
    expect(kept.expectedS).toBeLessThan(14);
  });

  it("a timeout longer than --max-run is predicted: an AWS NAT gateway's 350 s in the fast profile's 300 s; faithful's 1200 s runs it", () => {
    const nat = MIDDLEBOX_PRESETS['aws-nat-gateway']!;
    expect(planMiddleboxRun(input({}, fast), nat, 300)).toEqual({ run: false, writeAtS: 351.5, expectedS: 351.5, why: 'the timeout (350 s) is longer than --max-run 5 min 0 s; judged by the model alone' });
    expect(planMiddleboxRun(input({}), nat, 1200)).toMatchObject({ run: true, writeAtS: 351.5 });
  });

  it('measured: the gate is the kernel\'s notice time; a write that never got through and was never noticed is over any budget', () => {
    const predicted = middleboxResult(input({}, fast), short('drop'), 20, 5.5);
    expect(predicted.overBudget).toBe(false);
    const m: MiddleboxMeasured = { writeAtS: 5.5, entryGoneAtS: 4.004, noticeAfterS: 21, errno: 'ETIMEDOUT', reachedServer: false, watchedS: 26.5, verdict: 'differs', why: [], artifacts: '/x' };
    expect(withMeasured(predicted, m)).toMatchObject({ basis: 'measured', measured: m, overBudget: true });
    expect(withMeasured(predicted, { ...m, noticeAfterS: 13 }).overBudget).toBe(false);
    expect(withMeasured(predicted, { ...m, noticeAfterS: null, errno: null }).overBudget).toBe(true);
    expect(withMeasured(predicted, { ...m, noticeAfterS: null, errno: null, reachedServer: true }).overBudget).toBe(false);
    expect(withMeasured(middleboxResult(input({}, fast), short('drop'), undefined), m).overBudget).toBe(false);
  });
});
