import { describe, expect, it } from 'vitest';
import { parseModelArgs, runModel } from '../../cli/model.js';
import { featuresForRelease } from '../../harness/model/index.js';

const env = { features: featuresForRelease('6.18.44-fc-v657', 250) };
const json = (argv: string[]) => {
  const r = runModel(argv, env);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(r.stdout);
};
const rejects = (argv: string[], pattern: RegExp) => {
  const r = runModel(argv, env);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
};

describe('deadpeer model', () => {
  it('syn-sent --json: one line with phase, kernel, events, closeAt, errno', () => {
    const out = json(['syn-sent', '--json']);
    expect(out.phase).toBe('syn-sent');
    expect(out.kernel).toBe('6.18.44-fc-v657');
    expect(out.events.map((e: { t: number }) => e.t)).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    expect(out.events[0]).toEqual({ t: 0, side: 'client', packet: 'SYN', n: 0 });
    expect(out.closeAt).toBe(131);
    expect(out.errno).toBe('ETIMEDOUT');
    expect(Array.isArray(out.notes)).toBe(true);
  });

  it('--sysctl and --kernel', () => {
    expect(json(['syn-sent', '--json', '--sysctl', 'tcp_syn_retries=3']).closeAt).toBe(19);
    expect(json(['syn-sent', '--json', '--sysctl', 'net.ipv4.tcp_syn_retries=3']).closeAt).toBe(19);
    const old = json(['syn-sent', '--json', '--kernel', '5.2']);
    expect(old.kernel).toBe('5.2');
    expect(old.closeAt).toBe(127);
  });

  it('--keepalive and --user-timeout (idle)', () => {
    const out = json(['idle', '--json', '--keepalive', '1:11:3', '--user-timeout', '40000']);
    expect(out.events.filter((e: { packet: string }) => e.packet === 'KEEPALIVE')).toHaveLength(4);
    expect(out.closeAt).toBe(45);
    expect(json(['idle', '--json']).closeAt).toBeNull();
  });

  it('--syncnt, --defer-accept, --peer, --family', () => {
    expect(json(['syn-sent', '--json', '--syncnt', '2', '--sysctl', 'tcp_syn_linear_timeouts=0']).closeAt).toBe(7);
    const d = json(['defer-accept', '--json', '--defer-accept', '5']);
    expect(d.acceptAt).toBe(7);
    expect(json(['zero-window', '--json', '--peer', 'gone']).errno).toBe('ETIMEDOUT');
    expect(json(['zero-window', '--json', '--peer', 'alive']).closeAt).toBeNull();
    expect(json(['busy', '--json', '--family', '6']).family).toBe(6);
    expect(json(['busy', '--json', '--user-timeout', '5000']).closeAt).toBe(5.204);
    expect(json(['syn-recv', '--json']).closeAt).toBe(63);
  });

  it('without --json: a short human table', () => {
    const r = runModel(['syn-sent', '--sysctl', 'tcp_syn_retries=3'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/phase syn-sent/);
    expect(r.stdout).toMatch(/11\.000 +client +SYN/);
    expect(r.stdout).toMatch(/gives up at 19\.000 s: ETIMEDOUT/);
  });

  it('--help', () => {
    const r = runModel(['--help'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: deadpeer model <phase>/);
    expect(runModel(['idle', '-h'], env).code).toBe(0);
  });

  it('rejects bad input with exit 2 and one line saying what is allowed', () => {
    rejects(['nope'], /unknown phase "nope": expected one of syn-sent, syn-recv/);
    rejects([], /missing phase/);
    rejects(['idle', 'busy'], /exactly one phase/);
    rejects(['idle', '--frobnicate'], /unknown option "--frobnicate": allowed options are .*--keepalive/);
    rejects(['idle', '--user-timeout', 'abc'], /--user-timeout: "abc" is not allowed: expected a whole number from 0/);
    rejects(['idle', '--user-timeout', '-5'], /--user-timeout: "-5" is not allowed/);
    rejects(['idle', '--user-timeout'], /--user-timeout needs a value/);
    rejects(['idle', '--keepalive', '1:2'], /--keepalive: "1:2" is not allowed: expected IDLE:INTVL:CNT/);
    rejects(['idle', '--keepalive', '1:0:3'], /--keepalive INTVL: "0" is not allowed/);
    rejects(['idle', '--keepalive', '1:2:200'], /--keepalive CNT: "200" is not allowed: expected a whole number from 1 to 127/);
    rejects(['syn-sent', '--syncnt', '0'], /--syncnt: "0" is not allowed/);
    rejects(['syn-sent', '--family', '5'], /--family: "5" is not allowed: expected 4 or 6/);
    rejects(['zero-window', '--peer', 'dead'], /--peer: "dead" is not allowed: expected alive or gone/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries'], /--sysctl: "tcp_syn_retries" is not allowed: expected NAME=VALUE/);
    rejects(['syn-sent', '--sysctl', 'tcp_bogus=1'], /unknown sysctl "tcp_bogus"/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries=x'], /--sysctl tcp_syn_retries: "x" is not allowed/);
    rejects(['syn-sent', '--kernel', 'six'], /--kernel: "six" is not allowed: expected X.Y/);
    rejects(['syn-sent', '--json=yes'], /--json takes no value/);
  });

  it('parseModelArgs returns the parsed options', () => {
    const p = parseModelArgs(['idle', '--keepalive', '5:3:3', '--sysctl', 'tcp_retries2=5', '--sysctl', 'tcp_syn_retries=2']);
    expect(p).toEqual({
      kind: 'args',
      args: {
        phase: 'idle',
        json: false,
        family: 4,
        peer: 'alive',
        keepalive: { idle: 5, intvl: 3, cnt: 3 },
        sysctls: { tcp_retries2: 5, tcp_syn_retries: 2 },
      },
    });
  });
});
