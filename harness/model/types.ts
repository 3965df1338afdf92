/**
 * The model's vocabulary. Everything here is plain data: the model is a set of pure
 * functions from (effective settings, kernel features) to an expected timeline, so it can be
 * unit-tested without root and asked from the CLI without running anything.
 */

/** What the running (or a named) kernel can do. Feature probes first, release only where none exists. */
export interface KernelFeatures {
  /** uname -r, e.g. "6.18.44-fc-v657". */
  release: string;
  /** Parsed [major, minor, patch] of the release. */
  version: [number, number, number];
  /** CONFIG_HZ: the jiffy is 1000/hz ms; timer-wheel slack derives from it. */
  hz: number;
  /** net.ipv4.tcp_syn_linear_timeouts exists (6.5+, commit ccce324dabfe). */
  synLinearTimeouts: boolean;
  /** net.ipv4.tcp_rto_min_us exists (6.11+). */
  rtoMinUsSysctl: boolean;
  /** TCP_RTO_MAX_MS socket option and net.ipv4.tcp_rto_max_ms (6.15+). */
  rtoMax: boolean;
  /** TCP_USER_TIMEOUT applies to zero-window probing (5.11+, stable 5.4.93 / 5.10.y; 9d9b1ee0b2d1). */
  zeroWindowUserTimeout: boolean;
  /** TCP_USER_TIMEOUT ends SYN-SENT cleanly at U (5.4+, a66b10c05ee2); before it an odd SYN burst. */
  synSentUserTimeoutClean: boolean;
  /**
   * The request timer's SYN+ACK backoff is capped by the listener's tcp_rto_max, not the constant
   * TCP_RTO_MAX (6.19+, 1e9d3005e02c). No probe exists: gated on the release. Observations
   * recorded before the gate existed lack it (read as false: they come from 6.18 and older).
   */
  synAckRtoMax: boolean;
}

/** Per-namespace sysctls, read back from /proc/sys/net/ipv4 inside the namespace. */
export interface TcpSysctls {
  tcp_syn_retries: number;
  tcp_synack_retries: number;
  tcp_retries1: number;
  tcp_retries2: number;
  /** seconds */
  tcp_keepalive_time: number;
  /** seconds */
  tcp_keepalive_intvl: number;
  tcp_keepalive_probes: number;
  /** absent before 6.5 */
  tcp_syn_linear_timeouts?: number;
  /** absent before 6.11 */
  tcp_rto_min_us?: number;
  /** absent before 6.15 */
  tcp_rto_max_ms?: number;
  tcp_syncookies?: number;
}

/** Every sysctl of TcpSysctls, in the order reports list them (read back per namespace). */
export const TCP_SYSCTL_NAMES: readonly (keyof TcpSysctls)[] = [
  'tcp_syn_retries',
  'tcp_synack_retries',
  'tcp_retries1',
  'tcp_retries2',
  'tcp_keepalive_time',
  'tcp_keepalive_intvl',
  'tcp_keepalive_probes',
  'tcp_syn_linear_timeouts',
  'tcp_rto_min_us',
  'tcp_rto_max_ms',
  'tcp_syncookies',
];

/** Socket options as read back with getsockopt (0 = "not set, use the sysctl"). */
export interface SocketSettings {
  keepalive: boolean;
  /** TCP_KEEPIDLE, seconds (read back; equals the sysctl when never set) */
  keepIdle: number;
  /** TCP_KEEPINTVL, seconds */
  keepIntvl: number;
  /** TCP_KEEPCNT */
  keepCnt: number;
  /** TCP_USER_TIMEOUT, ms; 0 = off */
  userTimeoutMs: number;
  /** TCP_SYNCNT; 0 = use tcp_syn_retries */
  synCnt: number;
  /** TCP_DEFER_ACCEPT as read back, seconds (the kernel rounds it) */
  deferAcceptS?: number;
  /** TCP_RTO_MAX_MS, ms (6.15+); undefined = sysctl */
  rtoMaxMs?: number;
}

export type Side = 'client' | 'server';

/** Packet kinds the model predicts (and capture classifies) — the same strings on both sides. */
export type PacketKind =
  | 'SYN'
  | 'SYN-ACK'
  | 'ACK'
  | 'DATA'
  | 'RETRANSMIT'
  | 'KEEPALIVE'
  | 'WINDOW-PROBE'
  | 'RST'
  | 'FIN'
  /**
   * A transmission the sender's own egress dropped (faults.localDrop): it never reaches the wire,
   * so it is seen by its count in sock_diag (icsk_probes_out), not in the capture.
   */
  | 'LOCAL-DROP';

export interface ModelEvent {
  /** seconds from the phase's start (see Prediction.origin) */
  t: number;
  side: Side;
  packet: PacketKind;
  /** 0 = first transmission, 1.. = retransmission / probe number */
  n: number;
  /** How the timer that sends it was armed, where the previous event of its side does not say it all (model/wheel.ts). */
  timer?: TimerHint;
}

/**
 * For placing a firing on the kernel's timer wheel (model/wheel.ts placeOnWheel): by default a
 * timer is armed by the previous event of its side (or at t = 0) for the ideal gap between them.
 */
export interface TimerHint {
  /** ideal times (s) at which the same timer fired silently in between, each re-arming it */
  via?: number[];
  /**
   * The delay was clamped to what was left of a user timeout: U ms counted from event
   * `from` (an index into events; the kernel measures the elapsed time, so the clamp moves with
   * the real firings).
   */
  deadline?: { from: number; ms: number };
}

/** See Prediction.closeBudget. */
export interface CloseBudget {
  /** the event whose real time starts the clock (an index into events; -1 = t = 0) */
  from: number;
  /** the budget, ms */
  ms: number;
  /** only firings after this event (an index into events) check it */
  after: number;
}

export type Phase = 'syn-sent' | 'syn-recv' | 'defer-accept' | 'idle' | 'busy' | 'zero-window';

export interface Prediction {
  phase: Phase;
  kernel: string;
  /** What t = 0 is, in words (e.g. "the first SYN"). */
  origin: string;
  /** Packets the dying side sends after t = 0, in order. */
  events: ModelEvent[];
  /** seconds from origin when the socket gives up; null = never */
  closeAt: number | null;
  /** how the timer that gives up was armed (see ModelEvent.timer) */
  closeTimer?: TimerHint;
  /**
   * The give-up is a time budget checked at each firing of the closing chain (retransmits_timed_out
   * for tcp_retries2 or TCP_USER_TIMEOUT, the keepalive timer's and the persist timer's U): the
   * first firing after event `after` at which `ms` have passed since event `from` (-1: t = 0),
   * measured on the real firings. Late firings add up, so the budget can be met one firing (or
   * more) before the ideal chain meets it: model/windows.ts widens the close window to every firing
   * where it can land, and marks the events it can replace as optional.
   */
  closeBudget?: CloseBudget;
  /**
   * The give-up is no timer's: it is the answer to the last event (a middlebox's RST to the packet
   * that met its forgotten entry), arriving up to `withinS` after it — a round trip on the path,
   * which the model does not know (model/path.ts RTT_ALLOWANCE_S). model/windows.ts widens the close
   * window's late edge by it.
   */
  closeAnswer?: { withinS: number };
  /**
   * The same times placed on the running kernel's timer wheel (model/wheel.ts placeOnWheel), once
   * the run knows where t = 0 fell on the jiffies clock: where the kernel really fires each timer.
   * The times above stay the ideal ones (each timer exactly its delay after its arming), from
   * which the verdict's tolerance windows are derived.
   */
  placed?: { events: number[]; closeAt: number | null; acceptAt?: number | null };
  /**
   * errno the application sees; null = never closes, or the application never holds the socket
   * (a SYN-RECV request dies in the SYN queue without the application ever seeing it).
   */
  errno: string | null;
  /**
   * Server side only (syn-recv, defer-accept): seconds from origin when the connection reaches the
   * accept queue (accept() returns it); null = never; absent = not applicable.
   */
  acceptAt?: number | null;
  /** Why: the rules applied, each citing the kernel change / source line. */
  notes: string[];
  /**
   * Where a run watching a connection the model says survives may stop (s from t = 0): past the
   * last predicted event, before the next timer it does not predict (a blip's recovery).
   */
  watchUntil?: number;
  /**
   * What the prediction rests on beyond the dying side's settings and the kernel: the peer's
   * behaviour and what was measured on the connection (or, from `deadpeer model`, given or
   * assumed). Recorded so that a saved run says what its model was told.
   */
  inputs?: PredictionInputs;
}

/** See Prediction.inputs; each phase records the fields it reads. */
export interface PredictionInputs {
  /** idle, busy, zero-window: whether the peer is still there */
  peer?: 'alive' | 'gone';
  /** a blip: the outage ended this many s after t = 0 */
  healS?: number;
  /** busy, zero-window: icsk_rto, ms */
  rtoMs?: number;
  /** busy: the tail loss probe, ms after the data; null = none */
  tlpMs?: number | null;
  /** zero-window: when the receiver vanished, s */
  peerGoneAtS?: number;
  /** zero-window: the receiver's tcp_invalid_ratelimit, ms */
  peerInvalidRateLimitMs?: number;
  /** zero-window: the receiver's last answer before t = 0, s */
  peerLastAnswerAtS?: number;
  /** syn-recv: only the client's final ACK was lost (the client is ESTABLISHED, alive) */
  finalAckLost?: boolean;
  /** syn-recv: every bare ACK of the client is lost */
  clientAcksLost?: boolean;
  /** syn-recv, defer-accept: when the client's data arrives, s */
  clientDataAtS?: number;
  /** defer-accept: what the client does */
  client?: DeferAcceptClient;
  /** busy, zero-window: the sender's own egress dropped every transmission (faults.localDrop) */
  localDrop?: boolean;
}

/** What every phase model reads: the effective settings of the dying side and the kernel. */
export interface ModelInput {
  sysctls: TcpSysctls;
  socket: SocketSettings;
  features: KernelFeatures;
}

export type SynSentInput = ModelInput;

export interface SynRecvInput extends ModelInput {
  /**
   * Only the client's final ACK was lost: the client is ESTABLISHED and alive, so it answers the
   * server's first SYN+ACK retransmission (or sends data) and that completes the handshake.
   * false/absent = the client vanished after its SYN: nothing answers.
   */
  finalAckLost?: boolean;
  /**
   * With finalAckLost: every bare ACK of the client is lost, not only the handshake's third packet,
   * so its answers to the resent SYN+ACKs never arrive either; only data (or nothing) completes.
   */
  clientAcksLost?: boolean;
  /** With finalAckLost: when the client's first data arrives (s from origin); absent = it sends none. */
  clientDataAtS?: number;
}

/** What the client does after its final ACK while the listener defers (TCP_DEFER_ACCEPT). */
export type DeferAcceptClient =
  /** sends nothing more, but is alive: answers the resent SYN+ACK with an ACK */
  | 'ack'
  /** sends data right after the handshake */
  | 'data'
  /** vanished after its final ACK: nothing answers */
  | 'gone';

export interface DeferAcceptInput extends ModelInput {
  /** TCP_DEFER_ACCEPT as requested with setsockopt (s); defaults to socket.deferAcceptS. */
  deferAcceptS?: number;
  /** default 'ack' */
  client?: DeferAcceptClient;
  /** With client 'data': when the data arrives (s from origin); default 0, right after the handshake. */
  clientDataAtS?: number;
}

export interface IdleInput extends ModelInput {
  /**
   * gone (default): nothing the peer sends arrives any more. alive: it answers every keepalive
   * probe, so the keepalive timer never gives up.
   */
  peer?: 'alive' | 'gone';
  /** alive, keepalive on: list the probes up to this many seconds (default: the first three) */
  horizonS?: number;
}

export interface BusyInput extends ModelInput {
  /** gone (default): nothing is acknowledged. alive: the peer acknowledges the data. */
  peer?: 'alive' | 'gone';
  /** icsk_rto when the data was sent, ms (TCP_INFO tcpi_rto; ≈204 on veth at HZ=250). */
  rtoMs: number;
  /**
   * Tail loss probe, ms after the first transmission (tcp_schedule_loss_probe: 2·srtt + rto_min with
   * one segment in flight, 2·srtt + 2 jiffies with more; none without SACK or with
   * tcp_early_retrans < 3). Absent = no TLP modelled: the first RTO fires at rtoMs.
   */
  tlpMs?: number;
  /**
   * The sender's own egress drops every packet from before the write (faults.localDrop): the data
   * never leaves, and the persist timer retries every TCP_RESOURCE_PROBE_INTERVAL (model/local-drop.ts).
   */
  localDrop?: boolean;
}

export interface ZeroWindowInput extends ModelInput {
  /** alive: the receiver answers every window probe with win 0; gone: probes go unanswered. */
  peer: 'alive' | 'gone';
  /** icsk_rto when the window closed, ms; tcp_probe0_base = max(rto, TCP_RTO_MIN). */
  rtoMs: number;
  /** When the model predicts no close, list probes up to this many seconds (default 900). */
  horizonS?: number;
  /**
   * The sender's own egress drops every packet from before the first probe (faults.localDrop):
   * probes every TCP_RESOURCE_PROBE_INTERVAL, no backoff, nothing reaches the receiver.
   */
  localDrop?: boolean;
}

export type PhaseInput = {
  'syn-sent': SynSentInput;
  'syn-recv': SynRecvInput;
  'defer-accept': DeferAcceptInput;
  idle: IdleInput;
  busy: BusyInput;
  'zero-window': ZeroWindowInput;
};
