import { type Fault, faults } from '../engine/faults.js';
import { predictBlip } from '../model/blip.js';
import { predictBusy, tailLossProbeMs } from '../model/busy.js';
import { predictIdle } from '../model/idle.js';
import { predictSynSent } from '../model/syn-sent.js';
import type { BusyInput, Prediction } from '../model/types.js';
import { predictZeroWindow } from '../model/zero-window.js';
import { arm, awaitClose, handshake, healAfter, hold, listen, connect, measureRto, pump, send, untilPacket } from '../engine/steps.js';
import { readPeerRateLimit, receiverSilencedAfterFirstAnswer, vanishAfterAnsweredProbe } from './window-probes.js';
import { type RunSettings, sideInput } from '../core/observation.js';
import { now } from '../core/clock.js';
import type { EndpointSpec, ScenarioSpec, Step } from '../engine/run.js';
import type { Side } from '../core/side.js';

/**
 * The four moments at which a user's connection can lose its peer, as ready-made scenarios for a
 * given client configuration (socket options, family, namespace sysctls). `deadpeer check` runs
 * them, and the case files build their variants on the same builders (the options below). The
 * client is always the subject; every prediction comes from the settings read back from the kernel.
 *
 *   connect      the server never answers: SYN-SENT until the SYN budget or TCP_USER_TIMEOUT
 *   idle         the peer vanishes after the handshake, nothing to send: keepalive or nothing
 *   busy         the peer vanishes with data unacknowledged: retransmissions until the budget / U
 *   zero-window  the peer stopped reading (window 0), then vanishes: window probes unanswered
 */
export type UserPhase = 'connect' | 'idle' | 'busy' | 'zero-window';
export const USER_PHASES: readonly UserPhase[] = ['connect', 'idle', 'busy', 'zero-window'];

/** What t = 0 of each phase is, in the user's words (the model's origin). */
export const PHASE_ORIGIN: Record<UserPhase, string> = {
  connect: 'connect() (the first SYN)',
  idle: 'the last packet from the peer',
  busy: 'the first transmission of the unacknowledged data',
  'zero-window': 'the peer advertising a zero window',
};

export interface PhaseSetup {
  family: 4 | 6;
  /**
   * A blip instead of a vanished peer: the outage heals after this many seconds (from when it
   * began), and the model says whether the connection survives it (harness/model/blip.ts).
   */
  blipS?: number;
  /** idle only: the blip begins this long after the handshake (just before the first keepalive probe: its worst moment) */
  blipAtS?: number;
  /** the client's socket options and namespace sysctls */
  client?: EndpointSpec;
  /** scenario name prefix (the run folder is named after it) */
  name?: string;
}

/** Bytes the busy client writes: one segment, so every retransmission carries the same bytes. */
export const BUSY_BYTES = 1000;
/** The server's SO_RCVBUF in the zero-window phase (the kernel doubles it): a few segments close the window. */
export const ZERO_WINDOW_RCVBUF = 4096;
const named = (s: PhaseSetup, phase: UserPhase) => `${s.name ?? 'phase'}/${phase}${s.blipS !== undefined ? `-blip-${s.blipS}s` : ''}`;

/**
 * The peer goes for good, or for the setup's blip: armed now, healed `blipS` after the phase's
 * t = 0 (the `healAfter` step once the mark exists) — the moment the model and `check` count a
 * blip from, so a slow step between the arming and t = 0 cannot shorten the outage that matters.
 */
const vanish = (fault: Fault): Step => arm(fault);
const healBlip = (s: PhaseSetup, mark: string): Step[] => (s.blipS === undefined ? [] : [healAfter(mark, s.blipS)]);

/**
 * A late blip (idle: just before the first keepalive probe, its worst moment) is armed by the
 * helpers at a moment planned from the handshake on the kernel's clock — a Node timer would arm it
 * late on a busy machine, after the probe it was placed to swallow. Its heal counts from t = 0:
 * the model's healS is start + length.
 */
const vanishIdle = (s: PhaseSetup): Step => {
  if (s.blipS === undefined) return vanish(faults.blackhole());
  const fault = faults.blackhole();
  const [at, seconds] = [s.blipAtS ?? 0, s.blipS];
  return {
    label: `blip: ${fault.name} for ${seconds} s, from ${at} s after the handshake`,
    fault,
    run: async (r) => {
      r.plannedHealS = at + seconds;
      await r.blip(fault, seconds, { armAt: r.marks.established! + at });
    },
  };
};

/** The prediction with the peer gone, or — once the run knows when a blip healed — with the blip. */
export const withBlip = (gone: Prediction, r: RunSettings): Prediction => (r.healS === undefined ? gone : predictBlip(gone, r.healS, r.kernel.hz).prediction);

/** connect(): the server's namespace drops every SYN. */
export function connectPhase(s: PhaseSetup): ScenarioSpec {
  return {
    name: named(s, 'connect'),
    phase: 'syn-sent',
    family: s.family,
    client: s.client,
    model: (r) => withBlip(predictSynSent(sideInput(r, 'client')), r),
    steps: [vanish(faults.dropSyn()), listen(), connect(), ...healBlip(s, 'connect'), awaitClose()],
  };
}

/** Idle: the handshake completes, then nothing gets through either way. */
export function idlePhase(s: PhaseSetup, opts: { aliveFor?: number } = {}): ScenarioSpec {
  return {
    name: named(s, 'idle'),
    phase: 'idle',
    family: s.family,
    client: s.client,
    model: (r) => withBlip(predictIdle(sideInput(r, 'client')), r),
    steps: [...handshake(), vanishIdle(s), awaitClose({ aliveFor: opts.aliveFor })],
  };
}

/**
 * What the client's kernel reads when its data leaves: the tail loss probe's timeout
 * (tcp_schedule_loss_probe), from the RTT/RTO snapshot measureRto() took and the namespaces' sysctls.
 */
export const tailLossProbe = (bytes: number, found: (ms: number | undefined) => void, side: Side = 'client'): Step => ({
  label: 'tail loss probe timeout',
  run: async (r) => {
    const info = r.snapshots.filter((x) => x.side === side && x.label === 'rto').at(-1);
    if (!info) throw new Error('no RTO snapshot (measureRto first)');
    const sysctl = async (side: 'client' | 'server', name: string) => Number(await r.topo.endpoint(side).helper.sysctl(`net.ipv4.${name}`));
    found(
      tailLossProbeMs({
        hz: r.kernel.hz,
        srttUs: info.rtt_us,
        packetsOut: Math.ceil(bytes / info.snd_mss),
        rtoMs: info.rto_us / 1000,
        rtoMinUs: r.sysctls[side]?.tcp_rto_min_us ?? 200_000,
        earlyRetrans: await sysctl(side, 'tcp_early_retrans'),
        sack: (await sysctl('client', 'tcp_sack')) === 1 && (await sysctl('server', 'tcp_sack')) === 1,
      }),
    );
  },
});

export interface BusyOptions {
  /** bytes written (default BUSY_BYTES, one segment) */
  bytes?: number;
  /** seconds the peer is already silent (blackhole armed) before the client writes */
  silentFor?: number;
  /** handed the model's input, to ask the model "what if" about the same connection */
  onModelInput?: (input: BusyInput) => void;
  /**
   * The client's own egress drops everything from before the write (faults.localDrop) instead of
   * the peer vanishing: the data never leaves, t = 0 is the write itself (the helper's moment after
   * send(): the kernel tried to transmit inside it), and nothing reaches the wire to place it by.
   */
  localDrop?: boolean;
}

/** Busy: the peer vanishes, then the client writes data that is never acknowledged. */
export function busyPhase(s: PhaseSetup, opts: BusyOptions = {}): ScenarioSpec {
  const bytes = opts.bytes ?? BUSY_BYTES;
  let tlpMs: number | undefined;
  return {
    name: `${named(s, 'busy')}${opts.localDrop ? '-local-drop' : ''}`,
    phase: 'busy',
    family: s.family,
    client: s.client,
    model: (r) => {
      const input: BusyInput = { ...sideInput(r, 'client'), rtoMs: r.rtoMs!, ...(tlpMs === undefined ? {} : { tlpMs }), ...(opts.localDrop ? { localDrop: true } : {}) };
      opts.onModelInput?.(input);
      return withBlip(predictBusy(input), r);
    },
    ...(opts.localDrop ? { origin: (o) => o.marks['client sent']! } : {}),
    steps: [
      ...handshake(),
      measureRto('client'),
      tailLossProbe(bytes, (ms) => (tlpMs = ms)),
      vanish(opts.localDrop ? faults.localDrop() : faults.blackhole()),
      ...(opts.silentFor ? [hold(opts.silentFor)] : []),
      send('client', bytes),
      ...(s.blipS === undefined ? [] : [untilPacket('data out', (p) => p.from === 'client' && p.len > 0), ...healBlip(s, 'data out')]),
      awaitClose(),
    ],
  };
}

/** What the run learns about a zero-window receiver, for the model (seconds from the zero-window ACK). */
export interface ZeroWindowPeer {
  /** its net.ipv4.tcp_invalid_ratelimit: it answers at most one probe per this */
  rateLimitMs?: number;
  /** when it vanished */
  goneAtS?: number;
  /** when it last answered a probe (if not just before goneAtS) */
  lastAnswerAtS?: number;
}

/** The zero-window model fed with what the run measured of the receiver; `side` is the sender (default the client). */
export const zeroWindowModel =
  (peer: ZeroWindowPeer, opts: { alive?: boolean; horizonS?: number; localDrop?: boolean; side?: Side } = {}) =>
  (r: RunSettings): Prediction =>
    predictZeroWindow({
      ...sideInput(r, opts.side ?? 'client'),
      rtoMs: r.rtoMs!,
      peer: opts.alive ? 'alive' : 'gone',
      ...(opts.localDrop ? { localDrop: true } : {}),
      horizonS: opts.horizonS,
      peerInvalidRateLimitMs: peer.rateLimitMs,
      peerGoneAtS: peer.goneAtS,
      peerLastAnswerAtS: peer.lastAnswerAtS,
    });

export interface ZeroWindowOptions {
  /** the receiver stays (default: it vanishes right after answering a window probe) */
  alive?: boolean;
  /** stop watching this long after t = 0 instead of awaiting the close (an alive receiver) */
  horizonS?: number;
  /** filled in by the run: what the model was told about the receiver */
  peer?: ZeroWindowPeer;
  /**
   * The receiver stays, but the client's own egress drops everything from just after the window
   * closed (faults.localDrop, armed by the helpers LOCAL_DROP_ARM_S after it, before the first probe)
   */
  localDrop?: boolean;
}

/**
 * When a zero-window local drop is armed, s after the window closed: well before the first probe
 * (tcp_probe0_base ≥ TCP_RTO_MIN = 200 ms), and planned on the helpers' clock, so the judge knows
 * if it came too late (a probe that slipped out first).
 */
export const LOCAL_DROP_ARM_S = 0.02;

/**
 * Zero window: the server (small SO_RCVBUF) never reads, the client keeps writing until the
 * window closes (t = 0), and the persist timer probes. A vanishing receiver goes silent right
 * after it answered a probe (harness/recipes/window-probes.ts), then is blackholed.
 */
export function zeroWindowPhase(s: PhaseSetup, opts: ZeroWindowOptions = {}): ScenarioSpec {
  const peer = opts.peer ?? {};
  // one object: installed up front by identity, so arming it is a group flip, never an nft process
  const dropFault = faults.localDrop();
  const localDrop: Step = {
    label: 'local drop, just after the window closed',
    fault: dropFault,
    run: (r) => r.arm(dropFault, r.marks['zero-window']! + LOCAL_DROP_ARM_S),
  };
  return {
    name: `${named(s, 'zero-window')}${opts.localDrop ? '-local-drop' : ''}`,
    phase: 'zero-window',
    family: s.family,
    client: s.client,
    // on the listener before listen(): the accepted socket inherits it (and the window scale that fits it)
    server: { options: { SO_RCVBUF: ZERO_WINDOW_RCVBUF } },
    model: (r) => withBlip(zeroWindowModel(peer, opts)(r), r),
    ...(opts.localDrop || opts.alive ? {} : { premise: receiverSilencedAfterFirstAnswer }),
    steps: [
      ...handshake(),
      readPeerRateLimit(peer),
      pump('client'),
      // the first win 0 acknowledges everything sent: a receiver never shrinks its offered window
      untilPacket('zero-window', (p) => p.from === 'server' && p.win === 0),
      ...(opts.localDrop ? [localDrop] : opts.alive ? [] : vanishAfterAnsweredProbe('zero-window', peer, { blipS: s.blipS })),
      measureRto('client', { asOf: 'zero-window' }),
      opts.horizonS ? holdPast('zero-window', opts.horizonS) : awaitClose(),
    ],
  };
}

/** Hold until `seconds` after mark `mark`. */
export const holdPast = (mark: string, seconds: number): Step => ({
  label: `hold until ${seconds} s after ${mark}`,
  run: async (r) => {
    await new Promise((res) => setTimeout(res, Math.max(0, r.marks[mark]! + seconds - now()) * 1000));
  },
});

export const PHASE_SCENARIOS: Record<UserPhase, (s: PhaseSetup) => ScenarioSpec> = {
  connect: connectPhase,
  idle: (s) => idlePhase(s),
  busy: (s) => busyPhase(s),
  'zero-window': (s) => zeroWindowPhase(s),
};
