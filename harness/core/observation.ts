import type { Side } from './side.js';
import type { Middlebox } from '../model/middlebox.js';
import type { PathPrediction } from '../model/path.js';
import type { KernelFeatures, ModelInput, PacketKind, Phase, Prediction, SocketSettings, TcpSysctls } from '../model/types.js';
import type { ProfileName } from './profile.js';
import type { HelperEvent, SockOpt, TcpInfo } from './protocol.js';

/**
 * The vocabulary every layer shares: what a run observed, on one clock (CLOCK_MONOTONIC seconds).
 * The engine produces an Observation, the judge and the report read it, and it is written as
 * observation.json; nothing here does anything.
 */

/**
 * The packet timeline of a run. The client's helper records every TCP packet on its end of the
 * veth with AF_PACKET (kernel timestamps, mapped onto CLOCK_MONOTONIC — the clock of every other
 * event). Faults drop at the receiver's input hook, after the tap, so the wire shows every packet;
 * whether one was dropped is derived from the fault that was armed when it crossed.
 */
export interface Packet {
  /** CLOCK_MONOTONIC seconds */
  t: number;
  from: Side;
  flags: string;
  seq: number;
  ack: number;
  win: number;
  len: number;
  wscale?: number;
  mss?: number;
  dropped: boolean;
  kind: PacketKind;
  /**
   * A LOCAL-DROP only: the sender's egress dropped it before the tap, so it is known from sock_diag's
   * count, which rose after the lookup at notBefore and by the one at t: it happened in (notBefore, t].
   */
  notBefore?: number;
}

export interface EffectiveSettings {
  sysctls: TcpSysctls;
  /** every option read back with getsockopt; absent = the kernel refused to tell (ENOPROTOOPT) */
  raw: Partial<Record<SockOpt, number>>;
  socket: SocketSettings;
}

export interface RunSettings {
  kernel: KernelFeatures;
  client: EffectiveSettings;
  server: EffectiveSettings;
  /** measured on the connection when it matters (busy: the RTO before the fault), else undefined */
  rtoMs?: number;
  /** a blip: when the outage ended, s from the phase's t = 0 (planned while the run waits, measured once it healed) */
  healS?: number;
}

/** The model's input for one side of a run: that side's effective settings and the kernel. */
export function sideInput(s: RunSettings, side: Side): ModelInput {
  return { sysctls: s[side].sysctls, socket: s[side].socket, features: s.kernel };
}

export interface CloseEvent {
  side: Side;
  t: number;
  errno: string;
  /** how the helper learned it: SO_ERROR after poll, the failing connect/recv/send */
  via: string;
  info: TcpInfo;
}

export interface TimerState {
  t: number;
  side: Side;
  /** 'timer' = a change seen; 'gone' = the socket (or request) left the kernel's tables */
  ev: 'timer' | 'gone';
  sport: number;
  dport: number;
  state: string;
  timer: 'off' | 'on' | 'keepalive' | 'timewait' | 'persist' | 'unknown';
  expiresMs: number;
  retrans: number;
  /** 'gone' only: when a lookup last found it; it left the tables in (aliveT, t] */
  aliveT?: number;
  /** icsk_rto (tcp_info) at that lookup, µs */
  rtoUs?: number;
  /**
   * tcpi_bytes_acked at that lookup (the SYN counts as one): whether this side had taken in a given
   * ACK yet. The tap times a packet on arrival; the socket takes it in later, and a lookup between
   * the two still shows the state before it.
   */
  bytesAcked?: number;
  /** 'timer' only: the lookup before this one, which did not show the change: it happened in (prevT, t] */
  prevT?: number;
}

/**
 * What a run had of the machine, where it bears on its times. A rootless run (a user namespace of
 * its own) is root only of its own namespaces: its helpers cannot run SCHED_FIFO and it cannot read
 * the jiffies clock, so its model times are the ideal ones. Absent in observations older than this.
 */
export interface RunConditions {
  /** inside a user namespace, not root of the host */
  rootless: boolean;
  /** both helpers ran SCHED_FIFO; when not, realtimeOff says why (EPERM in a user namespace) */
  realtime: boolean;
  realtimeOff?: string;
  /** why the model's times are the ideal ones, not placed on the timer wheel; absent = placed */
  unplaced?: string;
}

/** Everything a run produced, on one clock (CLOCK_MONOTONIC seconds), enough to judge it alone. */
export interface Observation {
  name: string;
  phase: Phase;
  family: 4 | 6;
  /** whose fate is observed */
  subject: Side;
  profile: ProfileName;
  kernel: KernelFeatures;
  settings: { client: EffectiveSettings; server: EffectiveSettings };
  /** named moments: connect, established, accepted, fault, … */
  marks: Record<string, number>;
  faults: Array<{ t: number; name: string }>;
  packets: Packet[];
  timers: TimerState[];
  /** the subject socket's death; null if it was still alive when the run ended */
  close: CloseEvent | null;
  /** TCP_INFO snapshots taken by steps, in order */
  snapshots: Array<TcpInfo & { t: number; side: Side; label: string }>;
  dropCounters: Record<string, number>;
  prediction: Prediction;
  /** t = 0 of the prediction */
  origin: number;
  end: number;
  /** where the run's pcap, Observation JSON and timeline picture were written */
  artifacts: { dir: string; pcap: string; json: string };
  /** helper events that are not packets or timer states (connected, closed, errors, …) */
  events: HelperEvent[];
  conditions?: RunConditions;
  /** what the helpers did at a planned moment (a blip's heal, a fault armed at a time): when each was due, when it took effect */
  timed?: TimedAction[];
  /**
   * Set when an action came later than the model's window allows for it: the run cannot be judged,
   * and nothing reports it as agreeing or differing. One line, e.g. "the heal came 640 ms late: …".
   */
  cannotJudge?: string;
  /** a router on the path (a middlebox): what it was, what it remembered, and the packets on its far side */
  path?: PathObservation;
}

/**
 * The path through a router running conntrack as a middlebox (harness/engine/router.ts). The client's
 * leg is `packets` (the client's tap, as without a router); the server's leg is captured at the server's
 * end, on the same clock. The router's table is read every 20 ms over ctnetlink.
 */
export interface PathObservation {
  middlebox: Middlebox;
  /** packets on the router–server leg, seen at the server's end (with NAT, "client" is the router's address) */
  serverLeg: Packet[];
  /** the router's entry for the connection: when it appeared, each refresh, its end */
  conntrack: ConntrackSample[];
  /** the router's rules: packets of a forgotten flow dropped or answered with a RST, per hook */
  counters: Record<string, number>;
  /** the path model's answer for this run (harness/model/path.ts), from the settings read back */
  predicted?: PathPrediction;
}

/**
 * One look at the router's conntrack entry for the connection, taken when something changed: it
 * appeared, changed state, was refreshed (its timeout went up: a packet of the flow crossed within
 * (prevT, t]), or is gone (present false: it expired within (aliveT, t]).
 */
export interface ConntrackSample {
  t: number;
  present: boolean;
  family: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** masquerade: the address the server sees instead of the client's */
  nat?: string;
  /** conntrack's TCP state (ESTABLISHED, …) */
  state?: string;
  /** whole seconds left, as ctnetlink reports them (rounded down) */
  timeoutS?: number;
  prevT?: number;
  aliveT?: number;
}

/** An action a helper performed at a planned moment, on the run's clock. */
export interface TimedAction {
  /** 'heal', 'arm blackhole', … */
  name: string;
  /** when it was planned */
  due: number;
  /** when it took effect (the later side's, for a flip on both ends) */
  at: number;
  /** how much later it could have come without changing the model's answer (ms); absent: any lateness is harmless */
  allowedMs?: number;
}
