import type { EffectiveSettings, Observation, RunSettings, TimedAction } from '../core/observation.js';
import type { SockOpt, TcpInfo } from '../core/protocol.js';
import { now } from '../core/clock.js';
import type { TestSocket } from '../helper/client.js';
import type { KernelFeatures, Phase, Prediction, TcpSysctls } from '../model/types.js';
import type { ArmedFault } from './capture.js';
import type { Fault } from './faults.js';
import type { Topology } from './topology.js';
import type { PathSpec } from './router.js';
import type { PathPrediction } from '../model/path.js';
import type { Side } from '../core/side.js';

/**
 * What an experiment is (ScenarioSpec: its sides, its model, its steps) and the live state its
 * steps act on (Run). runScenario (scenario.ts) plays one; spec-check.ts validates one first.
 */
export interface EndpointSpec {
  /** net.ipv4.* sysctls for this side's namespace, short names (tcp_syn_retries: 3) */
  sysctls?: Partial<Record<keyof TcpSysctls, number>>;
  /** socket options set before connect() / listen() */
  options?: Partial<Record<SockOpt, number>>;
}

/** One step of the experiment's timeline: a label (for failure messages) and what it does. */
export interface Step {
  label: string;
  run: (r: Run) => Promise<void>;
  /** the fault this step arms, if any: installed before the experiment starts, so arming is instant */
  fault?: Fault;
}

export interface ScenarioSpec {
  name: string;
  phase: Phase;
  family: 4 | 6;
  client?: EndpointSpec;
  server?: EndpointSpec;
  /** whose socket's fate is the observation (default: client) */
  subject?: Side;
  /** what the model predicts for this run, from the settings read back from the kernel */
  model: (input: RunSettings) => Prediction;
  /** a router on the path between the two, forgetting idle flows as a middlebox does (harness/engine/router.ts) */
  path?: PathSpec;
  /** with a path: the path model's whole answer (mapping kept, what meets the forgotten entry), recorded beside the prediction */
  pathModel?: (input: RunSettings) => PathPrediction;
  /** t = 0 of the prediction on the run's clock (default: per phase, see ORIGINS) */
  origin?: (obs: Omit<Observation, 'origin'>) => number;
  /**
   * The experiment's set-up as the run really went, checked before any verdict: why it did not
   * hold (the receiver went silent a probe late on a loaded machine), or undefined. A run whose
   * set-up did not hold cannot be judged (Observation.cannotJudge): the kernel answered a different
   * question than the case asks.
   */
  premise?: (obs: Observation) => string | undefined;
  steps: Step[];
}

const OPTIONS_READ_BACK: SockOpt[] = [
  'SO_KEEPALIVE',
  'TCP_KEEPIDLE',
  'TCP_KEEPINTVL',
  'TCP_KEEPCNT',
  'TCP_USER_TIMEOUT',
  'TCP_SYNCNT',
  'TCP_DEFER_ACCEPT',
  'SO_RCVBUF',
  'SO_SNDBUF',
  'TCP_NOTSENT_LOWAT',
  'TCP_RTO_MAX_MS',
];

/** The live state of a run, handed to every step. */
export class Run {
  readonly marks: Record<string, number> = {};
  readonly faults: ArmedFault[] = [];
  readonly snapshots: Observation['snapshots'] = [];
  readonly settings: Partial<Record<Side, EffectiveSettings>> = {};
  sysctls: Partial<Record<Side, TcpSysctls>> = {};
  listener?: TestSocket;
  clientSock?: TestSocket;
  serverSock?: TestSocket;
  rtoMs?: number;
  /** the heal a blip step planned, s from the phase's t = 0 (as near as the step can tell it) */
  plannedHealS?: number;
  /** actions the helpers performed at a planned moment: due and done, for the verdict's lateness check */
  readonly timed: TimedAction[] = [];
  private predicted?: Prediction;
  private healing?: Promise<void>;

  constructor(
    readonly spec: ScenarioSpec,
    readonly topo: Topology,
    readonly kernel: KernelFeatures,
  ) {}

  get family(): 4 | 6 {
    return this.spec.family;
  }
  get subject(): Side {
    return this.spec.subject ?? 'client';
  }
  subjectSocket(): TestSocket | undefined {
    return this.subject === 'client' ? this.clientSock : this.serverSock;
  }

  mark(name: string, t = now()): number {
    this.marks[name] = t;
    return t;
  }

  /**
   * Arm a fault now, or — with `at`, a moment on the run's clock — have the helpers arm it then
   * (recorded as a timed action: when it was due, when it took effect).
   */
  async arm(fault: Fault, at?: number): Promise<void> {
    const sides = await this.topo.arm(fault, at);
    const t = Math.max(sides.client, sides.server);
    this.mark(this.faults.length ? `fault ${this.faults.length + 1}` : 'fault', t);
    this.faults.push({ t, at: sides, fault });
    if (at !== undefined) this.timed.push({ name: `arm ${fault.name}`, due: at, at: t });
  }

  /**
   * A fault that heals: armed (now, or at `armAt`), lifted `seconds` after `from` (default: the
   * moment it was due to be armed, or armed) — both sides back to interface group 0, flipped by the
   * helpers themselves at that moment, never by this process's timers, which a busy machine makes
   * late. `heal(due)` plans whatever else the vanishing undid (a silenced receiver answers again)
   * for the same moment and returns when it took effect. The heal is recorded as the mark
   * 'healed', as a 'healed' fault (packets after it are not counted dropped) and as a timed action.
   */
  async blip(fault: Fault, seconds: number, opts: { armAt?: number; from?: number; heal?: (due: number) => Promise<number> } = {}): Promise<void> {
    await this.arm(fault, opts.armAt);
    this.healAt((opts.from ?? opts.armAt ?? this.faults.at(-1)!.t) + seconds, opts.heal);
  }

  /**
   * Lift whatever is armed at `due` (the run's clock), by the helpers (see blip); for a blip whose
   * length counts from a moment after its arming — the phase's t = 0, known only once the
   * connection got there (the first SYN, the first transmission of the data).
   */
  healAt(due: number, heal?: (due: number) => Promise<number>): void {
    this.healing = (async () => {
      const [sides, extra] = await Promise.all([this.topo.arm(null, due), heal ? heal(due) : Promise.resolve(0)]);
      const t = Math.max(sides.client, sides.server, extra);
      this.faults.push({ t, at: sides, fault: { name: 'healed', drops: [] } });
      this.mark('healed', t);
      this.timed.push({ name: 'heal', due, at: t });
    })().catch(() => undefined); // cancelled: the run ended (and its topology went) before the heal was due
  }

  /** Wait for a pending heal (a run that must see it), or drop it (a run that is over). */
  async settleHeal(mode: 'wait' | 'cancel'): Promise<void> {
    if (mode === 'cancel' && this.healing) await this.topo.unschedule();
    await this.healing;
  }

  /** A new socket with the side's options applied, and everything read back. */
  async socketFor(side: Side): Promise<TestSocket> {
    const s = await this.topo.endpoint(side).helper.socket(this.family);
    for (const [opt, value] of Object.entries(this.spec[side]?.options ?? {})) await s.set(opt as SockOpt, value);
    this.settings[side] = await readSettings(s, this.sysctls[side]!, this.spec[side]?.options ?? {});
    return s;
  }

  /**
   * Read a side's settings again, from `sock` (an accepted socket: what it inherited from the
   * listener, harness/model/inherit.ts), so the model predicts for the socket whose fate is watched.
   */
  async readBack(side: Side, sock: TestSocket): Promise<void> {
    this.settings[side] = await readSettings(sock, this.sysctls[side]!, this.spec[side]?.options ?? {});
  }

  async snapshot(side: Side, label: string, sock?: TestSocket): Promise<TcpInfo> {
    const s = sock ?? (side === 'client' ? this.clientSock : this.serverSock);
    if (!s) throw new Error(`no ${side} socket to snapshot (step "${label}")`);
    const info = await s.info();
    this.snapshots.push({ ...info, side, label });
    return info;
  }

  /** The model's prediction for this run, from the effective settings (computed once). */
  prediction(): Prediction {
    if (!this.predicted) {
      this.predicted = this.spec.model(this.runSettings(this.plannedHealS));
    }
    return this.predicted;
  }

  /** What the model reads: the effective settings, what the run measured, and the heal (s from t = 0) if a blip healed. */
  runSettings(healS?: number): RunSettings {
    const missing = (['client', 'server'] as Side[]).filter((s) => !this.settings[s]);
    if (missing.length) throw new Error(`cannot predict before both sockets exist (missing: ${missing.join(', ')})`);
    return { kernel: this.kernel, client: this.settings.client!, server: this.settings.server!, rtoMs: this.rtoMs, ...(healS !== undefined ? { healS } : {}) };
  }
}

async function readSettings(s: TestSocket, sysctls: TcpSysctls, requested: Partial<Record<SockOpt, number>>): Promise<EffectiveSettings> {
  const raw: Partial<Record<SockOpt, number>> = {};
  for (const opt of OPTIONS_READ_BACK) {
    try {
      raw[opt] = await s.get(opt);
    } catch {
      /* ENOPROTOOPT on kernels without the option: absent means "not supported here" */
    }
  }
  return {
    sysctls,
    raw,
    socket: {
      keepalive: raw.SO_KEEPALIVE === 1,
      keepIdle: raw.TCP_KEEPIDLE ?? sysctls.tcp_keepalive_time,
      keepIntvl: raw.TCP_KEEPINTVL ?? sysctls.tcp_keepalive_intvl,
      keepCnt: raw.TCP_KEEPCNT ?? sysctls.tcp_keepalive_probes,
      userTimeoutMs: raw.TCP_USER_TIMEOUT ?? 0,
      // getsockopt(TCP_SYNCNT) answers `icsk_syn_retries ?: tcp_syn_retries` (do_tcp_getsockopt):
      // an unset option reads back as the sysctl, which would look like an override (of
      // tcp_synack_retries on a listener). Only a set option counts as one.
      synCnt: requested.TCP_SYNCNT !== undefined ? (raw.TCP_SYNCNT ?? 0) : 0,
      ...(raw.TCP_DEFER_ACCEPT !== undefined ? { deferAcceptS: raw.TCP_DEFER_ACCEPT } : {}),
      ...(raw.TCP_RTO_MAX_MS !== undefined ? { rtoMaxMs: raw.TCP_RTO_MAX_MS } : {}),
    },
  };
}
