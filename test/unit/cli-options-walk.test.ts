import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHECK_FLAGS, parseCheckArgs } from '../../harness/apps/check/args.js';
import { AUDIT_FLAGS, parseAuditArgs } from '../../cli/audit.js';
import { EXEC_FLAGS, parseExecArgs } from '../../cli/exec.js';
import { RECOMMEND_FLAGS, parseRecommendArgs } from '../../cli/recommend.js';
import { runHtml } from '../../cli/html.js';
import { KERNELS_FLAGS, runKernels } from '../../cli/kernels.js';
import { main } from '../../cli/main.js';
import { MODEL_OPTIONS, answerModel, parseModelArgs, runModel, withoutOption } from '../../cli/model.js';
import type { ModelArgs } from '../../cli/model.js';
import { runReport } from '../../cli/report.js';
import { runSetup } from '../../cli/setup.js';
import { runShow } from '../../cli/show.js';
import { PHASES, featuresForRelease } from '../../harness/model/index.js';
import type { Phase, TcpSysctls } from '../../harness/model/index.js';
import { TCP_SYSCTL_NAMES } from '../../harness/model/types.js';

/**
 * No option is accepted and ignored: for every command and every option it accepts, either the
 * option changes the outcome (the parsed arguments, the prediction, the output), or the
 * combination is refused with exit 2 and one line. Pure parse-level and model-level calls only.
 */

const running = featuresForRelease('6.18.44-fc-v657', 250);

// ─── deadpeer model ─────────────────────────────────────────────────────────────────────────

/** Values to try for each option: enough to move whatever the option can move. */
const TRIES: Record<string, string[][]> = {
  '--json': [[]],
  '--family': [['6']],
  '--keepalive': [['5:3:3'], ['1:11:3'], ['on']],
  '--user-timeout': [['0'], ['3002'], ['12000'], ['40000']],
  '--syncnt': [['1'], ['2'], ['5']],
  '--defer-accept': [['0'], ['2'], ['5'], ['30']],
  '--peer': [['alive'], ['gone']],
  '--peer-gone-at': [['0'], ['0.3'], ['2']],
  '--peer-answered-before': [['0.1'], ['0.45'], ['10']],
  '--rtt': [['0.05'], ['50'], ['300']],
  '--rto': [['56'], ['300'], ['1000']],
  '--tlp': [['off'], ['4'], ['300']],
  '--rto-max': [['1000'], ['5000'], ['120000']],
  '--kernel': [['5.2'], ['6.1'], ['6.19']],
  '--hz': [['100'], ['1000']],
  '--blip': [['0.5'], ['3'], ['12.5'], ['30']],
  '--middlebox': [['idle-expiry:6s:drop'], ['idle-expiry:6s:reset:nat'], ['aws-nat-gateway']],
  '--write-at': [['3s'], ['9s'], ['20s']],
  '--help': [[]],
};
const SYSCTL_TRIES: Record<keyof TcpSysctls, number[]> = {
  tcp_syn_retries: [1, 3, 8],
  tcp_synack_retries: [0, 2, 8],
  tcp_retries1: [1, 8],
  tcp_retries2: [1, 3, 8],
  tcp_keepalive_time: [1, 5, 100],
  tcp_keepalive_intvl: [1, 7, 100, 10_000],
  tcp_keepalive_probes: [1, 3, 20],
  tcp_syn_linear_timeouts: [0, 1, 8],
  tcp_rto_min_us: [10_000, 50_000, 500_000],
  tcp_rto_max_ms: [1000, 3000, 120_000],
  tcp_syncookies: [0, 2],
};

/** Starting points per phase: the peer alive and gone, options that open up others. */
const CONTEXTS: Record<Phase, string[][]> = {
  'syn-sent': [[], ['--user-timeout', '5002'], ['--kernel', '6.1'], ['--kernel', '6.19']],
  'syn-recv': [[], ['--peer', 'alive'], ['--kernel', '6.19'], ['--kernel', '6.19', '--peer', 'alive']],
  'defer-accept': [[], ['--defer-accept', '5'], ['--defer-accept', '5', '--peer', 'alive'], ['--defer-accept', '1', '--peer', 'alive', '--kernel', '6.19'], ['--defer-accept', '5', '--kernel', '6.19']],
  idle: [
    [],
    ['--keepalive', '5:3:3'],
    ['--keepalive', 'on'],
    ['--keepalive', '5:3:3', '--peer', 'alive'],
    ['--keepalive', 'on', '--user-timeout', '12000'],
    ['--keepalive', 'on', '--peer', 'alive'],
    // through a middlebox: a write after the expiry (dropped: the busy chain's options matter), a probe after it (reset)
    ['--middlebox', 'idle-expiry:6s:drop'],
    ['--middlebox', 'idle-expiry:6s:reset', '--keepalive', '8:1:3'],
  ],
  busy: [[], ['--peer', 'alive'], ['--user-timeout', '5002'], ['--rto', '300'], ['--rto', '300', '--tlp', 'off'], ['--kernel', '6.1']],
  'zero-window': [[], ['--peer', 'alive'], ['--peer-gone-at', '0.7'], ['--rto', '300'], ['--user-timeout', '2000'], ['--kernel', '6.1']],
};

/**
 * Options whose effect is only recorded or explained, never a different timeline: --json (the
 * format), --family (recorded; the help says the timers are the same), --kernel (recorded, and the
 * features where they differ), --help; --peer in idle without keepalive (nothing to notice vs
 * never noticed: the same empty timeline, a different note); --hz where there is no timer to place.
 */
const OUTPUT_ONLY = (option: string, phase: Phase, context: string[], baseTimeline: string) =>
  ['--json', '--family', '--kernel', '--help'].includes(option) ||
  (option === '--peer' && phase === 'idle' && !context.includes('--keepalive')) ||
  (option === '--hz' && baseTimeline === JSON.stringify([[], null, null, null, undefined]));

/** Values that name the default: honoured (the answer is the default's), so they change nothing by design. */
const DEFAULT_VALUES: Record<string, string> = { '--peer': 'gone', '--user-timeout': '0', '--peer-gone-at': '0', '--defer-accept': '0' };
// (--peer-answered-before has no default value: absent = the receiver never answered before)

const args = (argv: string[]): ModelArgs => {
  const p = parseModelArgs(argv);
  if (p.kind !== 'args') throw new Error(`${argv.join(' ')}: ${JSON.stringify(p)}`);
  return p.args;
};
/** The timeline an answer gives: what a different setting must move (notes and recorded fields aside). */
const timeline = (a: ModelArgs) => {
  const { json } = answerModel(a, running);
  return JSON.stringify([json.events, json.closeAt, json.closeWindow, json.errno, json.acceptAt]);
};
const optionsIn = (argv: string[]) => argv.filter((x) => x.startsWith('--'));

interface Probe {
  option: string;
  argv: (value: string[]) => string[];
  values: string[][];
}
const probes = (context: string[]): Probe[] => [
  ...MODEL_OPTIONS.filter((o) => o !== '--sysctl' && !optionsIn(context).includes(o)).map((option) => ({
    option,
    argv: (v: string[]) => [option, ...v],
    values: TRIES[option]!,
  })),
  ...TCP_SYSCTL_NAMES.map((name) => ({
    option: `--sysctl ${name}`,
    argv: (v: string[]) => ['--sysctl', `${name}=${v[0]}`],
    values: SYSCTL_TRIES[name].map((n) => [String(n)]),
  })),
];

describe('deadpeer model: every phase × option changes the answer, or is named in ignoredByKernel, or is refused', () => {
  it('every option of the parser is walked', () => {
    expect([...MODEL_OPTIONS].sort()).toEqual([...Object.keys(TRIES), '--sysctl'].sort());
  });

  /** The option a refusal names: "deadpeer model: --peer cannot be answered in syn-sent: …" */
  const named = (stderr: string) => /^deadpeer model: (--\S+(?: tcp_[a-z0-9_]+)?) cannot be answered in /.exec(stderr)?.[1];
  /** two options that say the same thing (--rtt and --rto): a conflict, refused whichever comes first */
  const conflict = (stderr: string) => /^deadpeer model: --rtt and --(rto|tlp MS): /.test(stderr);
  /** options some row accepted and was changed by: every option must be of use somewhere */
  const acceptedSomewhere = new Set<string>();
  const rows = PHASES.flatMap((phase) => CONTEXTS[phase].map((context) => [phase, context] as const));
  it.each(rows)('%s %j', (phase, context) => {
    const base = [phase, ...context];
    const baseJson = runModel([...base, '--json'], { features: running });
    expect(baseJson.code, baseJson.stderr).toBe(0);
    const baseTimeline = timeline(args(base));
    const problems: string[] = [];
    for (const probe of probes(context)) {
      // --json against the text; everything else as JSON, against the JSON
      const asJson = probe.option === '--json' ? [] : ['--json'];
      const baseOut = probe.option === '--json' ? runModel(base, { features: running }).stdout : baseJson.stdout;
      const runs = probe.values.map((v) => [...base, ...probe.argv(v)]).map((argv) => ({ argv, r: runModel([...argv, ...asJson], { features: running }) }));
      for (const { argv, r } of runs.filter((x) => x.r.code === 2)) {
        // refused: one line naming an option given (what the model cannot represent), or a conflict
        if (r.stderr.trimEnd().split('\n').length === 1 && (conflict(r.stderr) || (named(r.stderr) && argv.join(' ').includes(named(r.stderr)!.replace(' ', ' --sysctl ').split(' --sysctl ')[0]!)))) continue;
        problems.push(`${argv.join(' ')}: not a one-line refusal naming the option: ${r.stderr}`);
      }
      const isDefault = (argv: string[]) => DEFAULT_VALUES[probe.option] !== undefined && argv.at(-1) === DEFAULT_VALUES[probe.option];
      for (const x of runs.filter((x) => x.r.code === 0 && isDefault(x.argv))) {
        if (x.r.stdout !== baseOut) problems.push(`${x.argv.join(' ')}: the default value gives another answer than leaving it out`);
      }
      const accepted = runs.filter((x) => x.r.code === 0 && !isDefault(x.argv));
      // every option named in ignoredByKernel has the kernel's reason, and is true: fed to the model anyway, it moves nothing
      const listedBy = new Map<string[], string[]>();
      for (const x of accepted) {
        if (probe.option === '--json' || probe.option === '--help') continue;
        const out = JSON.parse(x.r.stdout) as { ignoredByKernel: string[]; ignoredByKernelWhy: Record<string, string> };
        listedBy.set(x.argv, out.ignoredByKernel);
        for (const name of out.ignoredByKernel) {
          if (!out.ignoredByKernelWhy[name]) problems.push(`${x.argv.join(' ')}: ${name} in ignoredByKernel without a reason`);
          const a = args(x.argv);
          if (timeline(a) !== timeline(withoutOption(a, `--${name}`))) problems.push(`${x.argv.join(' ')}: ${name} is in ignoredByKernel, but it changes the answer`);
        }
      }
      if (!accepted.length) continue;
      const self = probe.option.replace(/^--/, '');
      const listed = (x: { argv: string[] }) => (listedBy.get(x.argv) ?? []).includes(self);
      const changedOutput = accepted.some((x) => x.r.stdout !== baseOut);
      const changedTimeline = accepted.some((x) => probe.option === '--help' || timeline(args(x.argv)) !== baseTimeline);
      const tried = accepted.map((x) => x.argv.slice(base.length).join(' ')).join(', ');
      const outputOnly = OUTPUT_ONLY(probe.option, phase, context, baseTimeline);
      if (changedTimeline || (outputOnly && changedOutput)) acceptedSomewhere.add(probe.option);
      if (!changedOutput) problems.push(`${probe.option}: accepted and ignored (${tried})`);
      // never accepted and silently dropped: an option whose values move nothing is named in ignoredByKernel
      if (!changedTimeline && !outputOnly && !accepted.every(listed)) problems.push(`${probe.option}: accepted, the timeline never moves, and not named in ignoredByKernel (${tried})`);
    }
    if (process.env.WALK_DEBUG) for (const x of problems) console.log(`WALK ${phase} ${JSON.stringify(context)} :: ${x}`);
    expect(problems).toEqual([]);
  });

  it('and every option is accepted, and changes the answer, somewhere: none is refused or ignored everywhere', () => {
    const every = [...MODEL_OPTIONS.filter((o) => o !== '--sysctl'), ...TCP_SYSCTL_NAMES.filter((n) => n !== 'tcp_retries1' && n !== 'tcp_syncookies').map((n) => `--sysctl ${n}`)];
    expect(every.filter((o) => !acceptedSomewhere.has(o))).toEqual([]);
  });
});

// ─── deadpeer check ─────────────────────────────────────────────────────────────────────────

describe('deadpeer check: every option changes the parsed arguments or is refused', () => {
  const features = featuresForRelease('6.18.0', 250);
  const files: Record<string, string> = { 'app.yaml': 'user-timeout: 20000\n' };
  const parse = (argv: string[], f = features) => parseCheckArgs(argv, { features: f, readFile: (p) => files[p]! });
  const base = JSON.stringify(parse([]));

  const TRIED: Array<[string, string[]]> = [
    ['--preset', ['--preset', 'go-1.23']],
    ['--config', ['--config', 'app.yaml']],
    ['--keepalive', ['--keepalive', '5:3:3']],
    ['--user-timeout', ['--user-timeout', '14000']],
    ['--syncnt', ['--syncnt', '2']],
    ['--rto-max', ['--rto-max', '5000']],
    ['--family', ['--family', '6']],
    ['--profile', ['--profile', 'faithful']],
    ['--phases', ['--phases', 'idle']],
    ['--max-detect', ['--max-detect', '30s']],
    ['--max-run', ['--max-run', '10s']],
    ['--fault', ['--fault', 'blip:5s']],
    ['--middlebox', ['--middlebox', 'aws-nat-gateway']],
    ['--side', ['--side', 'server']],
    ['--json', ['--json']],
    ['--list-presets', ['--list-presets']],
    ['--help', ['--help']],
  ];
  it('every flag check takes is tried here', () => expect(TRIED.map(([f]) => f).sort()).toEqual([...CHECK_FLAGS].sort()));
  it.each(TRIED)('%s', (_, argv) => {
    expect(JSON.stringify(parse(argv))).not.toBe(base);
  });

  it('a flag no chosen phase reads is refused', () => {
    const refused = (argv: string[], why: RegExp, f = features) => {
      const r = parse(argv, f);
      expect(r.kind).toBe('error');
      expect((r as { message: string }).message).toMatch(why);
    };
    refused(['--syncnt', '2', '--phases', 'idle,busy'], /^--syncnt: .* unless connect is among --phases/);
    refused(['--keepalive', '5:3:3', '--phases', 'connect,busy'], /^--keepalive: .* unless idle is among --phases/);
    refused(['--rto-max', '5000', '--phases', 'idle'], /^--rto-max: .* unless connect, busy or zero-window is among --phases/);
    refused(['--max-detect', 'busy=30s', '--phases', 'idle'], /^--max-detect: busy is not among --phases \(idle\)/);
    refused(['--list-presets', '--json'], /^--list-presets takes no other option \(--json would be ignored\)/);
    refused(['--rto-max', '5000'], /no TCP_RTO_MAX_MS/, featuresForRelease('6.1.0', 250));
    refused(['--fault', 'blip:5s', '--max-detect', '30s'], /^--max-detect: a blip heals, so nothing is there to detect/);
    refused(['--fault', 'blip:0s'], /^--fault: "blip:0s" is not allowed/);
    refused(['--fault', 'meteor'], /^--fault: "meteor" is not allowed: expected blackhole or blip:DURATION/);
    // where a chosen phase reads it, it stands; from a preset or a file it describes the application and stays
    expect(parse(['--syncnt', '2', '--phases', 'connect']).kind).toBe('args');
    expect(parse(['--max-detect', '30s', '--phases', 'idle']).kind).toBe('args');
    expect(parse(['--preset', 'reference', '--phases', 'busy']).kind).toBe('args');
  });
});

// ─── deadpeer exec ──────────────────────────────────────────────────────────────────────────

describe('deadpeer exec: every option changes the parsed arguments or is refused', () => {
  const base = ['--phase', 'idle'];
  const cmd = ['--', 'node', 'client.js'];
  const parsed = (argv: string[]) => JSON.stringify(parseExecArgs([...argv, ...cmd]));

  const TRIED: Array<[string, string[]]> = [
    ['--phase', ['--phase', 'busy']],
    ['--fault', ['--fault', 'peer-reset']],
    ['--server', ['--server', 'nc -l 4242']],
    ['--family', ['--family', '6']],
    ['--profile', ['--profile', 'faithful']],
    ['--timeout', ['--timeout', '30s']],
    ['--grace', ['--grace', '1s']],
    ['--max-notice', ['--max-notice', '20s']],
    ['--json', ['--json']],
    ['--no-strace', ['--no-strace']],
    ['--user', ['--user', 'nobody']],
    ['--middlebox', ['--middlebox', 'idle-expiry:6s:reset']],
    ['--role', ['--role', 'server']],
    // only with --role server: refused otherwise (the walk's base is the client's role)
    ['--client', ['--client', 'psql']],
    ['--released', ['--released', 'true']],
    ['--help', ['--help']],
  ];
  it('every flag exec takes is tried here', () => expect(TRIED.map(([f]) => f).sort()).toEqual([...EXEC_FLAGS].sort()));
  it.each(TRIED)('%s', (option, argv) => {
    const withIt = option === '--phase' ? argv : [...base, ...argv];
    expect(parsed(withIt)).not.toBe(parsed(base));
  });

  it('--server in phase connect is refused: the SYNs never reach it', () => {
    expect(parseExecArgs(['--phase', 'connect', '--server', 'nc -l 4242', ...cmd])).toEqual({
      kind: 'error',
      message: '--server: in phase connect the SYNs never reach the server, so its program plays no part',
    });
  });
});

// ─── deadpeer recommend ─────────────────────────────────────────────────────────────────────

describe('deadpeer recommend: every option changes the parsed arguments or the answer', () => {
  const base = ['--detect', '30s'];
  const parsed = (argv: string[]) => JSON.stringify(parseRecommendArgs(argv));
  const TRIED: Array<[string, string[]]> = [
    ['--detect', ['--detect', '20s']],
    ['--survive', ['--survive', '5s']],
    ['--phases', ['--phases', 'idle']],
    ['--client', ['--client', 'go']],
    ['--middlebox', ['--middlebox', 'aws-nat-gateway']],
    ['--prove', ['--prove']],
    ['--json', ['--json']],
    ['--help', ['--help']],
  ];
  it('every flag recommend takes is tried here', () => expect(TRIED.map(([f]) => f).sort()).toEqual([...RECOMMEND_FLAGS].sort()));
  it.each(TRIED)('%s', (option, argv) => {
    const withIt = option === '--detect' ? argv : [...base, ...argv];
    expect(parsed(withIt)).not.toBe(parsed(base));
  });
});

// ─── show, html, kernels, report, reap ──────────────────────────────────────────────────────

describe('deadpeer show, html, kernels, report, reap', () => {
  let stderr: string[];
  let stdout: string[];
  beforeEach(() => {
    stderr = [];
    stdout = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  const dir = mkdtempSync(join(tmpdir(), 'deadpeer-walk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('show and html take no option: one is refused with exit 2', () => {
    for (const extra of [['--json'], ['--json', 'observation.json']]) {
      expect(runShow(extra)).toBe(2);
      expect(runHtml(extra)).toBe(2);
    }
  });

  it('report and reap take no argument: one is refused with exit 2 before anything runs', async () => {
    expect(await runReport(['--fast'])).toBe(2);
    expect(await main(['reap', '--dry-run'])).toBe(2);
    expect(stderr.join('')).toMatch(/deadpeer reap: unexpected argument "--dry-run" \(it takes none\)/);
  });

  it('kernels: --out writes the table to a file instead of stdout, --html writes the page; -h the usage; anything else exit 2', () => {
    const out = join(dir, 'k.md');
    const html = join(dir, 'k.html');
    runKernels([dir]);
    expect(stdout.join('')).toMatch(/\|/);
    stdout.length = 0;
    runKernels(['--out', out, dir]);
    expect(stdout.join('')).toBe('');
    expect(readFileSync(out, 'utf8')).toMatch(/\|/);
    runKernels(['--html', html, '--out', out, dir]);
    expect(existsSync(html)).toBe(true);
    expect(runKernels(['-h'])).toBe(0);
    expect(runKernels(['--frobnicate', dir])).toBe(2);
  });
});

// ─── every command: an option given twice ───────────────────────────────────────────────────

/**
 * An option given twice used to keep the last one silently (`--max-detect 30s --max-detect 10s`
 * gated at 10 s). Now every option of every command, given twice — the same value or two
 * different ones — is refused in one line naming it, before anything runs. Only what is a list by
 * design stays repeatable (model's --sysctl, one per sysctl), and the same name twice is refused.
 */
describe('every command: an option given twice is refused in one line, exit 2', () => {
  const features = featuresForRelease('6.18.0', 250);
  type Parse = (argv: string[]) => { kind: string; message?: string };
  /** per command: its flags, what every argv starts with, a way to parse, and two values per flag */
  const COMMANDS: Record<string, { flags: string[]; base: string[]; tail?: string[]; parse: Parse; values: Record<string, [string[], string[]]> }> = {
    check: {
      flags: CHECK_FLAGS,
      base: [],
      parse: (argv) => parseCheckArgs(argv, { features, readFile: () => 'user-timeout: 20000\n' }),
      values: {
        '--preset': [['go-1.23'], ['reference']],
        '--config': [['a.yaml'], ['b.yaml']],
        '--keepalive': [['5:3:3'], ['off']],
        '--user-timeout': [['14000'], ['20000']],
        '--syncnt': [['2'], ['3']],
        '--rto-max': [['5000'], ['8000']],
        '--family': [['6'], ['4']],
        '--profile': [['faithful'], ['fast']],
        '--phases': [['idle'], ['busy']],
        '--max-detect': [['30s'], ['10s']],
        '--max-run': [['10s'], ['20s']],
        '--fault': [['blackhole'], ['blip:5s']],
        '--middlebox': [['aws-nat-gateway'], ['azure-lb']],
        '--side': [['server'], ['client']],
        '--json': [[], []],
        '--list-presets': [[], []],
        '--help': [[], []],
      },
    },
    exec: {
      flags: EXEC_FLAGS,
      base: ['--phase', 'idle'],
      tail: ['--', 'node', 'client.js'],
      parse: parseExecArgs,
      values: {
        '--phase': [['idle'], ['busy']],
        '--fault': [['blackhole'], ['peer-reset']],
        '--server': [['nc -l 4242'], ['nc -l 4343']],
        '--family': [['6'], ['4']],
        '--profile': [['faithful'], ['fast']],
        '--timeout': [['30s'], ['40s']],
        '--grace': [['1s'], ['2s']],
        '--max-notice': [['20s'], ['10s']],
        '--json': [[], []],
        '--no-strace': [[], []],
        '--user': [['nobody'], ['daemon']],
        '--role': [['server'], ['client']],
        '--client': [['psql'], ['curl x']],
        '--released': [['true'], ['false']],
        '--middlebox': [['idle-expiry:6s:reset'], ['azure-lb']],
        '--help': [[], []],
      },
    },
    recommend: {
      flags: RECOMMEND_FLAGS,
      base: ['--detect', '30s'],
      parse: parseRecommendArgs,
      values: {
        '--detect': [['30s'], ['10s']],
        '--survive': [['5s'], ['3s']],
        '--phases': [['idle'], ['busy']],
        '--client': [['go'], ['raw']],
        '--middlebox': [['aws-nat-gateway'], ['azure-lb']],
        '--prove': [[], []],
        '--json': [[], []],
        '--help': [[], []],
      },
    },
    audit: {
      flags: AUDIT_FLAGS,
      base: ['913'],
      parse: parseAuditArgs,
      values: {
        '--all': [[], []],
        '--netns': [['/proc/self/ns/net'], ['/proc/1/ns/net']],
        '--max-detect': [['30s'], ['10s']],
        '--json': [[], []],
        '--openmetrics': [[], []],
        '--help': [[], []],
      },
    },
    model: {
      flags: MODEL_OPTIONS,
      base: ['idle'],
      parse: parseModelArgs,
      values: {
        ...Object.fromEntries(Object.entries(TRIES).map(([o, tries]) => [o, [tries[0]!, tries.at(-1)!] as [string[], string[]]])),
        // a list by design, one per sysctl: the same one twice is what is refused
        '--sysctl': [['tcp_retries2=3'], ['net.ipv4.tcp_retries2=5']],
      },
    },
  };

  const rows = Object.entries(COMMANDS).flatMap(([cmd, c]) => c.flags.flatMap((flag) => (['the same value', 'two values'] as const).map((how) => [cmd, flag, how] as const)));
  it.each(rows)('%s %s, %s', (cmd, flag, how) => {
    const c = COMMANDS[cmd]!;
    const [v1, v2] = c.values[flag]!;
    // the flag itself may be what the base gives (exec --phase, recommend --detect): then it replaces it
    const base = c.base[0] === flag ? [] : c.base;
    const argv = [...base, flag, ...v1, flag, ...(how === 'the same value' ? v1 : v2), ...(c.tail ?? [])];
    const r = c.parse(argv);
    const what = flag === '--sysctl' ? '--sysctl tcp_retries2' : flag;
    expect(r, argv.join(' ')).toEqual({ kind: 'error', message: `${what} is given twice: keep one` });
  });

  it('every flag of every command is walked here', () => {
    for (const c of Object.values(COMMANDS)) expect(Object.keys(c.values).sort()).toEqual([...c.flags].sort());
  });

  it('three times says so; -h and --help are one option', () => {
    expect(parseCheckArgs(['--json', '--json', '--json'], { features })).toEqual({ kind: 'error', message: '--json is given 3 times: keep one' });
    expect(parseRecommendArgs(['-h', '--help'])).toEqual({ kind: 'error', message: '--help is given twice: keep one' });
  });

  it('what is a list by design stays one, each item once', () => {
    // model --sysctl: different sysctls are repeatable
    const two = parseModelArgs(['busy', '--sysctl', 'tcp_retries2=3', '--sysctl', 'tcp_rto_min_us=50000']);
    expect(two.kind === 'args' && two.args.sysctls).toEqual({ tcp_retries2: 3, tcp_rto_min_us: 50000 });
    // comma-separated lists: the same item twice is refused, not counted once (or, for a budget, the last kept)
    const check = (argv: string[]) => parseCheckArgs(argv, { features });
    expect(check(['--phases', 'idle,busy,idle'])).toEqual({ kind: 'error', message: '--phases: idle is given twice: keep one' });
    expect(check(['--max-detect', 'idle=20s,busy=30s,idle=10s'])).toEqual({ kind: 'error', message: '--max-detect: idle is given twice: keep one' });
    expect(parseRecommendArgs(['--detect', '30s', '--phases', 'busy,busy'])).toEqual({ kind: 'error', message: '--phases: busy is given twice: keep one' });
    expect(check(['--phases', 'idle,busy']).kind).toBe('args');
  });

  describe('kernels, setup, help, show, html, report, reap', () => {
    let stderr: string[];
    beforeEach(() => {
      stderr = [];
      vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
      vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    });
    afterEach(() => vi.restoreAllMocks());
    const dir = mkdtempSync(join(tmpdir(), 'deadpeer-twice-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    /** exit 2 and exactly one line, which says `expected` */
    const refused = async (code: number | Promise<number>, expected: RegExp) => {
      expect(await code).toBe(2);
      expect(stderr.join('').trimEnd().split('\n')).toHaveLength(1);
      expect(stderr.join('')).toMatch(expected);
      stderr.length = 0;
    };

    it('kernels: each option twice, and the same folder twice; nothing written', async () => {
      const VALUES: Record<string, [string[], string[]]> = {
        '--out': [[join(dir, 'a.md')], [join(dir, 'b.md')]],
        '--html': [[join(dir, 'a.html')], [join(dir, 'b.html')]],
        '--help': [[], []],
      };
      expect(Object.keys(VALUES).sort()).toEqual([...KERNELS_FLAGS].sort());
      for (const [flag, [v1, v2]] of Object.entries(VALUES)) {
        await refused(runKernels([flag, ...v1, flag, ...v2, dir]), new RegExp(`^deadpeer kernels: ${flag} is given twice: keep one`));
        await refused(runKernels([flag, ...v1, flag, ...v1, dir]), new RegExp(`^deadpeer kernels: ${flag} is given twice: keep one`));
      }
      await refused(runKernels([dir, `${dir}/`]), /^deadpeer kernels: the folder .* is given twice: keep one/);
      expect(readdirSync(dir)).toEqual([]);
    });

    it('setup: --help twice (or -h and --help)', async () => {
      await refused(runSetup(['--help', '--help']), /^deadpeer setup: --help is given twice: keep one$/m);
      await refused(runSetup(['-h', '--help']), /^deadpeer setup: --help is given twice: keep one$/m);
    });

    it('help, show, html, report and reap take no option: anything twice is refused through main', async () => {
      await refused(main(['help', '--help']), /^deadpeer help: unexpected argument "--help"/);
      await refused(main(['--help', '--help']), /^deadpeer --help: unexpected argument "--help"/);
      await refused(main(['show', 'x.json', 'x.json']), /^usage: deadpeer show/);
      await refused(main(['html', dir, dir]), /^usage: deadpeer html/);
      await refused(main(['report', '--json', '--json']), /^deadpeer report: unexpected argument "--json"/);
      await refused(main(['reap', '--json', '--json']), /^deadpeer reap: unexpected argument "--json"/);
    });

    it('check, exec, recommend, audit and model through main: one line, exit 2', async () => {
      await refused(main(['check', '--max-detect', '30s', '--max-detect', '10s']), /^deadpeer check: --max-detect is given twice: keep one$/m);
      await refused(main(['exec', '--phase', 'idle', '--phase', 'busy', '--', 'true']), /^deadpeer exec: --phase is given twice: keep one$/m);
      await refused(main(['recommend', '--detect', '30s', '--detect', '10s']), /^deadpeer recommend: --detect is given twice: keep one$/m);
      await refused(main(['audit', '913', '--max-detect', '30s', '--max-detect', '10s']), /^deadpeer audit: --max-detect is given twice: keep one$/m);
      await refused(main(['audit', '913', '913']), /^deadpeer audit: PID: pid 913 is given twice: keep one$/m);
      await refused(main(['model', 'busy', '--sysctl', 'tcp_retries2=1', '--sysctl', 'tcp_retries2=2']), /^deadpeer model: --sysctl tcp_retries2 is given twice: keep one$/m);
    });
  });
});
