import { describe, expect, it } from 'vitest';
import { parseExecArgs } from '../../cli/exec.js';
import { execArgsFromOptions, middleboxRunPlan } from '../../harness/apps/exec/args.js';
import { judgePath, type PathEvidence } from '../../harness/apps/exec/path.js';
import type { ConntrackSample, Packet } from '../../harness/core/observation.js';
import { defaultSysctls, featuresForRelease } from '../../harness/model/features.js';
import { type Middlebox, parseMiddlebox } from '../../harness/model/middlebox.js';
import { predictPath } from '../../harness/model/path.js';

/** `exec --middlebox`: what it refuses (one line each), when it only predicts, and how it judges what the router did. */
const cmd = ['--', 'python3', 'examples/middlebox-client.py'];
const refused = (argv: string[]) => parseExecArgs([...argv, ...cmd]);

describe('exec --middlebox: the arguments', () => {
  it('phase idle takes it; the middlebox is parsed as everywhere else', () => {
    const r = refused(['--phase', 'idle', '--middlebox', 'idle-expiry:6s:reset']);
    expect(r.kind).toBe('args');
    expect(r.kind === 'args' && r.args.middlebox).toEqual({ name: 'idle-expiry:6s:reset:firewall', idleTimeoutS: 6, mode: 'reset', kind: 'firewall' });
  });

  it.each(['busy', 'connect', 'zero-window'])('phase %s is refused: a middlebox forgets idle connections', (phase) => {
    expect(refused(['--phase', phase, '--middlebox', 'aws-nat-gateway'])).toEqual({
      kind: 'error',
      message: `--middlebox: only with phase idle, not ${phase}: a middlebox forgets idle connections — busy is idle then a write, which is what idle measures with the program's own write`,
    });
  });

  it.each(['blackhole', 'peer-reset', 'blip:5s'])('--fault %s is refused with it: the path fails, not the peer', (fault) => {
    expect(refused(['--phase', 'idle', '--fault', fault, '--middlebox', 'aws-nat-gateway'])).toEqual({
      kind: 'error',
      message: '--fault: not with --middlebox: behind a middlebox the path fails, not the peer — nobody vanishes',
    });
  });

  it('a NAT on IPv6 is refused (masquerade is IPv4 only); a firewall on IPv6 is not', () => {
    expect(refused(['--phase', 'idle', '--family', '6', '--middlebox', 'aws-nat-gateway'])).toEqual({
      kind: 'error',
      message: '--middlebox: aws-nat-gateway is a NAT (IPv4 only): use IPv4, or idle-expiry:350s:reset:firewall for IPv6',
    });
    expect(refused(['--phase', 'idle', '--family', '6', '--middlebox', 'idle-expiry:6s:drop']).kind).toBe('args');
  });

  it('a bad middlebox is refused in the model vocabulary’s words', () => {
    expect(refused(['--phase', 'idle', '--middlebox', 'idle-expiry:6s:maybe'])).toEqual({
      kind: 'error',
      message: '--middlebox: "idle-expiry:6s:maybe": "maybe" is not allowed: expected drop (silently) or reset (answers with a RST)',
    });
  });

  it('exec(): the same checks, named as options', () => {
    expect(() => execArgsFromOptions({ phase: 'busy', command: ['true'], middlebox: 'azure-lb' })).toThrow(/^exec\(\): middlebox: only with phase idle, not busy/);
    expect(() => execArgsFromOptions({ phase: 'idle', command: ['true'], middlebox: 'azure-lb', fault: 'peer-reset' })).toThrow(/^exec\(\): fault: not with exec\(\): middlebox/);
    expect(execArgsFromOptions({ phase: 'idle', command: ['true'], middlebox: 'azure-lb' }).middlebox?.idleTimeoutS).toBe(240);
  });
});

describe('exec --middlebox: a timeout longer than the run budget is predicted, not run', () => {
  const mb = (text: string) => parseMiddlebox(text) as Middlebox;
  it('fast: up to 300 s runs; an AWS NAT gateway (350 s) is predicted and says how to run it', () => {
    expect(middleboxRunPlan({ middlebox: mb('idle-expiry:6s:reset'), profile: 'fast' })).toEqual({ run: true });
    const p = middleboxRunPlan({ middlebox: mb('aws-nat-gateway'), profile: 'fast' });
    expect(p).toEqual({ run: false, why: "aws-nat-gateway forgets after 5 min 50 s, not within the fast profile's run budget 5 min 0 s (--profile faithful allows 20 min; --timeout sets it): predicted for the program's socket, not run" });
  });
  it('--profile faithful runs the real 350 s; --timeout decides when given', () => {
    expect(middleboxRunPlan({ middlebox: mb('aws-nat-gateway'), profile: 'faithful' })).toEqual({ run: true });
    expect(middleboxRunPlan({ middlebox: mb('aws-nat-gateway'), profile: 'fast', timeoutS: 400 })).toEqual({ run: true });
    expect(middleboxRunPlan({ middlebox: mb('idle-expiry:60s:drop'), profile: 'faithful', timeoutS: 30 })).toMatchObject({ run: false, why: expect.stringMatching(/not within --timeout 30 s/) });
    expect(middleboxRunPlan({ middlebox: mb('gcp-cloud-nat'), profile: 'faithful' }).run).toBe(false);
  });
  it('no middlebox: nothing to decide', () => expect(middleboxRunPlan({ profile: 'fast' })).toEqual({ run: true }));
});

describe('exec --middlebox: judging what the router did against the model', () => {
  const features = featuresForRelease('6.12.0', 1000);
  const sysctls = { ...defaultSysctls(features), tcp_retries2: 5 };
  const noKeepalive = { keepalive: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9, userTimeoutMs: 0, synCnt: 0 };
  const T0 = 100;
  const pkt = (t: number, from: 'client' | 'server', kind: Packet['kind'], seq = 1, len = 0, ack = 1): Packet => ({ t: T0 + t, from, flags: '.', seq, ack, win: 500, len, dropped: false, kind });
  const ct = (t: number, present: boolean, extra: Partial<ConntrackSample> = {}): ConntrackSample => ({ t: T0 + t, present, family: 4, src: '198.18.0.1', sport: 40000, dst: '198.18.1.2', dport: 4242, ...extra });
  const evidence = (middlebox: Middlebox, over: Partial<PathEvidence>): PathEvidence => ({
    middlebox,
    hz: 1000,
    origin: T0,
    end: T0 + 12,
    packets: [],
    serverLeg: [],
    conntrack: [],
    counters: {},
    predict: (writeAtS) => predictPath({ sysctls, socket: noKeepalive, features, middlebox, rtoMs: 201, ...(writeAtS === undefined ? {} : { writeAtS }) }),
    ...over,
  });

  it('reset, no keepalive: the write after the expiry met the RST, ECONNRESET at once — agrees', () => {
    const m = parseMiddlebox('idle-expiry:6s:reset') as Middlebox;
    const p = judgePath(
      evidence(m, {
        packets: [pkt(0, 'client', 'ACK'), pkt(9, 'client', 'DATA', 1, 12), pkt(9.0002, 'server', 'RST', 1, 0, 13)],
        conntrack: [ct(0.01, true, { state: 'ESTABLISHED', timeoutS: 5 }), ct(6.005, false, { aliveT: T0 + 5.995 })],
        counters: { 'forgotten flow (forward)': 1, 'forgotten flow (input)': 0 },
        abort: { t: T0 + 9.004, aliveT: T0 + 8.999 },
        serverState: 'ESTABLISHED',
        appErrno: 'ECONNRESET',
      }),
    );
    expect(p.mapping).toMatchObject({ observed: 'forgotten', goneWithin: [5.995, 6.005], refreshes: 0, model: 'no', verdict: 'agree' });
    expect(p.trigger).toMatchObject({ kind: 'DATA', atS: 9, reachedServer: false });
    expect(p.met).toBe('the router answered with a RST (1 packet of the forgotten flow met its reject rule)');
    expect(p.notice).toMatchObject({ afterTriggerS: 0.004, abortWithinS: [-0.001, 0.004], fromT0S: 9.004, modelErrno: 'ECONNRESET', modelAtS: 9, verdict: 'agree' });
    expect(p.server.line).toMatch(/^still ESTABLISHED at the end/);
  });

  it('a kept mapping where the model says it is lost differs; a program that never saw the errno the model names differs', () => {
    const m = parseMiddlebox('idle-expiry:6s:drop') as Middlebox;
    const kept = judgePath(evidence(m, { packets: [pkt(9, 'client', 'DATA', 1, 12), pkt(9.001, 'server', 'ACK', 1, 0, 13)], conntrack: [ct(0.01, true)] }));
    expect(kept.mapping).toMatchObject({ observed: 'kept', model: 'no', verdict: 'differ' });
    expect(kept.write).toEqual({ atS: 9, acknowledged: true });
    expect(kept.notice.verdict).toBe('differ');
  });
});
