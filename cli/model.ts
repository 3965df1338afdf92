/**
 * `deadpeer model <phase>`: print what the kernel model predicts for a phase, and where on the
 * timer wheel each predicted firing can land, without running anything. Pure: argv in,
 * { code, stdout, stderr } out, so it is unit-tested without a process.
 */
import { TINY_SRTT_US, defaultSocket, defaultSysctls, featuresForRelease, predict, predictionWindows, rtoFromRtt, rtoMinFloorUs } from '../harness/model/index.js';
import { rtoMaxMs } from '../harness/model/effective.js';
import { oneLine } from '../harness/core/one-line.js';
import type { KernelFeatures, Phase, PhaseInput, Prediction, PredictionWindows, SocketSettings, TcpSysctls } from '../harness/model/index.js';
import { rttTailLossProbeMs } from '../harness/model/busy.js';
import { DEFAULT_INVALID_RATELIMIT_MS } from '../harness/model/zero-window.js';
import { predictBlip } from '../harness/model/blip.js';
import { predictPath } from '../harness/model/path.js';
import type { PathPrediction } from '../harness/model/path.js';
import { GIVEN, MODEL_USAGE, type ModelArgs, type Refusal, idleReasonThroughMiddlebox, isDefaultValue, modelArgv, parseModelArgs, refusals, withoutOption } from './model-args.js';

export { MODEL_OPTIONS, modelArgv, parseModelArgs, refusals, withoutOption } from './model-args.js';
export type { ModelArgs, ParsedModelArgs, Refusal } from './model-args.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The kernel the answer is for: the running one, or --kernel at --hz (else the running HZ). */
export function featuresFor(args: Pick<ModelArgs, 'kernel' | 'hz'>, running: KernelFeatures): KernelFeatures {
  const hz = args.hz ?? running.hz;
  if (args.kernel) return featuresForRelease(args.kernel, hz);
  return { ...running, hz };
}

/** tcp_rto_min_us as the kernel uses it: the sysctl where it exists (6.11+), else TCP_RTO_MIN. */
const rtoMinUs = (sysctls: TcpSysctls, f: KernelFeatures) => (f.rtoMinUsSysctl ? sysctls.tcp_rto_min_us : undefined) ?? 200_000;

/** The model input the options describe, on top of a new namespace's defaults, and what it had to assume. */
export function modelInputFor<P extends Phase>(args: ModelArgs & { phase: P }, features: KernelFeatures): { input: PhaseInput[P]; assumed: string[] } {
  const sysctls: TcpSysctls = { ...defaultSysctls(features), ...args.sysctls };
  const ka = args.keepalive;
  const socket: SocketSettings = {
    ...defaultSocket(sysctls),
    ...(ka === 'on' ? { keepalive: true } : ka ? { keepalive: true, keepIdle: ka.idle, keepIntvl: ka.intvl, keepCnt: ka.cnt } : {}),
    userTimeoutMs: args.userTimeoutMs ?? 0,
    synCnt: args.synCnt ?? 0,
    ...(args.deferAcceptS !== undefined ? { deferAcceptS: args.deferAcceptS } : {}),
    ...(args.rtoMaxMs !== undefined ? { rtoMaxMs: args.rtoMaxMs } : {}),
  };
  const { hz } = features;
  const peer = args.peer ?? 'gone';
  const assumed: string[] = [];
  const rtoMin = rtoMinUs(sysctls, features);
  const rttUs = args.rttMs !== undefined ? Math.round(args.rttMs * 1000) : TINY_SRTT_US;
  const derived = rtoFromRtt(rttUs, rtoMin, hz, rtoMaxMs(sysctls, socket, features));
  const rtoMs = args.rtoMs ?? derived.rtoMs;
  const floorMs = rtoMinFloorUs(rtoMin, hz) / 1000;
  const rtoMinSaid = `tcp_rto_min ${rtoMin / 1000} ms${floorMs !== rtoMin / 1000 ? ` (${floorMs} ms: the kernel keeps it in whole jiffies)` : ''}`;
  // through a middlebox the idle question ends in a write whose retransmissions may be dropped: busy's RTO and TLP
  const writesIntoTheVoid = (args.phase === 'busy' && peer === 'gone') || (args.phase === 'idle' && !!args.middlebox);
  if (writesIntoTheVoid || args.phase === 'zero-window') {
    if (args.rttMs !== undefined) {
      assumed.push(
        `the RTO is ${rtoMs} ms: what tcp_rtt_estimator() settles on for a steady RTT of ${args.rttMs} ms — srtt ${derived.srttUs / 1000} ms ` +
          `plus rttvar decayed to its floor, ${rtoMinSaid}, rounded up to a jiffy (__tcp_set_rto); a young connection ` +
          '(the handshake\'s sample only) still has rttvar = max(2·RTT, rto_min): give its tcpi_rto with --rto MS',
      );
    } else if (args.rtoMs === undefined) {
      assumed.push(
        `assumed: the RTO is ${rtoMs} ms, ${rtoMinSaid} plus a tiny RTT rounded up to the next ` +
          "jiffy (tcp_rtt_estimator, __tcp_set_rto), as on a veth; a real path's is larger: give its RTT with --rtt MS or the connection's tcpi_rto with --rto MS",
      );
    }
  }
  let tlpMs: number | undefined;
  if (writesIntoTheVoid) {
    tlpMs = args.tlpMs === 'off' ? undefined : (args.tlpMs ?? rttTailLossProbeMs(derived.srttUs, rtoMs, rtoMin, hz));
    if (args.tlpMs === undefined) {
      assumed.push(
        `${args.rttMs !== undefined ? '' : 'assumed: '}a tail loss probe ${tlpMs} ms after the data (tcp_schedule_loss_probe: 2·srtt + tcp_rto_min ` +
          `capped by the RTO — one segment in flight, SACK on, tcp_early_retrans 3, ${args.rttMs !== undefined ? `the RTT of ${args.rttMs} ms` : 'a tiny RTT'}); ` +
          (args.rttMs !== undefined ? '--tlp off if it has no SACK (or tcp_early_retrans < 3)' : 'give what your connection does with --tlp MS, or --tlp off'),
      );
    }
  }
  if (args.phase === 'zero-window' && (peer === 'alive' || (args.peerGoneAtS ?? 0) > 0)) {
    assumed.push(`assumed: the receiver answers at most one probe per ${DEFAULT_INVALID_RATELIMIT_MS} ms (its net.ipv4.tcp_invalid_ratelimit default)`);
  }
  if (args.kernel && args.hz === undefined) assumed.push(`assumed: HZ ${hz} (this machine's) for Linux ${args.kernel}: --hz N to give the target's CONFIG_HZ`);
  // Every phase input is ModelInput plus optional extras; the extras below are ignored by the
  // phases that do not read them (and refusals() has refused the options that would set them).
  const input = {
    sysctls,
    socket,
    features,
    rtoMs,
    peer,
    ...(tlpMs !== undefined ? { tlpMs } : {}),
    ...(args.peerGoneAtS !== undefined ? { peerGoneAtS: args.peerGoneAtS } : {}),
    ...(args.peerAnsweredBeforeS !== undefined ? { peerLastAnswerAtS: -args.peerAnsweredBeforeS } : {}),
    deferAcceptS: args.deferAcceptS,
    finalAckLost: peer === 'alive',
    client: peer === 'alive' ? 'ack' : 'gone',
  };
  return { input: input as unknown as PhaseInput[P], assumed };
}

/** The prediction and its wheel windows, for arguments refusals() accepts. */
export interface ModelAnswer {
  /** with --middlebox: the client's chain on the path's clock (t = 0 = the handshake's end), closeAt when it notices */
  prediction: Prediction;
  /** with --middlebox: the whole answer */
  path?: PathPrediction;
  windows: PredictionWindows;
  features: KernelFeatures;
  /** the answer as `--json` prints it */
  json: Record<string, unknown>;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
const pair = (w: [number, number]): [number, number] => [round(w[0]), round(w[1])];

/**
 * The answer for these arguments, as given. `ignored`: options the kernel ignores here
 * (modelRefusals, kernel: true) — the answer is computed with them, and names them with the
 * kernel's reason (JSON ignoredByKernel / ignoredByKernelWhy, and the notes).
 */
export function answerModel(args: ModelArgs, running: KernelFeatures, ignored: readonly Refusal[] = []): ModelAnswer {
  const features = featuresFor(args, running);
  const { input, assumed } = modelInputFor(args, features);
  const kernelIgnores = ignored.filter((r) => r.kernel);
  const ignoredNotes = kernelIgnores.map((r) => `ignored by the kernel here: ${r.option} — ${r.why}; the answer is the one without it`);
  if (args.middlebox) return answerPath(args, features, input as PhaseInput['busy'], [...ignoredNotes, ...assumed], kernelIgnores);
  const raw = predict(args.phase, input);
  const gone = { ...raw, notes: [...ignoredNotes, ...assumed, ...raw.notes] };
  // a blip ends an outage of a vanished peer, on a connection the application holds (refusals() says so otherwise)
  const blips = args.blipS !== undefined && args.peer !== 'alive' && ['syn-sent', 'idle', 'busy', 'zero-window'].includes(args.phase);
  const blip = blips ? predictBlip(gone, args.blipS!, features.hz) : undefined;
  const prediction = blip ? blip.prediction : gone;
  const windows = predictionWindows(prediction, features.hz);
  const json = {
    phase: prediction.phase,
    kernel: prediction.kernel,
    hz: features.hz,
    family: args.family,
    ...(args.phase === 'syn-sent' ? {} : { peer: args.peer ?? 'gone' }),
    origin: prediction.origin,
    events: prediction.events.map(({ t, side, packet, n }, i) => ({ t, side, packet, n, window: pair(windows.events[i]!.window), ...(windows.events[i]!.optional ? { optional: true } : {}) })),
    closeAt: prediction.closeAt,
    closeWindow: windows.close && pair(windows.close.window),
    errno: prediction.errno,
    ...(prediction.acceptAt !== undefined ? { acceptAt: prediction.acceptAt } : {}),
    ...(prediction.inputs ? { inputs: { ...prediction.inputs, ...(args.rttMs !== undefined && prediction.inputs.rtoMs !== undefined ? { rttMs: args.rttMs } : {}) } } : {}),
    ...(blip
      ? {
          blip: {
            healS: blip.healS,
            survives: blip.survives,
            marginS: Number.isFinite(blip.marginS) ? round(blip.marginS) : null,
            ...(blip.recoveredAt !== undefined ? { recoveredAt: blip.recoveredAt } : {}),
          },
        }
      : {}),
    ignoredByKernel: kernelIgnores.map((r) => r.option.replace(/^--/, '')),
    ignoredByKernelWhy: Object.fromEntries(kernelIgnores.map((r) => [r.option.replace(/^--/, ''), r.why])),
    notes: prediction.notes,
  };
  return { prediction, windows, features, json };
}

/** What t = 0 is through a middlebox. */
const PATH_ORIGIN = 'the last packet that crossed the middlebox (the handshake\'s end)';

/**
 * --middlebox: predictPath, and its client chain placed on the path's clock — the chain's windows
 * computed on its own origin (a write is the application's moment, not a timer) and moved with it.
 */
function answerPath(args: ModelArgs, features: KernelFeatures, input: PhaseInput['busy'], before: string[], kernelIgnores: readonly Refusal[]): ModelAnswer {
  const mb = args.middlebox!;
  const writeAtS = args.writeAtS ?? mb.idleTimeoutS + 1;
  const said = args.writeAtS === undefined ? [`assumed: the application writes at ${writeAtS} s, one second after the ${mb.idleTimeoutS} s idle timeout (--write-at D says when)`] : [];
  const path = predictPath({ ...input, middlebox: mb, writeAtS });
  const shift = path.clientOriginS;
  const own = predictionWindows(path.client, features.hz);
  const moved = (w: [number, number]): [number, number] => [round(w[0] + shift), round(w[1] + shift)];
  const notes = [...before, ...said, ...path.notes, ...path.client.notes];
  const prediction: Prediction = {
    ...path.client,
    origin: PATH_ORIGIN,
    events: path.client.events.map((e) => ({ ...e, t: round(e.t + shift) })),
    closeAt: path.outcome.noticeAtS,
    errno: path.outcome.errno,
    notes,
  };
  const windows: PredictionWindows = {
    ...own,
    events: own.events.map((w) => ({ ...w, window: moved(w.window) })),
    close: own.close && { ...own.close, window: moved(own.close.window) },
  };
  const json = {
    phase: args.phase,
    kernel: prediction.kernel,
    hz: features.hz,
    family: args.family,
    origin: PATH_ORIGIN,
    events: prediction.events.map(({ t, side, packet, n }, i) => ({ t, side, packet, n, window: pair(windows.events[i]!.window), ...(windows.events[i]!.optional ? { optional: true } : {}) })),
    closeAt: prediction.closeAt,
    closeWindow: windows.close && pair(windows.close.window),
    errno: prediction.errno,
    inputs: { ...path.client.inputs, writeAtS, ...(args.rttMs !== undefined ? { rttMs: args.rttMs } : {}) },
    middlebox: path,
    ignoredByKernel: kernelIgnores.map((r) => r.option.replace(/^--/, '')),
    ignoredByKernelWhy: Object.fromEntries(kernelIgnores.map((r) => [r.option.replace(/^--/, ''), r.why])),
    notes,
  };
  return { prediction: { ...prediction, phase: 'idle' }, path, windows, features, json };
}

/** The middlebox's answer in words, before the client's timeline. */
function pathLines(p: PathPrediction): string[] {
  return [
    `middlebox ${p.middlebox.name}: forgets a connection idle for ${p.middlebox.idleTimeoutS} s, then ${p.middlebox.mode === 'reset' ? 'answers its next packet with a RST' : 'drops its next packet'}`,
    `the idle connection keeps its mapping: ${p.mapping.kept} — ${p.mapping.why}`,
    p.trigger
      ? `the first transmission after the expiry (${p.mapping.forgottenAtS} s): the ${p.trigger.by === 'write' ? 'write' : 'keepalive probe'} at ${p.trigger.atS} s`
      : `the first transmission after the expiry: ${p.mapping.forgottenAtS === null ? 'none meets a forgotten mapping' : 'none'}`,
    `the client: ${p.outcome.line}`,
    `the server: ${p.server.line}`,
  ];
}

const s3 = (x: number) => x.toFixed(3);

function humanTable(a: ModelAnswer, family: 4 | 6): string {
  const { prediction: p, windows: w, features } = a;
  const jiffyMs = 1000 / features.hz;
  const lines = [
    `phase ${p.phase}  kernel ${p.kernel} (HZ ${features.hz})  IPv${family}`,
    `t = 0: ${p.origin}`,
    ...(a.path ? pathLines(a.path) : []),
    '     t (s)  side    packet        n   the kernel fires it between (s)',
    ...p.events.map(
      (e, i) =>
        `${s3(e.t).padStart(10)}  ${e.side.padEnd(6)}  ${e.packet.padEnd(12)}  ${String(e.n).padEnd(3)} ${s3(w.events[i]!.window[0]).padStart(9)} … ${s3(w.events[i]!.window[1])}` +
        (w.events[i]!.optional ? '  (or the give-up comes first)' : ''),
    ),
  ];
  if (p.acceptAt !== undefined) lines.push(p.acceptAt === null ? 'never accepted' : `accepted at ${s3(p.acceptAt)} s`);
  if (p.closeAt === null) lines.push('never gives up');
  else {
    const c = w.close!;
    const earlier = c.early > 1 / features.hz + 1e-9;
    lines.push(
      `gives up at ${s3(p.closeAt)} s${p.errno ? `: ${p.errno}` : ' (the application never sees an error)'}`,
      `  on the timer wheel: between ${s3(c.window[0])} and ${s3(c.window[1])} s — ` +
        (earlier
          ? `up to ${s3(c.early)} s early: its time budget is measured on the real firings, whose lateness can meet it at an earlier firing`
          : `at most ${jiffyMs} ms (one jiffy) early, where t = 0 falls late in its jiffy`) +
        `, and up to ${s3(c.late)} s late: each timer fires at the end of its wheel granule and the next is armed from there`,
    );
  }
  lines.push('why:', ...p.notes.map((n) => `  - ${n}`));
  return lines.join('\n') + '\n';
}

/**
 * Under TCP_USER_TIMEOUT a setting can be read by the model and still never matter: U ends the
 * connection before the SYN count limit or an RTO cap could bind, or before it makes a difference
 * whether a zero-window receiver answers. The model decides: the answer at these extremes of the
 * setting (each effect is monotone in it) equals the answer as given.
 */
const UNDER_USER_TIMEOUT: [option: string, extremes: (a: ModelArgs, v: number) => ModelArgs, values: number[]][] = [
  ['--syncnt', (a, v) => ({ ...a, synCnt: v }), [1, 127]],
  ['--sysctl tcp_syn_retries', (a, v) => ({ ...a, sysctls: { ...a.sysctls, tcp_syn_retries: v } }), [1, 127]],
  ['--rto-max', (a, v) => ({ ...a, rtoMaxMs: v }), [1000, 120_000]],
  ['--sysctl tcp_rto_max_ms', (a, v) => ({ ...a, sysctls: { ...a.sysctls, tcp_rto_max_ms: v } }), [1000, 120_000]],
  ['--peer', (a, v) => ({ ...a, peer: v ? 'alive' : 'gone', ...(v ? { peerGoneAtS: undefined } : {}) }), [0, 1]],
  ['--peer-gone-at', (a, v) => ({ ...a, peerGoneAtS: v }), [0, 86_400]],
  ['--peer-answered-before', (a, v) => ({ ...a, peerAnsweredBeforeS: v }), [0, 86_400]],
];

/** Just answered (the first probe falls inside its rate limit) or long ago (no effect): the two things it can do. */
const ANSWERED_BEFORE_EXTREMES = [0, 86_400];

const timeline = (a: ModelArgs, running: KernelFeatures) => {
  const { json } = answerModel(a, running);
  return JSON.stringify([json.events, json.closeAt, json.errno, json.acceptAt]);
};

/**
 * refusals() and, where TCP_USER_TIMEOUT decides alone, the settings it makes moot (the kernel
 * ignoring them too). What the model cannot represent (kernel: false) comes first: `deadpeer
 * model` refuses it; the rest (kernel: true) it answers, naming them in ignoredByKernel.
 */
export function modelRefusals(args: ModelArgs, running: KernelFeatures): Refusal[] {
  const structural = refusals(args, featuresFor(args, running));
  if (structural.some((r) => !r.kernel)) return structural;
  if (args.middlebox) return [...structural, ...mootThroughMiddlebox(args, running)];
  const listed = new Set(structural.map((r) => r.option));
  const given = (option: string) =>
    !listed.has(option) &&
    !isDefaultValue(args, option) &&
    (option.startsWith('--sysctl ') ? option.slice(9) in args.sysctls : modelArgv(args).includes(option));
  const asGiven = timeline(args, running);
  const moot = (at: (a: ModelArgs, v: number) => ModelArgs, values: number[]) => values.every((v) => timeline(at(args, v), running) === asGiven);
  const out: Refusal[] = [...structural];
  if (args.userTimeoutMs && !listed.has('--user-timeout')) {
    for (const [option, at, values] of UNDER_USER_TIMEOUT) {
      if (given(option) && moot(at, values)) {
        out.push({
          option,
          why: `TCP_USER_TIMEOUT (--user-timeout ${args.userTimeoutMs}) ends it before this could matter (${USER_TIMEOUT_ENDS[args.phase] ?? 'the U check'}): the answer is the same whatever its value`,
          kernel: true,
        });
      }
    }
  }
  // a skipped first answer only counts towards tcp_retries2 unanswered probes in a row
  if (!out.some((r) => r.option === '--peer-answered-before') && given('--peer-answered-before') && moot((a, v) => ({ ...a, peerAnsweredBeforeS: v }), ANSWERED_BEFORE_EXTREMES)) {
    out.push({
      option: '--peer-answered-before',
      why: 'one probe more or less left unanswered changes nothing here: tcp_probe_timer() never sees tcp_retries2 unanswered ones in a row',
      kernel: true,
    });
  }
  return out;
}

/** The timeline a middlebox answer gives, windows included: what a setting must move to matter. */
const pathTimeline = (a: ModelArgs, running: KernelFeatures) => {
  const { json } = answerModel(a, running);
  return JSON.stringify([json.events, json.closeAt, json.closeWindow, json.errno]);
};

/** Why the path's answer does not read a setting here, from what it comes to. */
function pathReason(p: PathPrediction): string {
  const name = `through ${p.middlebox.name}`;
  if (!p.trigger) {
    return p.mapping.forgottenAtS === null || p.mapping.kept === 'yes'
      ? `${name} the mapping is kept: nothing is lost, no retransmission or give-up timer is reached`
      : `${name} the client sends nothing after the expiry: no timer of its runs`;
  }
  if (p.middlebox.mode === 'reset') return `${name} the first transmission after the expiry meets a RST: ECONNRESET at once, before any timer that could read it`;
  return p.trigger.by === 'write'
    ? `${name} the write meets the forgotten mapping, and the retransmission chain that follows does not read it`
    : `${name} the keepalive probe meets the forgotten mapping, and the keepalive chain that follows does not read it`;
}

/**
 * Through a middlebox the answer is a chain chosen by the path (a RST, the retransmissions after a
 * write, the keepalive probes), so which settings matter is decided by the model: a setting given
 * whose removal leaves the timeline as it is, is named — with idle's own reason where that still
 * holds, else what the path comes to.
 */
function mootThroughMiddlebox(args: ModelArgs, running: KernelFeatures): Refusal[] {
  const features = featuresFor(args, running);
  const asGiven = pathTimeline(args, running);
  const options = [
    ...(Object.keys(GIVEN) as (keyof typeof GIVEN)[]).filter((k) => k !== 'middlebox' && GIVEN[k](args)).map((k) => `--${k}`),
    ...Object.keys(args.sysctls).map((n) => `--sysctl ${n}`),
  ].filter((o) => !isDefaultValue(args, o));
  const path = answerModel(args, running).path!;
  return options
    .filter((o) => pathTimeline(withoutOption(args, o), running) === asGiven)
    .map((option) => ({ option, why: idleReasonThroughMiddlebox(option, args, features) ?? pathReason(path), kernel: true }));
}

/** Where each phase's kernel checks TCP_USER_TIMEOUT. */
const USER_TIMEOUT_ENDS: Partial<Record<Phase, string>> = {
  'syn-sent': 'retransmits_timed_out() in tcp_write_timeout(), tcp_clamp_rto_to_user_timeout()',
  busy: 'retransmits_timed_out() in tcp_write_timeout(), tcp_clamp_rto_to_user_timeout()',
  'zero-window': 'tcp_probe_timer(), tcp_clamp_probe0_to_user_timeout()',
  idle: 'tcp_keepalive_timer()',
};

export function runModel(argv: string[], env: { features: KernelFeatures }): CliResult {
  const parsed = parseModelArgs(argv);
  if (parsed.kind === 'help') return { code: 0, stdout: MODEL_USAGE, stderr: '' };
  if (parsed.kind === 'error') return { code: 2, stdout: '', stderr: `${oneLine(`deadpeer model: ${parsed.message}`)}\n` };
  const { args } = parsed;
  const judged = modelRefusals(args, env.features);
  const refused = judged.find((r) => !r.kernel);
  if (refused) return { code: 2, stdout: '', stderr: `deadpeer model: ${refused.option} cannot be answered in ${args.phase}: ${refused.why}\n` };
  const answer = answerModel(args, env.features, judged);
  if (!args.json) return { code: 0, stdout: humanTable(answer, args.family), stderr: '' };
  return { code: 0, stdout: JSON.stringify(answer.json) + '\n', stderr: '' };
}
