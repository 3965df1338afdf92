import { predictBusy } from '../../model/busy.js';
import { tinyRttRtoMs } from '../../model/features.js';
import { predictIdle } from '../../model/idle.js';
import { predictSynSent } from '../../model/syn-sent.js';
import type { ModelInput, Prediction } from '../../model/types.js';
import { predictZeroWindow } from '../../model/zero-window.js';
import { INHERITANCE, LISTENER_OPTS } from '../../model/inherit.js';
import { SERVER_ZERO_WINDOW_HORIZON_S } from '../../recipes/server-phases.js';

/**
 * Advice on a socket configuration, every line derived from the model at the sysctls the
 * application really runs with (the host's, not a test namespace's lowered ones): what the
 * configuration leaves undetected, or detects only after a long time, or kills too eagerly.
 */

/** 19.5 s, 15 min 25 s, 2 h 11 min. */
export function humanDuration(s: number | null): string {
  if (s === null) return 'never';
  if (s < 120) return `${Number(s.toFixed(s < 10 ? 3 : 1))} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** What each phase comes to at these settings (busy/zero-window at the RTO of a tiny RTT). */
export function predictPhases(i: ModelInput): { connect: Prediction; idle: Prediction; busy: Prediction; zeroWindow: Prediction } {
  const rtoMs = tinyRttRtoMs(i.sysctls, i.features.hz);
  return {
    connect: predictSynSent(i),
    idle: predictIdle(i),
    busy: predictBusy({ ...i, rtoMs }),
    zeroWindow: predictZeroWindow({ ...i, rtoMs, peer: 'gone' }),
  };
}

/** Above this, a detection time is worth a line of its own. */
const SLOW_S = 120;

/** `p`: the phases at these settings, when the caller has them already. */
export function advise(i: ModelInput, p: ReturnType<typeof predictPhases> = predictPhases(i)): string[] {
  const { socket: s, sysctls } = i;
  const out: string[] = [];
  const probes = (x: Prediction) => x.events.filter((e) => e.packet === 'KEEPALIVE').length;
  const u = s.userTimeoutMs / 1000;
  const keepSum = s.keepIdle + s.keepIntvl * s.keepCnt;

  if (!s.keepalive) {
    out.push('keepalive is off: a peer that vanishes while the connection is idle is never noticed (no TCP timer runs on an idle socket); turn on SO_KEEPALIVE');
  } else if (p.idle.closeAt !== null && p.idle.closeAt > SLOW_S) {
    out.push(
      `keepalive is on but an idle dead peer is noticed only after ${humanDuration(p.idle.closeAt)} ` +
        `(TCP_KEEPIDLE ${s.keepIdle} s, TCP_KEEPINTVL ${s.keepIntvl} s, TCP_KEEPCNT ${s.keepCnt}` +
        `${s.userTimeoutMs ? `, TCP_USER_TIMEOUT ${s.userTimeoutMs} ms` : ''}); lower TCP_KEEPIDLE / TCP_KEEPINTVL`,
    );
  }

  if (!s.userTimeoutMs) {
    out.push(
      `no TCP_USER_TIMEOUT: a peer that vanishes while data is unacknowledged is noticed after ≈${humanDuration(p.busy.closeAt)} ` +
        `(the model at tcp_retries2 = ${sysctls.tcp_retries2}), and behind a zero window after ≈${humanDuration(p.zeroWindow.closeAt)}; ` +
        'keepalive does not run while data is in flight or waiting; set TCP_USER_TIMEOUT',
    );
  }

  if (s.userTimeoutMs && s.keepalive) {
    const withoutU = predictIdle({ ...i, socket: { ...i.socket, userTimeoutMs: 0 } });
    if (u >= keepSum) {
      out.push(
        `TCP_USER_TIMEOUT ${s.userTimeoutMs} ms ≥ TCP_KEEPIDLE + TCP_KEEPINTVL × TCP_KEEPCNT = ${keepSum} s: TCP_KEEPCNT is meaningless ` +
          `(the keepalive timer ignores it once TCP_USER_TIMEOUT is set): an idle dead peer is noticed at ${humanDuration(p.idle.closeAt)} after ` +
          `${probes(p.idle)} probes` +
          (p.idle.closeAt !== withoutU.closeAt ? ` instead of ${humanDuration(withoutU.closeAt)} after ${s.keepCnt}` : ', U alone decides'),
      );
    }
    if (probes(p.idle) === 1 && s.keepCnt > 1) {
      out.push(
        `TCP_USER_TIMEOUT ${s.userTimeoutMs} ms ≤ TCP_KEEPIDLE + TCP_KEEPINTVL = ${s.keepIdle + s.keepIntvl} s: ONE unanswered keepalive probe ` +
          `kills the connection (at ${humanDuration(p.idle.closeAt)}); a single lost probe on a healthy path is enough, TCP_KEEPCNT ${s.keepCnt} ` +
          `never applies; raise TCP_USER_TIMEOUT towards TCP_KEEPIDLE + TCP_KEEPINTVL × TCP_KEEPCNT = ${keepSum} s`,
      );
    }
  }

  if (p.connect.closeAt !== null && p.connect.closeAt > SLOW_S / 2) {
    out.push(
      `connect() to a dead host fails only after ${humanDuration(p.connect.closeAt)} (${s.synCnt ? `TCP_SYNCNT ${s.synCnt}` : `tcp_syn_retries ${sysctls.tcp_syn_retries}`}); ` +
        'set TCP_SYNCNT, TCP_USER_TIMEOUT or a connect timeout in the application',
    );
  }
  return out;
}

/**
 * The server's zero-window phase: the client is alive and stopped reading (its answers win 0), at
 * the RTO of a tiny RTT, watched to the server phase's horizon when nothing ends it.
 */
export function predictServerZeroWindow(i: ModelInput): Prediction {
  return predictZeroWindow({ ...i, rtoMs: tinyRttRtoMs(i.sysctls, i.features.hz), peer: 'alive', horizonS: SERVER_ZERO_WINDOW_HORIZON_S });
}

/** The options a listener passes on, and the one it keeps (harness/model/inherit.ts, measured by cases/listener-inheritance.test.ts). */
const INHERITED = LISTENER_OPTS.filter((o) => INHERITANCE[o].inherited);
const NOT_INHERITED = LISTENER_OPTS.filter((o) => !INHERITANCE[o].inherited);

/**
 * Advice on a LISTENER's configuration, judged on the sockets it accepts (they inherit it), from the
 * model at the host's sysctls: what a client that vanishes leaves the server holding, and for how long.
 */
export function adviseServer(i: ModelInput, p: ReturnType<typeof predictPhases> = predictPhases(i)): string[] {
  const { socket: s, sysctls } = i;
  const out: string[] = [
    `set these on the listening socket: every socket accept() returns inherits ${INHERITED.join(', ')} (not ${NOT_INHERITED.join(', ')}, a listener-only option) — measured on this kernel by cases/listener-inheritance.test.ts`,
  ];
  if (!s.keepalive) {
    out.push(
      'SO_KEEPALIVE is off on the listener: a client that vanishes while the server waits for its next request is never noticed — the connection, ' +
        'and whatever the server holds for it (a backend, a lock, a pool slot), stays for ever; turn on SO_KEEPALIVE on the listener (inherited)',
    );
  } else if (p.idle.closeAt !== null && p.idle.closeAt > SLOW_S) {
    out.push(
      `keepalive on the listener lets go of a vanished idle client only after ${humanDuration(p.idle.closeAt)} (TCP_KEEPIDLE ${s.keepIdle} s, TCP_KEEPINTVL ${s.keepIntvl} s, ` +
        `TCP_KEEPCNT ${s.keepCnt}): whatever it holds for the client is held that long; lower TCP_KEEPIDLE / TCP_KEEPINTVL on the listener`,
    );
  }
  if (!s.userTimeoutMs) {
    out.push(
      `no TCP_USER_TIMEOUT on the listener: a client that vanishes while the server sends (a streaming response) is noticed after ≈${humanDuration(p.busy.closeAt)} ` +
        `(tcp_retries2 = ${sysctls.tcp_retries2}); keepalive does not run while data is unacknowledged; set TCP_USER_TIMEOUT on the listener (inherited)`,
    );
  }
  const alive = predictServerZeroWindow(i);
  out.push(
    (alive.closeAt === null
      ? 'a client that stops reading (alive, window 0: the slow download) is never let go by the kernel — its answers to the persist timer keep the connection open for ever, and a slow-but-alive reader looks to that timer just like one that stopped'
      : `a client that stops reading (alive, window 0) is cut by TCP_USER_TIMEOUT at ${humanDuration(alive.closeAt)} — as one that vanished: the persist timer cannot tell a slow-but-alive reader from a dead one`) +
      '; to tell them apart, watch the send queue drain (DrainMonitor: a reader whose bytes keep being acknowledged is slow but alive; one that acknowledged nothing for a whole window has stopped or gone) and close the ones you will not wait for',
  );
  return out;
}
