import { describe, expect, it } from 'vitest';
import { type CheckArgs, type CheckOptions, checkArgsFromOptions, parseCheckArgs, parseDuration } from '../../harness/apps/check/args.js';
import { InputError } from '../../harness/core/errors.js';
import { featuresForRelease } from '../../harness/model/features.js';
import { USER_PHASES } from '../../harness/recipes/phases.js';
import { findPreset, socketOptions } from '../../harness/apps/check/presets.js';

/** `deadpeer check` argv → configuration, or one line saying what is wrong. No file, no kernel. */
const features = featuresForRelease('6.18.0', 250);
const old = featuresForRelease('6.1.0', 250);
const files: Record<string, string> = {};
const parse = (argv: string[], f = features) => parseCheckArgs(argv, { features: f, readFile: (p) => {
  if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return files[p]!;
} });
const args = (argv: string[]): CheckArgs => {
  const r = parse(argv);
  if (r.kind !== 'args') throw new Error(`expected args, got ${JSON.stringify(r)}`);
  return r.args;
};
const error = (argv: string[]): string => {
  const r = parse(argv);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  expect(r.message.split('\n')).toHaveLength(1);
  return r.message;
};

describe('deadpeer check arguments', () => {
  it('no options: a plain socket, every phase, IPv4, fast profile, no budget', () => {
    const a = args([]);
    expect(a.config).toEqual({});
    expect(a.phases).toEqual([...USER_PHASES]);
    expect(a).toMatchObject({ family: 4, profile: 'fast', json: false, maxDetect: {} });
    expect(socketOptions(a.config)).toEqual({});
  });

  it('flags become socket options', () => {
    const a = args(['--keepalive', '5:3:3', '--user-timeout', '14000', '--syncnt', '2', '--rto-max', '5000', '--family', '6']);
    expect(socketOptions(a.config)).toEqual({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3, TCP_USER_TIMEOUT: 14000, TCP_SYNCNT: 2, TCP_RTO_MAX_MS: 5000 });
    expect(a.family).toBe(6);
  });

  it('a preset with overrides: the flags replace what they state, the rest stays', () => {
    const a = args(['--preset', 'go-1.23', '--user-timeout', '30000']);
    expect(a.preset).toBe('go-1.23');
    expect(a.config).toEqual({ ...findPreset('go-1.23')!.config, userTimeoutMs: 30000 });
    expect(socketOptions(args(['--preset', 'reference', '--keepalive', 'off']).config)).toEqual({ SO_KEEPALIVE: 0, TCP_USER_TIMEOUT: 14000 });
  });

  it('--max-detect: one budget for every phase, or per phase', () => {
    expect(args(['--max-detect', '30s']).maxDetect).toEqual(Object.fromEntries(USER_PHASES.map((p) => [p, 30])));
    expect(args(['--max-detect', 'idle=20s,busy=1500ms']).maxDetect).toEqual({ idle: 20, busy: 1.5 });
  });

  it('durations: s, ms, m, bare seconds', () => {
    expect([parseDuration('x', '30s'), parseDuration('x', '1500ms'), parseDuration('x', '2m'), parseDuration('x', '7'), parseDuration('x', 4)]).toEqual([30, 1.5, 120, 7, 4]);
  });

  it('--phases picks phases in the order given', () => {
    expect(args(['--phases', 'idle,connect']).phases).toEqual(['idle', 'connect']);
  });

  it('the faithful profile lets slow phases run longer', () => {
    expect(args(['--profile', 'faithful']).maxRunS).toBeGreaterThan(args([]).maxRunS);
    expect(args(['--max-run', '10m']).maxRunS).toBe(600);
  });

  it('--help and --list-presets', () => {
    expect(parse(['--help']).kind).toBe('help');
    expect(parse(['--list-presets']).kind).toBe('list-presets');
  });

  it.each([
    [['--preset', 'nope'], /^--preset: unknown preset "nope": expected one of kernel-defaults, /],
    [['--user-timeout', 'abc'], /^--user-timeout: "abc" is not allowed: expected a whole number of ms from 0 to/],
    [['--user-timeout', '-5'], /^--user-timeout: "-5" is not allowed/],
    [['--keepalive', '5:3'], /^--keepalive: "5:3" is not allowed: expected IDLE:INTVL:CNT/],
    [['--keepalive', '5:0:3'], /^--keepalive INTVL: "0" is not allowed: expected a whole number of seconds from 1 to 32767/],
    [['--syncnt', '200'], /^--syncnt: "200" is not allowed: expected a whole number from 1 to 127/],
    [['--family', '5'], /^--family: "5" is not allowed: expected 4 or 6/],
    [['--profile', 'slow'], /^--profile: "slow" is not allowed: expected fast or faithful/],
    [['--phases', 'connect,half-open'], /^--phases: unknown phase "half-open": expected connect, idle, busy, zero-window/],
    [['--max-detect', 'soon'], /^--max-detect: "soon" is not allowed: expected a duration/],
    [['--max-detect', 'idle=20s,nap=3s'], /^--max-detect: unknown phase "nap"/],
    [['--rto-max', '500'], /^--rto-max: "500" is not allowed: expected a whole number of ms from 1000 to 120000/],
    [['--frobnicate'], /^unknown option "--frobnicate": allowed options are --preset /],
    [['--user-timeout'], /^--user-timeout needs a value/],
    [['extra'], /^unexpected argument "extra"/],
  ])('bad input %j → one line saying what is allowed', (argv, message) => {
    expect(error(argv)).toMatch(message);
  });

  it('--rto-max on a kernel without TCP_RTO_MAX_MS: a clear error', () => {
    const r = parse(['--rto-max', '5000'], old);
    expect(r).toEqual({ kind: 'error', message: '--rto-max: this kernel (6.1.0) has no TCP_RTO_MAX_MS (Linux 6.15+)' });
  });
});

describe('deadpeer check --config', () => {
  it('YAML: the same fields as the flags; flags win over the file, the file over its preset', () => {
    files['c.yaml'] = ['preset: go-1.23', 'keepalive: {idle: 20, interval: 5, count: 4}', 'user-timeout: 40000', 'phases: [idle, busy]', 'max-detect: {idle: 45s}', 'family: 6'].join('\n');
    const a = args(['--config', 'c.yaml', '--user-timeout', '25000']);
    expect(a.preset).toBe('go-1.23');
    expect(a.config).toEqual({ keepalive: { idle: 20, intvl: 5, cnt: 4 }, userTimeoutMs: 25000 });
    expect(a).toMatchObject({ phases: ['idle', 'busy'], maxDetect: { idle: 45 }, family: 6 });
  });

  it('JSON, with the keepalive as a string and as off', () => {
    files['c.json'] = JSON.stringify({ keepalive: '5:1:10', 'user-timeout': 0 });
    expect(args(['--config', 'c.json']).config).toEqual({ keepalive: { idle: 5, intvl: 1, cnt: 10 }, userTimeoutMs: 0 });
    files['off.json'] = JSON.stringify({ preset: 'reference', keepalive: 'off' });
    expect(args(['--config', 'off.json']).config.keepalive).toBe(false);
  });

  it.each([
    ['neg.yaml', 'user-timeout: -1\n', /^neg\.yaml: user-timeout: -1 is not allowed: expected a whole number of ms from 0/],
    ['field.yaml', 'keepalive: {idle: 5, probes: 3}\n', /^field\.yaml: keepalive: unknown field "probes": allowed fields are idle, interval, count$/],
    ['top.yaml', 'usertimeout: 5\n', /^top\.yaml: unknown field "usertimeout": allowed fields are preset, keepalive, user-timeout, /],
    ['list.yaml', '- a\n- b\n', /^list\.yaml: the config file must be a mapping of fields .*; this one is a list$/],
    // a scalar file: its kind, never its text (a long file, or one that was not meant for a terminal)
    ['scalar.yaml', 'just some text\nthat YAML reads as one string, secret-token-123\n', /^scalar\.yaml: the config file must be a mapping of fields \(preset, .*\), e\.g\. "user-timeout: 30000"; this one is a string$/],
    ['number.yaml', '42\n', /^number\.yaml: the config file must be a mapping of fields .*; this one is a number$/],
    ['broken.yaml', 'keepalive: [1\n', /^broken\.yaml: not valid YAML: /],
    ['broken.json', '{"keepalive": ', /^broken\.json: not valid JSON: /],
    ['preset.yaml', 'preset: node\n', /^preset\.yaml: preset: unknown preset "node"/],
    ['idle.yaml', 'keepalive: {idle: 0}\n', /^idle\.yaml: keepalive\.idle: 0 is not allowed: expected a whole number of seconds from 1 to 32767$/],
  ])('%s → one line naming the file, the field, the value and what is allowed', (name, text, message) => {
    files[name] = text;
    expect(error(['--config', name])).toMatch(message);
  });

  it('a missing file', () => {
    expect(error(['--config', 'missing.yaml'])).toBe('--config: cannot read missing.yaml: ENOENT');
  });
});

describe('check() options: the same validation as the flags', () => {
  const fromOptions = (o: object) => checkArgsFromOptions(o as CheckOptions, features);
  it('options and flags give the same configuration', () => {
    const viaFlags = args(['--preset', 'go-1.23', '--user-timeout', '20000', '--max-detect', 'idle=20s', '--family', '6']);
    const viaOptions = fromOptions({ preset: 'go-1.23', userTimeout: 20000, maxDetect: { idle: '20s' }, family: 6 });
    expect({ ...viaOptions, json: false, sources: [] }).toEqual({ ...viaFlags, sources: [] });
    expect(fromOptions({ keepalive: { idle: 5, interval: 3, count: 3 } }).config).toEqual(args(['--keepalive', '5:3:3']).config);
  });

  it.each([
    [{ userTimeOut: 5 }, 'check(): unknown option "userTimeOut": allowed options are preset, keepalive, userTimeout, syncnt, rtoMax, family, profile, phases, maxDetect, maxRun, fault, middlebox, side'],
    [{ userTimeout: -1 }, 'check(): userTimeout: -1 is not allowed: expected a whole number of ms from 0 to 2147483647'],
    [{ phases: ['idle', 'nap'] }, 'check(): phases: unknown phase "nap": expected connect, idle, busy, zero-window'],
    [{ preset: 'nope' }, expect.stringMatching(/^check\(\): preset: unknown preset "nope": expected one of /)],
    [{ rtoMax: 5000 }, 'check(): rtoMax: this kernel (6.1.0) has no TCP_RTO_MAX_MS (Linux 6.15+)'],
  ])('%j → one line', (o, message) => {
    const f = Object.keys(o)[0] === 'rtoMax' ? old : features;
    expect(() => checkArgsFromOptions(o as CheckOptions, f)).toThrow(InputError);
    try {
      checkArgsFromOptions(o as CheckOptions, f);
    } catch (e) {
      expect((e as Error).message).toEqual(message);
    }
  });
});

describe('check() options: an option no chosen phase reads is refused, as the flag is', () => {
  /** an InputError of exactly this one line */
  const inputError = (o: object): string => {
    try {
      checkArgsFromOptions(o as CheckOptions, features);
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as Error).message;
    }
    throw new Error(`accepted: ${JSON.stringify(o)}`);
  };
  /** the flag's message and the option's, side by side: the same rule, the same words */
  it.each([
    [['--max-detect', 'idle=20s', '--phases', 'busy'], { maxDetect: { idle: '20s' }, phases: ['busy'] }, 'maxDetect: idle is not among phases (busy): its budget would never be checked'],
    [['--syncnt', '2', '--phases', 'idle,busy'], { syncnt: 2, phases: ['idle', 'busy'] }, 'syncnt: TCP_SYNCNT counts only SYN retransmissions: it changes nothing unless connect is among phases'],
    [['--keepalive', '5:3:3', '--phases', 'connect'], { keepalive: '5:3:3', phases: ['connect'] }, 'keepalive: keepalive probes only an idle connection: it changes nothing unless idle is among phases'],
    [['--rto-max', '5000', '--phases', 'idle'], { rtoMax: 5000, phases: ['idle'] }, 'rtoMax: the keepalive timer does not use tcp_rto_max: it changes nothing unless connect, busy or zero-window is among phases'],
  ])('%j / %j', (argv, options, message) => {
    expect(error(argv)).toMatch(/^--[a-z-]+: /);
    expect(inputError(options)).toBe(`check(): ${message}`);
  });

  it('where a chosen phase reads it, it stands; a single budget applies to the phases run; a preset stays', () => {
    expect(checkArgsFromOptions({ maxDetect: { busy: '20s' }, phases: ['busy'] }, features).maxDetect).toEqual({ busy: 20 });
    expect(checkArgsFromOptions({ maxDetect: '20s', phases: ['busy'] }, features).phases).toEqual(['busy']);
    expect(checkArgsFromOptions({ preset: 'reference', phases: ['busy'] }, features).preset).toBe('reference');
  });

  it('the same phase twice is refused, in a list and in a budget', () => {
    expect(inputError({ phases: ['idle', 'idle'] })).toBe('check(): phases: idle is given twice: keep one');
    files['twice.yaml'] = 'phases: [busy, busy]\n';
    expect(error(['--config', 'twice.yaml'])).toBe('twice.yaml: phases: busy is given twice: keep one');
  });
});

describe('a config file field given twice is refused, not the last kept', () => {
  it.each([
    ['twice.json', '{"user-timeout": 20000, "user-timeout": 5000}'],
    ['twice.yaml', 'user-timeout: 20000\nuser-timeout: 5000\n'],
  ])('%s', (name, text) => {
    files[name] = text;
    expect(error(['--config', name])).toMatch(new RegExp(`^${name.replace('.', '\\.')}: a field is given twice( \\(line \\d+\\))?: keep one$`));
  });
});

describe('check --side server', () => {
  it('the listener is configured, the phases are the server\'s: idle, busy, zero-window', () => {
    const a = args(['--side', 'server', '--keepalive', '5:3:3']);
    expect(a.side).toBe('server');
    expect(a.phases).toEqual(['idle', 'busy', 'zero-window']);
    expect(socketOptions(a.config)).toEqual({ SO_KEEPALIVE: 1, TCP_KEEPIDLE: 5, TCP_KEEPINTVL: 3, TCP_KEEPCNT: 3 });
    expect(args([]).side).toBe('client');
    expect(args(['--side', 'client']).phases).toEqual([...USER_PHASES]);
  });

  it('a config file may say it, and a flag overrides it', () => {
    files['server.yaml'] = 'side: server\nkeepalive: 2:1:2\n';
    expect(args(['--config', 'server.yaml']).side).toBe('server');
    expect(args(['--config', 'server.yaml', '--side', 'client']).side).toBe('client');
  });

  it('refusals, one line each', () => {
    expect(error(['--side', 'listener'])).toBe('--side: "listener" is not allowed: expected client or server');
    expect(error(['--side', 'server', '--phases', 'connect,idle'])).toBe(
      "--phases: connect: a server does not connect() — its handshake is the listener's SYN-RECV (cases/syn-recv.test.ts); with --side server the phases are idle, busy, zero-window",
    );
    expect(error(['--side', 'server', '--syncnt', '2'])).toMatch(/^--syncnt: TCP_SYNCNT on a listener counts its SYN\+ACKs/);
    expect(error(['--side', 'server', '--middlebox', 'aws-nlb'])).toMatch(/^--middlebox: the middlebox's path is judged from the client's side only/);
    expect(error(['--side', 'server', '--fault', 'blip:5s'])).toMatch(/^--fault: a blip is judged on the client's phases only/);
    files['server-connect.yaml'] = 'side: server\nphases: [connect]\n';
    expect(error(['--config', 'server-connect.yaml'])).toMatch(/^server-connect\.yaml: phases: connect: a server does not connect\(\)/);
  });

  it('--side given twice is refused, not the last kept (parseOnce)', () => {
    expect(error(['--side', 'server', '--side', 'client'])).toMatch(/--side.*(twice|more than once|once)/);
  });

  it('check() options: side, validated as the flag', () => {
    expect(checkArgsFromOptions({ side: 'server', keepalive: '2:1:2' }, features)).toMatchObject({ side: 'server', phases: ['idle', 'busy', 'zero-window'] });
    expect(() => checkArgsFromOptions({ side: 'server', phases: ['connect'] }, features)).toThrow(/^check\(\): phases: connect: a server does not connect\(\)/);
    expect(() => checkArgsFromOptions({ side: 'both' as never }, features)).toThrow('check(): side: "both" is not allowed: expected client or server');
  });
});
