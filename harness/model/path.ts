/**
 * A connection through a middlebox that forgets idle flows (model/middlebox.ts): does the idle
 * connection keep its entry, what the first transmission after the expiry meets, what the client's
 * socket then does and when, and what the server's does meanwhile. t = 0 is the last packet that
 * crossed the middlebox (the handshake's end). The chains after the trigger are predictBusy's and
 * predictIdle's, unchanged: a dropped flow is, to the sender, a peer that vanished at that moment.
 */
import { predictBusy } from './busy.js';
import { predictIdle } from './idle.js';
import type { Middlebox } from './middlebox.js';
import { timerSlack } from './slack.js';
import type { ModelInput, Prediction, SocketSettings } from './types.js';

export interface PathInput extends ModelInput {
  middlebox: Middlebox;
  /** when the application writes, s after t = 0 (the last packet that crossed the middlebox: the handshake's end); absent = it never writes */
  writeAtS?: number;
  /** icsk_rto when the write happens, ms (the drop chain after a write — as BusyInput.rtoMs) */
  rtoMs: number;
  /** the tail loss probe after the write, ms (as BusyInput.tlpMs) */
  tlpMs?: number;
  /** the other end's keepalive, if it has one on (its probes refresh the entry too) */
  peerKeepalive?: { idleS: number; intvlS: number; cnt: number } | null;
  /** a kept mapping: list the client's keepalive probes up to this many s */
  horizonS?: number;
}

export type MappingKept = 'yes' | 'no' | 'race';

export interface PathPrediction {
  middlebox: Middlebox;
  /** forgottenAtS: when the entry expires, s from t = 0; null = it never does (kept, or refreshed by the write) */
  mapping: { kept: MappingKept; why: string; forgottenAtS: number | null };
  /** the client's first transmission after the entry is forgotten: what meets the forgotten mapping */
  trigger: { by: 'keepalive' | 'write'; atS: number } | null;
  /**
   * What the client's socket does: predictBusy's chain from the write, or predictIdle's from the
   * last packet the client received; its times count from its own origin, clientOriginS after t = 0.
   */
  client: Prediction;
  /** where client's t = 0 lies, s after the path's t = 0 */
  clientOriginS: number;
  /** when the client notices, counted from t = 0, and the one line that says how */
  outcome: { noticeAtS: number | null; errno: string | null; line: string };
  /** the other end: ESTABLISHED for ever unless its own keepalive probe meets the forgotten mapping */
  server: { closeAtS: number | null; errno: string | null; line: string };
  /** each rule applied, with its kernel citation */
  notes: string[];
}

/**
 * A probe crosses the middlebox up to a round trip after the previous exchange did (the prober's
 * keepalive timer counts from the answer it received, the entry from the answer's crossing). The
 * model has no RTT for the path, so it allows 100 ms: a TCP_KEEPIDLE that close to the timeout is
 * a race on any path anyway.
 */
export const RTT_ALLOWANCE_S = 0.1;

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** One side's keepalive: the first probe at TCP_KEEPIDLE, then — while answered — one per max(KEEPIDLE, KEEPINTVL) (idle.ts idleAnswered). */
interface Keeper {
  who: 'client' | 'server';
  idleS: number;
  periodS: number;
}

/** Whether a gap of `gapS` between crossings (as a keepalive timer makes it) stays inside the entry's lifetime. */
function gapVerdict(gapS: number, timeoutS: number, hz: number): { v: 'ok' | 'lost' | 'race'; lateS: number } {
  const lateS = timerSlack(gapS, hz).late;
  if (gapS + lateS + RTT_ALLOWANCE_S < timeoutS) return { v: 'ok', lateS };
  if (gapS >= timeoutS + 1 / hz) return { v: 'lost', lateS };
  return { v: 'race', lateS };
}

/**
 * Keepalive settings that keep the entry even when one probe is lost: the probe re-sent TCP_KEEPINTVL
 * after it still crosses within the timeout (TCP_KEEPIDLE + TCP_KEEPINTVL, the wheel's lateness and a
 * round trip below it). What a recommendation asks of a keepalive behind a middlebox.
 */
export function keepsMappingThroughOneLoss(k: { idleS: number; intvlS: number }, timeoutS: number, hz: number): boolean {
  return gapVerdict(k.idleS + k.intvlS, timeoutS, hz).v === 'ok' && gapVerdict(Math.max(k.idleS, k.intvlS), timeoutS, hz).v === 'ok';
}

interface Mapping {
  kept: MappingKept;
  why: string;
  /** when the entry expires unless a write came first; null = kept */
  forgottenAtS: number | null;
  keeper?: Keeper;
}

/** The entry's fate from the keepalive traffic alone (the application's write is weighed after). */
function mappingFromKeepalive(keepers: Keeper[], timeoutS: number, hz: number): Mapping {
  const E = timeoutS;
  if (!keepers.length) {
    return { kept: 'no', why: `no keepalive on either side: nothing crosses the middlebox after the handshake, so its entry expires at ${E} s`, forgottenAtS: E };
  }
  // the side that probes first; its probe and the answer restart the other side's timer too (both received a packet)
  const k = keepers.reduce((a, b) => (b.idleS < a.idleS ? b : a));
  const side = `the ${k.who}'s keepalive`;
  const first = gapVerdict(k.idleS, E, hz);
  const race = (gapS: number, lateS: number, at: number) =>
    `${side} timer (${gapS} s, which the timer wheel fires up to ${r3(lateS)} s late, plus up to a round trip to cross) races the entry's expiry ` +
    `(${E} s after the last crossing, exact to the jiffy): the probe at ≈${r3(at)} s may come before or after it`;
  if (first.v === 'lost') return { kept: 'no', why: `${side} first probes at ${k.idleS} s (TCP_KEEPIDLE), at or after the ${E} s idle timeout: the entry expires first, at ${E} s`, forgottenAtS: E, keeper: k };
  if (first.v === 'race') return { kept: 'race', why: race(k.idleS, first.lateS, k.idleS), forgottenAtS: E, keeper: k };
  const steady = gapVerdict(k.periodS, E, hz);
  if (steady.v === 'ok') {
    return {
      kept: 'yes',
      why:
        `${side} probes every ${k.periodS} s while answered (TCP_KEEPIDLE${k.periodS > k.idleS ? ' < TCP_KEEPINTVL: every TCP_KEEPINTVL' : ', counted from the last packet received'}); ` +
        `each probe and its answer refresh the entry to ${E} s, and a probe comes at most ${r3(k.periodS + steady.lateS + RTT_ALLOWANCE_S)} s after the last ` +
        `(timer slack ${r3(steady.lateS)} s, a round trip up to ${RTT_ALLOWANCE_S} s) < ${E} s`,
      forgottenAtS: null,
      keeper: k,
    };
  }
  const forgottenAtS = k.idleS + E;
  if (steady.v === 'lost') {
    return {
      kept: 'no',
      why: `${side}'s first probe at ${k.idleS} s refreshes the entry, but the next comes TCP_KEEPINTVL ${k.periodS} s later, at or after the ${E} s idle timeout: the entry expires at ${forgottenAtS} s`,
      forgottenAtS,
      keeper: k,
    };
  }
  return { kept: 'race', why: race(k.periodS, steady.lateS, k.idleS + k.periodS), forgottenAtS, keeper: k };
}

/** When a side first transmits after the entry is gone: its next keepalive probe after the last packet it received. */
function probeAfter(k: Keeper | undefined, keeper: Keeper | undefined, forgottenAtS: number, timeoutS: number): number | undefined {
  if (!k) return undefined;
  const lastCrossing = forgottenAtS - timeoutS;
  // the keeper re-probes a period after its answered probe; anyone else's timer restarted when that probe or answer arrived
  return lastCrossing + (k.who === keeper?.who && lastCrossing > 0 ? k.periodS : k.idleS);
}

export function predictPath(input: PathInput): PathPrediction {
  const { middlebox: mb, socket, features } = input;
  const { hz } = features;
  const E = mb.idleTimeoutS;
  const clientKeeper: Keeper | undefined = socket.keepalive ? { who: 'client', idleS: socket.keepIdle, periodS: Math.max(socket.keepIdle, socket.keepIntvl) } : undefined;
  const pk = input.peerKeepalive ?? undefined;
  const serverKeeper: Keeper | undefined = pk ? { who: 'server', idleS: pk.idleS, periodS: Math.max(pk.idleS, pk.intvlS) } : undefined;
  const byKeepalive = mappingFromKeepalive([clientKeeper, serverKeeper].filter((k): k is Keeper => !!k), E, hz);
  const W = input.writeAtS;
  const writeFirst = W !== undefined && (byKeepalive.forgottenAtS === null || W < byKeepalive.forgottenAtS);

  const notes = [...ruleNotes(mb), ...(E > 300 ? [UNACKNOWLEDGED_NOTE] : [])];
  const mapping: PathPrediction['mapping'] = writeFirst && byKeepalive.kept !== 'yes'
    ? { kept: 'yes', why: `the write at ${W} s comes before the entry expires (${byKeepalive.forgottenAtS} s): it and its ACK refresh it (${byKeepalive.why})`, forgottenAtS: null }
    : { kept: byKeepalive.kept, why: byKeepalive.why, forgottenAtS: byKeepalive.forgottenAtS };
  if (writeFirst && byKeepalive.kept !== 'yes') notes.push('the write refreshes the entry and the idle question starts again from it; the model answers the first idle period only');

  const server = serverLine(input, byKeepalive, serverKeeper, E);
  if (byKeepalive.forgottenAtS === null || writeFirst) {
    return { middlebox: mb, mapping, trigger: null, ...kept(input, W), server, notes };
  }

  const forgotten = byKeepalive.forgottenAtS;
  const probeAt = probeAfter(clientKeeper, byKeepalive.keeper, forgotten, E);
  const trigger: PathPrediction['trigger'] =
    probeAt !== undefined && (W === undefined || probeAt < W) ? { by: 'keepalive', atS: r3(probeAt) } : W !== undefined ? { by: 'write', atS: W } : null;
  const racing = byKeepalive.kept === 'race' ? 'if the expiry wins the race, ' : '';
  if (!trigger) {
    return {
      middlebox: mb,
      mapping,
      trigger,
      client: predictIdle({ ...input, peer: 'gone' }),
      clientOriginS: 0,
      outcome: { noticeAtS: null, errno: null, line: `${racing}never notices: it sends nothing after the entry expires at ${forgotten} s, and nothing reaches it (no keepalive, no write)` },
      server,
      notes,
    };
  }
  const chain = afterTrigger(input, trigger);
  const noticeAtS = chain.client.closeAt === null ? null : r3(chain.originS + chain.client.closeAt);
  return {
    middlebox: mb,
    mapping,
    trigger,
    client: chain.client,
    clientOriginS: chain.originS,
    outcome: { noticeAtS, errno: chain.client.errno, line: racing + chain.line(noticeAtS) },
    server,
    notes: [...notes, ...chain.notes],
  };
}

/** The mapping stands (or the write came first): nothing meets a forgotten entry. */
function kept(input: PathInput, W: number | undefined): Pick<PathPrediction, 'client' | 'clientOriginS' | 'outcome'> {
  if (W !== undefined) {
    return {
      client: predictBusy({ ...input, peer: 'alive' }),
      clientOriginS: W,
      outcome: { noticeAtS: null, errno: null, line: `the write at ${W} s is acknowledged: the mapping was kept` },
    };
  }
  return {
    client: predictIdle({ ...input, peer: 'alive', ...(input.horizonS !== undefined ? { horizonS: input.horizonS } : {}) }),
    clientOriginS: 0,
    outcome: { noticeAtS: null, errno: null, line: 'nothing to notice: the mapping is kept and the connection stays healthy' },
  };
}

interface Chain {
  client: Prediction;
  originS: number;
  line: (noticeAtS: number | null) => string;
  notes: string[];
}

/** From the trigger on: a RST at once, or the chain a vanished peer would start at that moment. */
function afterTrigger(input: PathInput, trigger: NonNullable<PathPrediction['trigger']>): Chain {
  const reset = input.middlebox.mode === 'reset';
  if (trigger.by === 'write') {
    const busy = predictBusy({ ...input, peer: 'gone' });
    if (!reset) {
      return {
        client: busy,
        originS: trigger.atS,
        line: (n) => `the write at ${trigger.atS} s hangs ${busy.closeAt} s, then ETIMEDOUT (at ${n} s): its retransmissions meet the forgotten mapping and are dropped`,
        notes: ['drop: the write starts the retransmission chain exactly as if the peer vanished at that moment (model/busy.ts: tcp_retries2 or TCP_USER_TIMEOUT, ETIMEDOUT)'],
      };
    }
    return {
      client: resetAt(busy, 0, 'the write'),
      originS: trigger.atS,
      line: () => `the write at ${trigger.atS} s fails after ~0 s with ECONNRESET (write() itself returns success — its data was only queued; the next call on the socket sees it)`,
      notes: [WRITE_RESET_NOTE],
    };
  }
  const idle = predictIdle({ ...input, peer: 'gone' });
  const originS = r3(trigger.atS - input.socket.keepIdle);
  if (!reset) {
    return {
      client: idle,
      originS,
      line: (n) => `its keepalive probe at ${trigger.atS} s meets the forgotten mapping: unanswered probes until ETIMEDOUT at ${n} s`,
      notes: ['drop: the keepalive probe starts the keepalive chain exactly as if the peer vanished (model/idle.ts: TCP_KEEPCNT probes every TCP_KEEPINTVL, or TCP_USER_TIMEOUT, ETIMEDOUT)'],
    };
  }
  return {
    client: resetAt(idle, input.socket.keepIdle, 'the keepalive probe'),
    originS,
    line: (n) => `its keepalive probe at ${trigger.atS} s meets the forgotten mapping: ECONNRESET at ${n} s (the next call on the socket sees it)`,
    notes: [RESET_NOTE],
  };
}

/** The chain cut at its first transmission, which the middlebox's RST answers within a round trip. */
function resetAt(p: Prediction, atS: number, what: string): Prediction {
  const { closeBudget: _b, closeTimer: _t, ...rest } = p;
  return {
    ...rest,
    events: p.events.filter((e) => e.t <= atS && e.packet !== 'RST').slice(0, 1),
    closeAt: atS,
    // the RST comes back a round trip after the transmission, however the path makes it (20 ms
    // through an emulated router on 6.1 under the kernel matrix's TCG)
    closeAnswer: { withinS: RTT_ALLOWANCE_S },
    errno: 'ECONNRESET',
    // the chain it cuts never runs: its rules (budgets, backoff) would only mislead
    notes: [`${what} is answered by the middlebox's RST (reset mode): tcp_reset() → ECONNRESET one round trip later (≈ 0 s)`],
  };
}

/** The server's socket: ESTABLISHED for ever unless its own keepalive probe meets the forgotten entry. */
function serverLine(input: PathInput, m: Mapping, serverKeeper: Keeper | undefined, E: number): PathPrediction['server'] {
  if (!serverKeeper) {
    return {
      closeAtS: null,
      errno: null,
      line: m.kept === 'yes' ? 'stays ESTABLISHED: the connection is healthy' : 'stays ESTABLISHED for ever, holding whatever it holds: it has no keepalive, and nothing from the client reaches it once the entry is gone',
    };
  }
  if (m.forgottenAtS === null) {
    return {
      closeAtS: null,
      errno: null,
      line: m.keeper?.who === 'server' ? `its keepalive (${serverKeeper.idleS} s) keeps the mapping for both: stays ESTABLISHED` : "stays ESTABLISHED: the client's probes reach it and restart its keepalive timer",
    };
  }
  const at = r3(probeAfter(serverKeeper, m.keeper, m.forgottenAtS, E)!);
  const racing = m.kept === 'race' ? 'if the expiry wins the race, ' : '';
  if (input.middlebox.mode === 'reset') {
    const back = input.middlebox.kind === 'nat' ? " (to the NAT's public address, which no longer maps to the client: the router answers it)" : '';
    return { closeAtS: at, errno: 'ECONNRESET', line: `${racing}its keepalive probe at ${at} s meets the forgotten mapping${back}: the router's RST → ECONNRESET at ${at} s` };
  }
  const pk = input.peerKeepalive!;
  const socket: SocketSettings = { ...input.socket, keepalive: true, keepIdle: pk.idleS, keepIntvl: pk.intvlS, keepCnt: pk.cnt, userTimeoutMs: 0 };
  const chain = predictIdle({ ...input, socket, peer: 'gone' });
  const closeAtS = r3(at - pk.idleS + chain.closeAt!);
  return { closeAtS, errno: 'ETIMEDOUT', line: `${racing}its keepalive probe at ${at} s meets the forgotten mapping: unanswered probes until ETIMEDOUT at ${closeAtS} s` };
}

const WRITE_RESET_NOTE =
  "reset: the write's data reaches the middlebox, which answers with a RST whose seq is the segment's ack (the sender's rcv_nxt): " +
  'an exact match, accepted (tcp_validate_incoming, RFC 5961) → tcp_reset() → ECONNRESET; write() itself returned success (the data was only ' +
  'queued), so the next call on the socket — read(), write() or poll()\'s SO_ERROR — returns ECONNRESET, and a read after that end of file ' +
  '(measured on this kernel: cases/middlebox.test.ts, and a python client under exec)';

const RESET_NOTE =
  "reset: the probe (seq = snd_una − 1, no payload) gets the middlebox's RST, whose seq is the probe's ack = the sender's rcv_nxt: accepted " +
  '(tcp_validate_incoming, RFC 5961 exact match) → tcp_reset() → ECONNRESET, which the next call on the socket returns';

const UNACKNOWLEDGED_NOTE =
  'other conntrack timeouts cut in only while data is unacknowledged: nf_conntrack_tcp_timeout_unacknowledged (300 s) and, after 3 ' +
  'retransmissions, nf_conntrack_tcp_timeout_max_retrans (300 s) (nf_conntrack_tcp_packet, net/netfilter/nf_conntrack_proto_tcp.c); an ' +
  'idle connection has nothing outstanding, so its entry lives the established timeout';

function ruleNotes(mb: Middlebox): string[] {
  return [
    `middlebox ${mb.name}: idle timeout ${mb.idleTimeoutS} s, ${mb.mode === 'reset' ? 'answers the next packet with a RST' : 'drops the next packet silently'}, ` +
      `${mb.kind === 'nat' ? 'a NAT (masquerade, IPv4 only)' : 'a stateful firewall (tracked, not translated)'}` + (mb.source ? ` — ${mb.source}` : ''),
    'every in-window packet of the flow, either direction, refreshes the entry to nf_conntrack_tcp_timeout_established ' +
      '(nf_ct_refresh_acct in nf_conntrack_tcp_packet, net/netfilter/nf_conntrack_proto_tcp.c); a keepalive probe (seq = snd_una − 1, ' +
      'no payload) is in window (tcp_in_window) and refreshes it, and so does its ACK',
    'the expiry is exact to the jiffy: a lookup treats an expired entry as absent at once (nf_ct_is_expired in ____nf_conntrack_find, ' +
      'net/netfilter/nf_conntrack_core.c), without waiting for the garbage collector',
    'with nf_conntrack_tcp_loose = 0 a mid-stream packet without an entry is not adopted (tcp_new refuses anything but a SYN): ' +
      '`ct state invalid`, ' +
      (mb.mode === 'reset' ? 'answered with a RST (nft reject with tcp reset)' : 'dropped (nft drop)'),
    'keepalive counts from the last packet received (tcp_keepalive_timer → keepalive_time_elapsed, net/ipv4/tcp_timer.c): while ' +
      'answered, a probe every max(TCP_KEEPIDLE, TCP_KEEPINTVL); the timer wheel fires it late by up to its level\'s granularity (model/slack.ts)',
  ];
}
