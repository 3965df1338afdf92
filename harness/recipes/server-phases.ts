import { faults } from '../engine/faults.js';
import { predictBusy } from '../model/busy.js';
import { predictIdle } from '../model/idle.js';
import type { Prediction } from '../model/types.js';
import { arm, awaitClose, handshake, measureRto, pump, send, untilPacket } from '../engine/steps.js';
import { sideInput } from '../core/observation.js';
import type { EndpointSpec, Run, ScenarioSpec, Step } from '../engine/run.js';
import { BUSY_BYTES, type ZeroWindowPeer, ZERO_WINDOW_RCVBUF, tailLossProbe, zeroWindowModel } from './phases.js';

/**
 * The server's side of the phases (issue 20): the server is the subject. Its listener gets the
 * configuration's options, the accepted socket inherits them (harness/model/inherit.ts, measured by
 * cases/listener-inheritance.test.ts), and the model predicts from the settings read back from the
 * ACCEPTED socket. The client vanishes after the handshake (a blackhole), or stays and stops reading:
 *
 *   idle         the server's socket is quiet: keepalive (inherited from the listener) or nothing
 *   busy         the server sends data the vanished client never acknowledges: retransmissions until
 *                tcp_retries2 / TCP_USER_TIMEOUT
 *   zero-window  the client is alive but stops reading (the reference's slow download): the server's
 *                window probes are answered win 0, and nothing in the kernel ever gives up on it
 *                unless TCP_USER_TIMEOUT is set. The server's TCP_INFO is sampled all along, for the
 *                send-buffer drain monitor's verdict (harness/apps/drain-monitor.ts).
 *
 * There is no connect phase: a server does not connect. Its handshake's phase (SYN-RECV) is the
 * listener's own (harness/recipes/listener.ts, cases/syn-recv.test.ts).
 */
export type ServerPhase = 'idle' | 'busy' | 'zero-window';
export const SERVER_PHASES: readonly ServerPhase[] = ['idle', 'busy', 'zero-window'];

/** What t = 0 of each server phase is, in the user's words. */
export const SERVER_PHASE_ORIGIN: Record<ServerPhase, string> = {
  idle: 'the last packet from the client',
  busy: 'the first transmission of the unacknowledged data',
  'zero-window': 'the client advertising a zero window',
};

/** zero-window: how long past t = 0 an alive client is watched when nothing would end it (s). */
export const SERVER_ZERO_WINDOW_HORIZON_S = 6;
/** zero-window: the server's TCP_INFO is sampled this often for the drain monitor (ms). */
export const DRAIN_SAMPLE_MS = 100;
/** The label of those samples in Observation.snapshots. */
export const DRAIN_LABEL = 'drain';

export interface ServerPhaseSetup {
  family: 4 | 6;
  /** the listener's options (inherited by the accepted socket) and the server namespace's sysctls */
  server?: EndpointSpec;
  /** scenario name prefix (the run folder is named after it) */
  name?: string;
}

const named = (s: ServerPhaseSetup, phase: ServerPhase) => `${s.name ?? 'server'}/server-${phase}`;

/** The model speaks of the dying side's packets as the client's: here the server is the one sending them. */
export const asServer = (p: Prediction): Prediction => ({ ...p, events: p.events.map((e) => ({ ...e, side: 'server' })) });

/** The settings the model reads are the accepted socket's (what it inherited), not the listener's. */
export const readAccepted = (): Step => ({
  label: "read back the accepted socket's options",
  run: async (r) => {
    if (!r.serverSock) throw new Error('no accepted socket (accept() first)');
    await r.readBack('server', r.serverSock);
  },
});

/** The client's net.ipv4.tcp_invalid_ratelimit: the zero-window receiver answers at most one probe per this. */
const readClientRateLimit = (peer: ZeroWindowPeer): Step => ({
  label: "read the client's tcp_invalid_ratelimit",
  run: async (r) => {
    peer.rateLimitMs = Number(await r.topo.client.helper.sysctl('net.ipv4.tcp_invalid_ratelimit'));
  },
});

/** Sample the server's TCP_INFO every DRAIN_SAMPLE_MS until the run's last step stops it. */
function drainSampler(): { start: Step; stop: Step } {
  let running = false;
  let loop: Promise<void> | undefined;
  const sample = async (r: Run) => {
    while (running) {
      try {
        await r.snapshot('server', DRAIN_LABEL);
      } catch {
        return; // the socket is gone (closed by the kernel): nothing more to sample
      }
      await new Promise((res) => setTimeout(res, DRAIN_SAMPLE_MS));
    }
  };
  return {
    start: {
      label: "sample the server's send queue",
      run: async (r) => {
        running = true;
        loop = sample(r);
      },
    },
    stop: {
      label: 'stop sampling',
      run: async () => {
        running = false;
        await loop;
      },
    },
  };
}

/** Idle: the handshake completes, then the client is gone; the server has nothing to send. */
export function serverIdlePhase(s: ServerPhaseSetup): ScenarioSpec {
  return {
    name: named(s, 'idle'),
    phase: 'idle',
    family: s.family,
    subject: 'server',
    server: s.server,
    model: (r) => asServer(predictIdle(sideInput(r, 'server'))),
    steps: [...handshake(), readAccepted(), arm(faults.blackhole()), awaitClose()],
  };
}

/** Busy: the client is gone, then the server writes one segment that is never acknowledged. */
export function serverBusyPhase(s: ServerPhaseSetup): ScenarioSpec {
  let tlpMs: number | undefined;
  return {
    name: named(s, 'busy'),
    phase: 'busy',
    family: s.family,
    subject: 'server',
    server: s.server,
    model: (r) => asServer(predictBusy({ ...sideInput(r, 'server'), rtoMs: r.rtoMs!, ...(tlpMs === undefined ? {} : { tlpMs }) })),
    steps: [
      ...handshake(),
      readAccepted(),
      measureRto('server'),
      tailLossProbe(BUSY_BYTES, (ms) => (tlpMs = ms), 'server'),
      arm(faults.blackhole()),
      send('server', BUSY_BYTES),
      awaitClose(),
    ],
  };
}

/**
 * Zero window, the client alive: it never reads (small SO_RCVBUF, set before connect), the server
 * keeps writing until the window closes (t = 0), and its persist timer probes; the client answers
 * win 0 (as its rate limit allows). Watched to SERVER_ZERO_WINDOW_HORIZON_S, or to the close
 * TCP_USER_TIMEOUT brings.
 */
export function serverZeroWindowPhase(s: ServerPhaseSetup, opts: { horizonS?: number } = {}): ScenarioSpec {
  const peer: ZeroWindowPeer = {};
  const horizonS = opts.horizonS ?? SERVER_ZERO_WINDOW_HORIZON_S;
  const drain = drainSampler();
  return {
    name: named(s, 'zero-window'),
    phase: 'zero-window',
    family: s.family,
    subject: 'server',
    server: s.server,
    client: { options: { SO_RCVBUF: ZERO_WINDOW_RCVBUF } },
    model: (r) => asServer(zeroWindowModel(peer, { alive: true, horizonS, side: 'server' })(r)),
    steps: [
      ...handshake(),
      readAccepted(),
      readClientRateLimit(peer),
      pump('server'),
      drain.start,
      // the first win 0 acknowledges everything sent: a receiver never shrinks its offered window
      untilPacket('zero-window', (p) => p.from === 'client' && p.win === 0),
      measureRto('server', { asOf: 'zero-window' }),
      awaitClose({ aliveFor: 0.5 }),
      drain.stop,
    ],
  };
}

export const SERVER_PHASE_SCENARIOS: Record<ServerPhase, (s: ServerPhaseSetup) => ScenarioSpec> = {
  idle: serverIdlePhase,
  busy: serverBusyPhase,
  'zero-window': (s) => serverZeroWindowPhase(s),
};
