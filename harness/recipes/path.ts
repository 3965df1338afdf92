import { sideInput, type Observation, type RunSettings } from '../core/observation.js';
import type { EndpointSpec, ScenarioSpec, Step } from '../engine/run.js';
import { awaitClose, handshake, measureRto, sendAfter } from '../engine/steps.js';
import type { Middlebox } from '../model/middlebox.js';
import { type PathPrediction, predictPath } from '../model/path.js';
import type { Prediction } from '../model/types.js';
import { BUSY_BYTES, tailLossProbe } from './phases.js';

/**
 * A connection through a middlebox that forgets idle flows (harness/engine/router.ts): nobody
 * vanishes — the handshake completes through the router, the connection goes quiet, and the
 * router's conntrack forgets it after the idle timeout unless keepalive traffic crosses in time.
 * What meets the forgotten entry first is the client's own next transmission: a keepalive probe,
 * or the write this recipe makes `writeAtS` after the handshake.
 *
 * The path's t = 0 is the handshake's last packet (the client's ACK: the last to cross the router,
 * from when conntrack counts), placed from the capture (LAST_CROSSING). The client's prediction is predictPath's `client`: from the write
 * when the write is what meets the forgotten entry (or is acknowledged), else from t = 0.
 */
export interface PathSetup {
  family: 4 | 6;
  middlebox: Middlebox;
  /** the client's socket options and namespace sysctls */
  client?: EndpointSpec;
  /** scenario name prefix (the run folder is named after it) */
  name?: string;
}

export interface PathOptions {
  /** the client writes BUSY_BYTES this long after the handshake; absent: it never writes */
  writeAtS?: number;
  /** a connection the model says stays open: watch this long past its last predicted event */
  aliveFor?: number;
}

export function pathPhase(s: PathSetup, opts: PathOptions = {}): ScenarioSpec {
  let tlpMs: number | undefined;
  let writeAtS: number | undefined;
  let answer: PathPrediction | undefined;
  // computed once per run, from the settings read back and the write as it happened, and shared by
  // the client's prediction and the observation's record of the path's answer
  const path = (r: RunSettings): PathPrediction =>
    (answer ??= predictPath({
      ...sideInput(r, 'client'),
      middlebox: s.middlebox,
      rtoMs: r.rtoMs!,
      ...(tlpMs === undefined ? {} : { tlpMs }),
      ...(writeAtS === undefined ? {} : { writeAtS }),
      // the server of these runs has no keepalive (its socket is the harness's, options unset)
      peerKeepalive: r.server.socket.keepalive ? { idleS: r.server.socket.keepIdle, intvlS: r.server.socket.keepIntvl, cnt: r.server.socket.keepCnt } : null,
    }));
  const writes = opts.writeAtS !== undefined;
  return {
    name: `${s.name ?? 'path'}/${s.middlebox.kind}-${s.middlebox.mode}${writes ? `-write-${opts.writeAtS}s` : ''}`,
    phase: 'idle',
    family: s.family,
    client: s.client,
    path: { middlebox: s.middlebox },
    model: (r): Prediction => path(r).client,
    pathModel: path,
    origin: (o) => pathOrigin(o, answer),
    steps: [
      ...handshake(),
      lastCrossing(),
      measureRto('client'),
      tailLossProbe(BUSY_BYTES, (ms) => (tlpMs = ms)),
      ...(writes
        ? [
            sendAfter('client', BUSY_BYTES, 'established', opts.writeAtS!),
            {
              label: 'the write, as it happened, for the model',
              run: async (r: { marks: Record<string, number> }) => {
                writeAtS = round3(r.marks['client sent']! - r.marks[LAST_CROSSING]!);
              },
            },
          ]
        : []),
      awaitClose({ aliveFor: opts.aliveFor }),
    ],
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The mark of the path's t = 0: the handshake's last packet, the client's ACK, on the capture's clock. */
export const LAST_CROSSING = 'last crossing';

/**
 * The path's t = 0, from the capture: the client's ACK that completes the handshake, the packet from
 * which the router's conntrack counts the idle timeout. Not the 'established' mark: that is when the
 * client's helper heard of the connection, which a loaded machine makes tens of ms late.
 */
const lastCrossing = (): Step => ({
  label: 'the path starts counting (the handshake\'s last packet)',
  run: async (r) => {
    const client = [r.topo.client.addr[4], r.topo.client.addr[6]];
    const ack = await r.topo.client.helper.waitFor(
      (e) => e.ev === 'packet' && client.includes(String(e.src)) && String(e.flags) === '.' && e.len === 0,
      5000,
      "the client's ACK that completes the handshake",
    );
    r.mark(LAST_CROSSING, ack.t);
  },
});

/**
 * The client prediction's t = 0 on the run's clock: the write's first transmission when the path's
 * answer counts from the write, else the last packet the client received before anything met the
 * forgotten entry (predictIdle's origin: the keepalive timer counts from it).
 */
function pathOrigin(o: Omit<Observation, 'origin'>, answer: PathPrediction | undefined): number {
  if (answer && answer.clientOriginS > 0 && answer.trigger?.by !== 'keepalive') {
    const data = o.packets.find((p) => p.from === 'client' && p.kind === 'DATA');
    if (!data) throw new Error(`cannot place t=0 of ${o.name}: the client's write never reached the wire`);
    return data.t;
  }
  const crossed = o.marks[LAST_CROSSING]!;
  const got = o.packets.filter((p) => p.from === 'server' && p.t <= crossed);
  if (!got.length) throw new Error(`cannot place t=0 of ${o.name}: nothing reached the client`);
  return got[got.length - 1]!.t;
}
