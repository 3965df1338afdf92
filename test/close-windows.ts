/**
 * Does `deadpeer model` bracket what the kernel did? For one saved run: the `deadpeer model`
 * arguments that describe it (its effective settings, its kernel, what it measured and how its
 * peer behaved — from the Observation alone), the CLI's answer for them (runModel, the code path
 * of the command itself), and whether the run's close lies inside that answer's closeWindow.
 * Pure, so a doctored Observation can prove it fails (test/unit/close-windows.test.ts).
 */
import { type ModelArgs, modelArgv, modelRefusals, runModel, withoutOption } from '../cli/model.js';
import { defaultSysctls } from '../harness/model/features.js';
import type { TcpSysctls } from '../harness/model/types.js';
import { TCP_SYSCTL_NAMES } from '../harness/model/types.js';
import { CAPTURE_SLACK, USERSPACE_SLACK, observedEndSpan } from '../harness/judge/verdict.js';
import type { Observation } from '../harness/core/observation.js';

export type Described = { args: ModelArgs; dropped: string[] } | { inexpressible: string };

/** The `deadpeer model` arguments a user would give for this run. */
export function describeRun(obs: Observation): Described {
  // its client chain counts from the write or the probe that met the forgotten entry, which the
  // phases' arguments cannot say; cases/middlebox.test.ts judges each against predictPath, the
  // answer `deadpeer model idle --middlebox` prints
  if (obs.path) return { inexpressible: `a path through a middlebox (${obs.path.middlebox.name}): judged by cases/middlebox.test.ts against predictPath` };
  const inputs = obs.prediction.inputs ?? {};
  const side = obs.settings[obs.subject ?? 'client'];
  const defaults = defaultSysctls(obs.kernel);
  const sysctls: Partial<TcpSysctls> = {};
  for (const k of TCP_SYSCTL_NAMES) {
    const v = side.sysctls[k];
    if (v !== undefined && v !== defaults[k]) sysctls[k] = v;
  }
  const s = side.socket;
  const args: ModelArgs = { phase: obs.phase, json: true, family: obs.family, sysctls };
  if (s.keepalive) {
    const fromSysctls = s.keepIdle === side.sysctls.tcp_keepalive_time && s.keepIntvl === side.sysctls.tcp_keepalive_intvl && s.keepCnt === side.sysctls.tcp_keepalive_probes;
    args.keepalive = fromSysctls ? 'on' : { idle: s.keepIdle, intvl: s.keepIntvl, cnt: s.keepCnt };
  }
  if (s.userTimeoutMs) args.userTimeoutMs = s.userTimeoutMs;
  // getsockopt(TCP_SYNCNT) reads back tcp_syn_retries when the option was never set
  if (s.synCnt && s.synCnt !== side.sysctls.tcp_syn_retries) args.synCnt = s.synCnt;
  if (s.deferAcceptS) args.deferAcceptS = s.deferAcceptS;
  // getsockopt(TCP_RTO_MAX_MS) reads back the sysctl when the option was never set
  if (s.rtoMaxMs !== undefined && s.rtoMaxMs !== (side.sysctls.tcp_rto_max_ms ?? 120_000)) args.rtoMaxMs = s.rtoMaxMs;

  switch (obs.phase) {
    case 'idle':
      // an idle prediction without recorded inputs predates alive peers: the peer was gone
      args.peer = inputs.peer ?? 'gone';
      break;
    case 'busy':
    case 'zero-window':
      if (inputs.rtoMs === undefined) return { inexpressible: 'the prediction does not record its measured RTO (a run from before predictions kept their inputs)' };
      if (inputs.localDrop) return { inexpressible: "the client's own egress dropped its packets (faults.localDrop): not a `deadpeer model` option" };
      args.peer = inputs.peer ?? 'gone';
      args.rtoMs = inputs.rtoMs;
      if (obs.phase === 'busy') args.tlpMs = inputs.tlpMs == null ? 'off' : inputs.tlpMs;
      if (obs.phase === 'zero-window') {
        if ((inputs.peerInvalidRateLimitMs ?? 500) !== 500) return { inexpressible: `the receiver's tcp_invalid_ratelimit was ${inputs.peerInvalidRateLimitMs} ms: \`deadpeer model\` assumes its 500 ms default` };
        // µs: the option's resolution, far below a jiffy
        if (args.peer === 'gone' && inputs.peerGoneAtS) args.peerGoneAtS = Math.round(inputs.peerGoneAtS * 1e6) / 1e6;
        if (inputs.peerLastAnswerAtS !== undefined) args.peerAnsweredBeforeS = Math.round(-inputs.peerLastAnswerAtS * 1e6) / 1e6;
      }
      break;
    case 'syn-recv':
      if (inputs.finalAckLost === undefined) return { inexpressible: 'the prediction does not record whether the client was there' };
      if (inputs.clientAcksLost || inputs.clientDataAtS !== undefined) return { inexpressible: "the client's bare ACKs lost and its data timed: not `deadpeer model` options" };
      args.peer = inputs.finalAckLost ? 'alive' : 'gone';
      break;
    case 'defer-accept':
      if (inputs.client === undefined) return { inexpressible: 'the prediction does not record what the client did' };
      if (inputs.client === 'data') return { inexpressible: "the client's data timed: not a `deadpeer model` option" };
      if (args.deferAcceptS) args.peer = inputs.client === 'ack' ? 'alive' : 'gone';
      break;
    case 'syn-sent':
      break;
  }
  // a blip: when it healed, µs resolution (far below a jiffy)
  if (inputs.healS !== undefined) args.blipS = Math.round(inputs.healS * 1e6) / 1e6;
  // what the CLI refuses (the model cannot represent it) a user would leave out: so do we; a refusal
  // can only show once another is gone, hence the rounds. What the kernel ignores stays: the
  // command answers it (the same answer, naming it in ignoredByKernel), as a user would type it.
  let described = args;
  const dropped: string[] = [];
  const refusedOf = (a: ModelArgs) => modelRefusals(a, obs.kernel).filter((r) => !r.kernel);
  for (let refused = refusedOf(described); refused.length; refused = refusedOf(described)) {
    dropped.push(...refused.map((r) => `${r.option} (${r.why})`));
    described = refused.reduce((a, r) => withoutOption(a, r.option), described);
  }
  return { args: described, dropped };
}

export interface CloseJudgement {
  name: string;
  family: 4 | 6;
  phase: string;
  argv: string[];
  /** the CLI's answer */
  closeAt: number | null;
  closeWindow: [number, number] | null;
  /** when the run saw its end, s from t = 0 ([t, t] for a close event; the sock_diag interval for a request that left) */
  observed: [number, number] | null;
  /** how far inside closeWindow the observed end lies (negative: outside it, by that much, within what observing adds) */
  margin: number | null;
  problems: string[];
}

const core = (x: { events: { t: number; side: string; packet: string; n: number }[]; closeAt: number | null; errno: string | null; acceptAt?: number | null }) =>
  JSON.stringify([x.events.map(({ t, side, packet, n }) => [t, side, packet, n]), x.closeAt, x.errno, x.acceptAt ?? null]);

/**
 * Judge one described run. The observed end is the helper's moment, not the kernel's: a close is
 * seen after the helper woke (at most the verdict's USERSPACE_SLACK later), and t = 0 is a packet
 * stamped by the capture (CAPTURE_SLACK). Those two, and no other allowance, separate the
 * kernel's window from what the run can show — the same two the cases' verdict adds.
 */
export function judgeClose(obs: Observation, args: ModelArgs): CloseJudgement {
  const argv = modelArgv(args);
  const out: CloseJudgement = { name: obs.name, family: obs.family, phase: obs.phase, argv, closeAt: null, closeWindow: null, observed: observedEndSpan(obs), margin: null, problems: [] };
  const r = runModel(argv, { features: obs.kernel });
  if (r.code !== 0) {
    out.problems.push(`deadpeer model ${argv.join(' ')} → exit ${r.code}: ${r.stderr.trim()}`);
    return out;
  }
  const answer = JSON.parse(r.stdout) as { events: []; closeAt: number | null; closeWindow: [number, number] | null; errno: string | null; acceptAt?: number | null };
  out.closeAt = answer.closeAt;
  out.closeWindow = answer.closeWindow;
  // the command answers what the case's own model answered: the same code, fed from the same run.
  // An answer that never ends lists its firings up to a horizon: the case's is how long it watched.
  const watched = obs.end - obs.origin;
  if (answer.closeAt === null && obs.prediction.closeAt === null) answer.events = answer.events.filter((e: { t: number }) => e.t <= watched) as [];
  // `deadpeer model idle|busy|zero-window` speaks of the dying side as the client; the server's half
  // asks the same model of the server's accepted socket (recipes/server-phases.ts asServer)
  if (obs.subject === 'server' && ['idle', 'busy', 'zero-window'].includes(obs.phase))
    answer.events = answer.events.map((e: { side: string }) => ({ ...e, side: e.side === 'client' ? 'server' : 'client' })) as [];
  if (core(answer) !== core(obs.prediction)) out.problems.push(`deadpeer model ${argv.join(' ')} answers ${core(answer)}, the case's model ${core(obs.prediction)}`);
  const seen = out.observed;
  if (answer.closeAt === null || answer.closeWindow === null) {
    if (seen) out.problems.push(`the model says it never ends, the run ended at ${seen[1].toFixed(3)} s`);
    return out;
  }
  if (!seen) {
    out.problems.push(`the model says it ends in ${answer.closeWindow.map((x) => x.toFixed(3)).join('…')} s, the run saw no end (watched ${(obs.end - obs.origin).toFixed(3)} s)`);
    return out;
  }
  const [lo, hi] = answer.closeWindow;
  // the end lies somewhere in the observed span: its point nearest the window's middle
  const t = Math.min(Math.max((lo + hi) / 2, seen[0]), seen[1]);
  out.margin = Math.min(t - lo, hi - t);
  if (seen[1] < lo - CAPTURE_SLACK || seen[0] > hi + USERSPACE_SLACK) {
    const when = seen[0] === seen[1] ? `at ${seen[0].toFixed(3)} s` : `between ${seen[0].toFixed(3)} and ${seen[1].toFixed(3)} s`;
    out.problems.push(`ended ${when}, outside deadpeer model's closeWindow ${lo.toFixed(3)}…${hi.toFixed(3)} s`);
  }
  return out;
}
