import { readPeerRateLimit } from './window-probes.js';
import { faults } from './faults.js';
import type { HelperEvent } from './helper/client.js';
import { predictBusy, tailLossProbeMs } from './model/busy.js';
import { predictIdle } from './model/idle.js';
import { predictSynSent } from './model/syn-sent.js';
import { predictZeroWindow } from './model/zero-window.js';
import { type EndpointSpec, type ScenarioSpec, type Step, sideInput } from './scenario.js';
import { accept, arm, awaitClose, connect, established, listen, measureRto, pump, send, untilPacket } from './steps.js';

/**
 * The four moments at which a user's connection can lose its peer, as ready-made scenarios for a
 * given client configuration (socket options, family, namespace sysctls). `deadpeer check` runs
 * them; a case file with the same choreography can build on them too. The client is always the
 * subject; every prediction comes from the settings read back from the kernel.
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
  /** the client's socket options and namespace sysctls */
  client?: EndpointSpec;
  /** scenario name prefix (the run folder is named after it) */
  name?: string;
}

/** Bytes the busy client writes: one segment, so every retransmission carries the same bytes. */
export const BUSY_BYTES = 1000;
/** The server's SO_RCVBUF in the zero-window phase (the kernel doubles it): a few segments close the window. */
export const ZERO_WINDOW_RCVBUF = 4096;
/**
 * The peer vanishes right after this window probe: the gap to the next one (4·base) leaves room
 * for arming, which must not straddle a probe or whether the peer answered it would be unknown.
 */
export const VANISH_AFTER_PROBE = 2;

const named = (s: PhaseSetup, phase: UserPhase) => `${s.name ?? 'phase'}/${phase}`;

/** connect(): the server's namespace drops every SYN. */
export function connectPhase(s: PhaseSetup): ScenarioSpec {
  return {
    name: named(s, 'connect'),
    phase: 'syn-sent',
    family: s.family,
    client: s.client,
    model: (r) => predictSynSent(sideInput(r, 'client')),
    steps: [arm(faults.dropSyn()), listen(), connect(), awaitClose()],
  };
}

/** Idle: the handshake completes, then nothing gets through either way. */
export function idlePhase(s: PhaseSetup, opts: { aliveFor?: number } = {}): ScenarioSpec {
  return {
    name: named(s, 'idle'),
    phase: 'idle',
    family: s.family,
    client: s.client,
    model: (r) => predictIdle(sideInput(r, 'client')),
    steps: [listen(), connect(), established(), accept(), arm(faults.blackhole()), awaitClose({ aliveFor: opts.aliveFor })],
  };
}

/**
 * What the client's kernel reads when its data leaves: the tail loss probe's timeout
 * (tcp_schedule_loss_probe), from the RTT/RTO snapshot measureRto() took and the namespaces' sysctls.
 */
export const tailLossProbe = (bytes: number, found: (ms: number | undefined) => void): Step => ({
  label: 'tail loss probe timeout',
  run: async (r) => {
    const info = r.snapshots.filter((x) => x.side === 'client' && x.label === 'rto').at(-1);
    if (!info) throw new Error('no RTO snapshot (measureRto first)');
    const sysctl = async (side: 'client' | 'server', name: string) => Number(await r.topo.endpoint(side).helper.sysctl(`net.ipv4.${name}`));
    found(
      tailLossProbeMs({
        hz: r.kernel.hz,
        srttUs: info.rtt_us,
        packetsOut: Math.ceil(bytes / info.snd_mss),
        rtoMs: info.rto_us / 1000,
        rtoMinUs: r.sysctls.client?.tcp_rto_min_us ?? 200_000,
        earlyRetrans: await sysctl('client', 'tcp_early_retrans'),
        sack: (await sysctl('client', 'tcp_sack')) === 1 && (await sysctl('server', 'tcp_sack')) === 1,
      }),
    );
  },
});

/** Busy: the peer vanishes, then the client writes one segment that is never acknowledged. */
export function busyPhase(s: PhaseSetup): ScenarioSpec {
  let tlpMs: number | undefined;
  return {
    name: named(s, 'busy'),
    phase: 'busy',
    family: s.family,
    client: s.client,
    model: (r) => predictBusy({ ...sideInput(r, 'client'), rtoMs: r.rtoMs!, ...(tlpMs === undefined ? {} : { tlpMs }) }),
    steps: [
      listen(),
      connect(),
      established(),
      accept(),
      measureRto('client'),
      tailLossProbe(BUSY_BYTES, (ms) => (tlpMs = ms)),
      arm(faults.blackhole()),
      send('client', BUSY_BYTES),
      awaitClose(),
    ],
  };
}

/**
 * Wait for the n-th window probe (a bare ACK from the client after the window closed). Fails
 * with the reason when the client's socket dies first (a TCP_USER_TIMEOUT shorter than the probes).
 */
export const afterProbe = (n: number): Step => ({
  label: `until window probe #${n}`,
  run: async (r) => {
    const client = [r.topo.client.addr[4], r.topo.client.addr[6]];
    const since = r.marks['zero-window']!;
    let seen = 0;
    const isProbe = (e: HelperEvent) => e.ev === 'packet' && e.t > since && client.includes(String(e.src)) && e.flags === '.' && e.len === 0;
    const died = (e: HelperEvent) => e.ev === 'closed' && e.sock === r.clientSock?.id;
    const e = await r.topo.client.helper.waitFor((e) => died(e) || (isProbe(e) && ++seen === n), 10_000, `window probe #${n}`, since);
    if (died(e)) throw new Error(`the client's socket died (${String(e.errno)}) before window probe #${n}, while the peer was still there`);
    r.mark(`probe ${n}`, e.t);
  },
});

/** Record when the peer vanished, from t = 0: the probes before it were answered (rate limit permitting). */
export const notePeerGone = (peer: { goneAtS?: number }): Step => ({
  label: 'note when the peer vanished',
  run: async (r) => {
    peer.goneAtS = r.marks.fault! - r.marks['zero-window']!;
  },
});

/**
 * Zero window, then gone: the server (small SO_RCVBUF) never reads, the client keeps writing
 * until the window closes (t = 0), the persist timer probes, and after the second probe the
 * server vanishes.
 */
export function zeroWindowPhase(s: PhaseSetup): ScenarioSpec {
  const peer: { rateLimitMs?: number; goneAtS?: number } = {};
  return {
    name: named(s, 'zero-window'),
    phase: 'zero-window',
    family: s.family,
    client: s.client,
    // on the listener before listen(): the accepted socket inherits it (and the window scale that fits it)
    server: { options: { SO_RCVBUF: ZERO_WINDOW_RCVBUF } },
    model: (r) =>
      predictZeroWindow({
        ...sideInput(r, 'client'),
        rtoMs: r.rtoMs!,
        peer: 'gone',
        peerInvalidRateLimitMs: peer.rateLimitMs,
        peerGoneAtS: peer.goneAtS,
      }),
    steps: [
      listen(),
      connect(),
      established(),
      accept(),
      readPeerRateLimit(peer),
      pump('client'),
      // the first win 0 acknowledges everything sent: a receiver never shrinks its offered window
      untilPacket('zero-window', (p) => p.from === 'server' && p.win === 0),
      afterProbe(VANISH_AFTER_PROBE),
      arm(faults.blackhole()),
      notePeerGone(peer),
      measureRto('client'),
      awaitClose(),
    ],
  };
}

export const PHASE_SCENARIOS: Record<UserPhase, (s: PhaseSetup) => ScenarioSpec> = {
  connect: connectPhase,
  idle: (s) => idlePhase(s),
  busy: busyPhase,
  'zero-window': zeroWindowPhase,
};

