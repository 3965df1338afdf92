/**
 * Idle ESTABLISHED: nothing to send, nothing in flight, the peer silently gone.
 *
 * Rules (net/ipv4/tcp_timer.c tcp_keepalive_timer, 6.x): without SO_KEEPALIVE no timer runs at
 * all. With it, the keepalive timer fires when the time since the last received packet
 * (keepalive_time_elapsed) reaches TCP_KEEPIDLE, and then every TCP_KEEPINTVL; at each firing:
 *   - U set:   abort when elapsed >= U and icsk_probes_out > 0 (TCP_KEEPCNT ignored);
 *   - U unset: abort when icsk_probes_out >= TCP_KEEPCNT;
 *   - else send a probe (probes_out++) and re-arm at TCP_KEEPINTVL.
 * Abort = tcp_send_active_reset() (an RST) + tcp_write_err() (ETIMEDOUT).
 *
 * A peer that is still there answers each probe (a dupack): tcp_ack() zeroes icsk_probes_out and
 * stamps rcv_tstamp, so no abort condition is ever met and the probes go on for ever.
 */
import { msecsToJiffies } from './jiffies.js';
import { packetSeries, seconds } from './timeline.js';
import type { IdleInput, Prediction, SocketSettings } from './types.js';

const MAX_PROBES = 100_000;
/** An alive peer's probes repeat for ever: without a horizon, the first few show the pattern. */
const LISTED_PROBES = 3;

/**
 * Whether TCP_KEEPCNT shapes the gone timeline: not once TCP_USER_TIMEOUT is set (the abort rule
 * above), so settings that differ only in the count give one timeline — a search over both can ask
 * once per U.
 */
export function keepCntCounts(s: Pick<SocketSettings, 'userTimeoutMs'>): boolean {
  return !s.userTimeoutMs;
}

export function predictIdle(input: IdleInput): Prediction {
  const { socket, features } = input;
  const { hz } = features;
  const peer = input.peer ?? 'gone';
  const origin = 'the last packet received (or enabling SO_KEEPALIVE, if later)';
  if (!socket.keepalive) {
    return {
      phase: 'idle',
      kernel: features.release,
      origin,
      events: [],
      closeAt: null,
      errno: null,
      notes: [
        peer === 'alive'
          ? 'SO_KEEPALIVE off and the peer still there: no TCP timer runs on an idle connection, and there is nothing to notice'
          : 'SO_KEEPALIVE off: no TCP timer runs on an idle connection, a vanished peer is never noticed',
      ],
      inputs: { peer },
    };
  }
  if (peer === 'alive') return idleAnswered(input);

  const idleJ = socket.keepIdle * hz;
  const intvlJ = socket.keepIntvl * hz;
  const userTimeoutJ = msecsToJiffies(socket.userTimeoutMs, hz);
  const probesJ: number[] = [];
  let nowJ = idleJ;
  for (;;) {
    const probesOut = probesJ.length;
    // elapsed = keepalive_time_elapsed(): nothing is received, so it is simply nowJ.
    const abort = socket.userTimeoutMs
      ? nowJ >= userTimeoutJ && probesOut > 0
      : probesOut >= socket.keepCnt;
    if (abort) break;
    if (probesOut >= MAX_PROBES) throw new Error('predictIdle: keepalive never gives up');
    probesJ.push(nowJ);
    nowJ += intvlJ;
  }

  const notes = [
    `keepalive TCP_KEEPIDLE ${socket.keepIdle} s / TCP_KEEPINTVL ${socket.keepIntvl} s / TCP_KEEPCNT ${socket.keepCnt}: ` +
      'tcp_keepalive_timer() probes when the time since the last received packet reaches TCP_KEEPIDLE, then every TCP_KEEPINTVL',
    socket.userTimeoutMs
      ? `TCP_USER_TIMEOUT ${socket.userTimeoutMs} ms: abort at the first keepalive firing where the idle time >= U ` +
        'and a probe is out (icsk_probes_out > 0); TCP_KEEPCNT is ignored (tcp_keepalive_timer, rule from ' +
        'dca43c75e7e5 "tcp: Add TCP_USER_TIMEOUT socket option", 2.6.37, unchanged in 6.x)'
      : `abort when icsk_probes_out >= TCP_KEEPCNT: at TCP_KEEPIDLE + TCP_KEEPCNT × TCP_KEEPINTVL = ${
          socket.keepIdle + socket.keepCnt * socket.keepIntvl
        } s`,
    'abort sends an RST (tcp_send_active_reset) then tcp_write_err(): ETIMEDOUT',
    'keepalive only probes while nothing is unacknowledged or unsent (else it just reschedules)',
  ];

  return {
    phase: 'idle',
    kernel: features.release,
    origin,
    events: [
      ...packetSeries(probesJ, hz, 'client', 'KEEPALIVE'),
      { t: seconds(nowJ, hz) ?? 0, side: 'client', packet: 'RST', n: 0 },
    ],
    closeAt: seconds(nowJ, hz),
    // with U: the idle time (keepalive_time_elapsed) checked at each firing once a probe is out
    ...(socket.userTimeoutMs ? { closeBudget: { from: -1, after: 0, ms: socket.userTimeoutMs } } : {}),
    errno: 'ETIMEDOUT',
    notes,
    inputs: { peer },
  };
}

/**
 * Keepalive probes a live peer answers. tcp_keepalive_timer() re-arms at TCP_KEEPINTVL after a
 * probe; the answer arrives within the same jiffy (a tiny RTT), so at that firing the idle time
 * is TCP_KEEPINTVL: at least TCP_KEEPIDLE → the next probe; less → a silent re-arm for what is
 * left of TCP_KEEPIDLE since the answer. Probes every max(TCP_KEEPIDLE, TCP_KEEPINTVL), never a close.
 */
function idleAnswered({ socket, features, horizonS }: IdleInput): Prediction {
  const { hz } = features;
  const periodS = Math.max(socket.keepIdle, socket.keepIntvl);
  const probesJ: number[] = [];
  for (let t = socket.keepIdle; horizonS === undefined ? probesJ.length < LISTED_PROBES : t <= horizonS; t += periodS) probesJ.push(t * hz);
  return {
    phase: 'idle',
    kernel: features.release,
    origin: 'the last packet received (or enabling SO_KEEPALIVE, if later)',
    events: packetSeries(probesJ, hz, 'client', 'KEEPALIVE'),
    closeAt: null,
    errno: null,
    notes: [
      `peer alive: it answers every keepalive probe; tcp_ack() zeroes icsk_probes_out and stamps rcv_tstamp, so neither ` +
        'TCP_KEEPCNT nor TCP_USER_TIMEOUT is ever reached: the connection stays open',
      socket.keepIntvl >= socket.keepIdle
        ? `a probe every TCP_KEEPINTVL ${socket.keepIntvl} s (the idle time at each firing is already >= TCP_KEEPIDLE ${socket.keepIdle} s)`
        : `a probe every TCP_KEEPIDLE ${socket.keepIdle} s: the firing TCP_KEEPINTVL ${socket.keepIntvl} s after a probe finds the ` +
          'connection idle for less than TCP_KEEPIDLE and only re-arms for the rest (tcp_keepalive_timer)',
      horizonS === undefined ? `the first ${LISTED_PROBES} probes listed; they go on for ever` : `probes listed up to the ${horizonS} s horizon`,
    ],
    inputs: { peer: 'alive' },
  };
}
