import { predictBusy, tailLossProbeMs } from '../../model/busy.js';
import { defaultSysctls, tinyRttRtoMs } from '../../model/features.js';
import { predictIdle } from '../../model/idle.js';
import { predictSynSent } from '../../model/syn-sent.js';
import type { KernelFeatures, ModelInput, Prediction, SocketSettings, TcpSysctls } from '../../model/types.js';
import { predictionWindows } from '../../model/windows.js';
import { predictZeroWindow } from '../../model/zero-window.js';
import { USER_PHASES, type UserPhase } from '../../recipes/phases.js';
import { advise } from '../check/advice.js';
import { settingsFrom, type TcpInfoRead } from '../socket-read.js';
import type { NetnsLine, NetnsSysctl } from './reader-events.js';

/**
 * The model for an audited connection: per phase, when a peer that vanished would be noticed, at
 * the settings its socket really holds, the sysctls of ITS network namespace and its own RTO. A
 * service holds thousands of connections of a handful of configurations, so each phase's answer is
 * computed once per distinct tuple of the inputs that phase reads (memoised here), never per socket.
 */

/** When a vanished peer is noticed in one phase, s from the phase's t = 0 (recipes/phases.ts PHASE_ORIGIN). */
export interface PhaseAnswer {
  /** s from t = 0; null = never */
  closeAt: number | null;
  /** where the kernel's timer wheel can put it (model/windows.ts), s; null = never */
  closeWindow: [number, number] | null;
  /** what the program then gets from the socket */
  errno: string | null;
  /** what the answer spans, when an input was not read and the window covers every value it can take */
  spans?: string;
}

/** A phase the model cannot answer for this connection: an input it needs was not read. */
export interface PhaseUnknown {
  unknown: string;
}

export type PhaseVerdict = PhaseAnswer | PhaseUnknown;

export const isAnswer = (v: PhaseVerdict | undefined): v is PhaseAnswer => v !== undefined && !('unknown' in v);

/** A namespace's sysctls as the model reads them, and which of them could not be read. */
export interface NamespaceInput {
  sysctls: TcpSysctls;
  /** net.ipv4.tcp_early_retrans: the tail loss probe's gate; absent = not read */
  earlyRetrans?: number;
  /** sysctls this kernel has and the reader did not give */
  unread: NetnsSysctl[];
  /** a stable text of the values, for the memo keys */
  key: string;
}

/** What every kernel since the model's oldest has; the rest by the kernel's features. */
const ALWAYS: readonly NetnsSysctl[] = ['tcp_keepalive_time', 'tcp_keepalive_intvl', 'tcp_keepalive_probes', 'tcp_retries1', 'tcp_retries2', 'tcp_syn_retries', 'tcp_synack_retries', 'tcp_early_retrans'];

export function namespaceInput(line: NetnsLine, features: KernelFeatures): NamespaceInput {
  const read = line.sysctls ?? {};
  const has: NetnsSysctl[] = [
    ...ALWAYS,
    ...(features.synLinearTimeouts ? (['tcp_syn_linear_timeouts'] as const) : []),
    ...(features.rtoMinUsSysctl ? (['tcp_rto_min_us'] as const) : []),
    ...(features.rtoMax ? (['tcp_rto_max_ms'] as const) : []),
  ];
  // placeholders for what was not read: a phase that needs one says unknown (required() below), never uses it
  const sysctls = { ...defaultSysctls(features) } as unknown as Record<string, number>;
  for (const k of has) if (read[k] !== undefined) sysctls[k] = read[k]!;
  return {
    sysctls: sysctls as unknown as TcpSysctls,
    ...(read.tcp_early_retrans !== undefined ? { earlyRetrans: read.tcp_early_retrans } : {}),
    unread: has.filter((k) => read[k] === undefined),
    key: has.map((k) => read[k] ?? '?').join(','),
  };
}

/** What the model needs to know about one connection. */
export interface ConnectionInput {
  ns: NamespaceInput;
  options: Record<string, number>;
  tcpInfo: TcpInfoRead | undefined;
  /** sock_diag's timer: a retransmit timer's RTO is backed off */
  timer: string;
  /** the phases that apply to its state */
  phases: readonly UserPhase[];
  /** the program accepted it: it never connect()s, so no advice speaks of connect */
  accepted?: boolean;
}

export interface ConnectionModel {
  phases: Partial<Record<UserPhase, PhaseVerdict>>;
  /** the advice `check` gives for this configuration (empty when a phase it speaks of is unknown) */
  advice: string[];
  settings: SocketSettings;
}

export class AuditModel {
  private readonly memo = new Map<string, PhaseVerdict>();
  private readonly connectionMemo = new Map<string, { phases: Partial<Record<UserPhase, PhaseVerdict>>; advice: string[] }>();
  private readonly adviceMemo = new Map<string, string[]>();
  /** how many times a phase was really computed (the rest were answered from the memo) */
  computed = 0;

  constructor(private readonly features: KernelFeatures) {}

  /**
   * Every phase of this connection, and check's advice for its configuration: looked up once per
   * tuple of what they read (namespace sysctls, settings, the RTO, a busy write's tail loss probe),
   * so a pool of identical connections costs one lookup each and the model runs once.
   */
  connection(c: ConnectionInput): ConnectionModel {
    const settings = settingsOf(c);
    const sk = settingsKey(settings);
    const rtoMs = modelRtoMs(c);
    const tlp = c.phases.includes('busy') && rtoMs !== undefined ? this.tlp(c, rtoMs) : undefined;
    const key = `${c.ns.key}|${sk}|${c.phases.join()}|${rtoMs ?? ''}|${tlp === undefined ? '' : tlp.known ? tlp.ms : 'span'}|${c.accepted ? 'in' : 'out'}`;
    let hit = this.connectionMemo.get(key);
    if (!hit) {
      const phases: Partial<Record<UserPhase, PhaseVerdict>> = {};
      for (const p of c.phases) phases[p] = this.phase(p, c, settings, sk, rtoMs, tlp);
      this.connectionMemo.set(key, (hit = { phases, advice: this.advice(c, settings, sk, rtoMs) }));
    }
    return { phases: hit.phases, advice: hit.advice, settings };
  }

  private phase(phase: UserPhase, c: ConnectionInput, s: SocketSettings, sk: string, rto: number | undefined, tlp: Tlp | undefined): PhaseVerdict {
    const missing = required(phase, c, s, this.features);
    if (missing.length) return { unknown: `${missing.join(', ')} not read` };
    const rtoMs = phase === 'busy' || phase === 'zero-window' ? rto : undefined;
    if ((phase === 'busy' || phase === 'zero-window') && rtoMs === undefined) return { unknown: "its RTO (TCP_INFO) not read" };
    const key = `${phase}|${c.ns.key}|${sk}|${rtoMs ?? ''}|${phase !== 'busy' ? '' : tlp!.known ? tlp!.ms : 'span'}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    this.computed++;
    const input: ModelInput = { sysctls: c.ns.sysctls, socket: s, features: this.features };
    const answer = (p: Prediction): PhaseAnswer => {
      const w = predictionWindows(p, this.features.hz).close;
      return { closeAt: p.closeAt, closeWindow: w ? w.window : null, errno: p.errno };
    };
    let out: PhaseVerdict;
    if (phase !== 'busy' || tlp!.known) out = answer(predictPhase(phase, input, rtoMs, tlp?.known ? tlp.ms : undefined));
    else {
      // whether a tail loss probe comes first is not known: the window covers none and the latest (on the RTO)
      const [none, latest] = [answer(predictPhase(phase, input, rtoMs)), answer(predictPhase(phase, input, rtoMs, rtoMs))];
      out = {
        closeAt: latest.closeAt,
        closeWindow: none.closeWindow && latest.closeWindow && [none.closeWindow[0], latest.closeWindow[1]],
        errno: latest.errno,
        spans: `with or without a tail loss probe (${tlp!.why} not read)`,
      };
    }
    this.memo.set(key, out);
    return out;
  }

  /** The tail loss probe of a one-segment write (the next write's size is the program's): known, or why not. */
  private tlp(c: ConnectionInput, rtoMs: number): Tlp {
    const info = c.tcpInfo!;
    const why = [c.ns.earlyRetrans === undefined ? 'tcp_early_retrans' : '', info.sack === undefined ? 'SACK' : '', c.ns.unread.includes('tcp_rto_min_us') ? 'tcp_rto_min_us' : ''].filter(Boolean);
    if (why.length) return { known: false, why: why.join(', ') };
    const ms = tailLossProbeMs({
      hz: this.features.hz,
      srttUs: info.rttMs * 1000,
      packetsOut: 1,
      rtoMs,
      rtoMinUs: c.ns.sysctls.tcp_rto_min_us ?? 200_000,
      earlyRetrans: c.ns.earlyRetrans!,
      sack: info.sack!,
    });
    return { known: true, ms };
  }

  /** check's advice at this connection's settings and namespace, with the phases at its RTO (memoised). */
  private advice(c: ConnectionInput, s: SocketSettings, sk: string, connectionRtoMs: number | undefined): string[] {
    // advise() speaks of every phase: none of them may rest on a sysctl that was not read (the tail
    // loss probe's inputs aside: check's advice, like this, counts busy from the RTO without one) —
    // but connect, of which it speaks only when it is slow: unknown, it is left unsaid
    const unknown = USER_PHASES.filter((p) => required(p, c, s, this.features).length);
    if (unknown.some((p) => p !== 'connect')) return [];
    // a SYN-SENT socket's RTO is the SYN's: its configuration is judged at the RTO a tiny RTT settles on, as check does
    const rtoMs = (c.phases.includes('connect') ? undefined : connectionRtoMs) ?? tinyRttRtoMs(c.ns.sysctls, this.features.hz);
    const key = `${c.ns.key}|${sk}|${rtoMs}|${unknown.length}|${c.accepted ? 'in' : 'out'}`;
    const hit = this.adviceMemo.get(key);
    if (hit) return hit;
    const input: ModelInput = { sysctls: c.ns.sysctls, socket: s, features: this.features };
    // the advice speaks of every phase, whatever state this connection is in now
    const p = (phase: UserPhase) => predictPhase(phase, input, rtoMs);
    // an accepted connection never connect()s: its connect is left unsaid, as an unknown one is
    const connect = unknown.length || c.accepted ? { ...p('connect'), closeAt: null } : p('connect');
    const out = advise(input, { connect, idle: p('idle'), busy: p('busy'), zeroWindow: p('zero-window') });
    this.adviceMemo.set(key, out);
    return out;
  }
}

/** A busy write's tail loss probe: when it fires (ms after the write; undefined = none), or which of its inputs were not read. */
type Tlp = { known: true; ms: number | undefined } | { known: false; why: string };

/** One phase's prediction with the peer gone for good; busy and zero-window start from `rtoMs`. */
function predictPhase(phase: UserPhase, input: ModelInput, rtoMs = 0, tlpMs?: number): Prediction {
  if (phase === 'idle') return predictIdle(input);
  if (phase === 'connect') return predictSynSent(input);
  if (phase === 'zero-window') return predictZeroWindow({ ...input, rtoMs, peer: 'gone' });
  return predictBusy({ ...input, rtoMs, ...(tlpMs === undefined ? {} : { tlpMs }) });
}

/** The settings the socket holds; without the namespace's tcp_syn_retries, TCP_SYNCNT as read is the effective count. */
function settingsOf(c: ConnectionInput): SocketSettings {
  const s = settingsFrom(c.options, c.ns.sysctls);
  return c.ns.unread.includes('tcp_syn_retries') && c.options.TCP_SYNCNT !== undefined ? { ...s, synCnt: c.options.TCP_SYNCNT } : s;
}

const settingsKey = (s: SocketSettings) => `${+s.keepalive},${s.keepIdle},${s.keepIntvl},${s.keepCnt},${s.userTimeoutMs},${s.synCnt},${s.rtoMaxMs ?? ''}`;

/** The sysctls a phase reads at these settings that were not read (model/effective.ts, each phase's rules). */
function required(phase: UserPhase, c: ConnectionInput, s: SocketSettings, f: KernelFeatures): NetnsSysctl[] {
  const need: NetnsSysctl[] = [];
  // TCP_RTO_MAX_MS read back is the socket's own; without it the namespace's sysctl decides (6.15+)
  if (phase !== 'idle' && f.rtoMax && s.rtoMaxMs === undefined) need.push('tcp_rto_max_ms');
  if (phase === 'busy' && !s.userTimeoutMs) need.push('tcp_retries2');
  if (phase === 'zero-window') need.push('tcp_retries2');
  if (phase === 'connect') {
    if (f.synLinearTimeouts) need.push('tcp_syn_linear_timeouts');
    if (c.options.TCP_SYNCNT === undefined) need.push('tcp_syn_retries');
  }
  return need.filter((k) => c.ns.unread.includes(k));
}

/**
 * The RTO the connection's next transmission would start from, ms: TCP_INFO's, except that a
 * retransmit timer's has been doubled once per backoff (tcp_retransmit_timer) — halved back. A
 * persist timer's backoff leaves icsk_rto alone (tcp_probe_timer), so that one is taken as it is.
 */
export function modelRtoMs(c: Pick<ConnectionInput, 'tcpInfo' | 'timer'>): number | undefined {
  const i = c.tcpInfo;
  if (!i) return undefined;
  return c.timer === 'retransmit' && i.backoff ? i.rtoMs / 2 ** i.backoff : i.rtoMs;
}
