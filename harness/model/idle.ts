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
 */
import { msecsToJiffies } from './jiffies.js';
import { packetSeries, seconds } from './timeline.js';
import type { IdleInput, Prediction } from './types.js';

const MAX_PROBES = 100_000;

export function predictIdle({ socket, features }: IdleInput): Prediction {
  const { hz } = features;
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
        'SO_KEEPALIVE off: no TCP timer runs on an idle connection, a vanished peer is never noticed',
      ],
    };
  }

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
    errno: 'ETIMEDOUT',
    notes,
  };
}
