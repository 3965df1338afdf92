/**
 * Which socket options set on a LISTENING TCP socket the sockets accept() returns inherit — a
 * kernel fact, established on the kernel by cases/listener-inheritance.test.ts, which reads every
 * option back from an accepted socket and checks this table, so the model and the kernel cannot
 * drift. Pure data: `check --side server` and the server phases read it to say what a listener's
 * configuration becomes on the connections it accepts.
 *
 * Why (Linux, net/): the child of a listener is a copy of it, then a few fields are reset.
 *  - net/core/sock.c, sk_clone_lock(): `sock_copy(newsk, sk)` copies the whole protocol object
 *    (struct tcp_sock, prot->obj_size bytes) — struct sock's flags (SOCK_KEEPOPEN: SO_KEEPALIVE),
 *    sk_rcvbuf / sk_sndbuf and sk_userlocks (SO_RCVBUF / SO_SNDBUF), sk_reuse; inet_connection_sock's
 *    icsk_user_timeout, icsk_syn_retries, icsk_rto_min, icsk_rto_max; tcp_sock's keepalive_time /
 *    keepalive_intvl / keepalive_probes, notsent_lowat, linger2, nonagle.
 *  - net/ipv4/inet_connection_sock.c, inet_csk_clone_lock(): resets the state, ports, retransmit
 *    and probe counters, and `memset(&newicsk->icsk_accept_queue, 0, …)` — the accept queue, where
 *    TCP_DEFER_ACCEPT lives (rskq_defer_accept): a listener-only option, 0 on the child.
 *  - net/ipv4/tcp_minisocks.c, tcp_create_openreq_child(): sets the sequence numbers, windows and
 *    timers of the child, and `if (sock_flag(newsk, SOCK_KEEPOPEN)) inet_csk_reset_keepalive_timer(
 *    newsk, keepalive_time_when(newtp))` — the keepalive timer starts at the child's birth with the
 *    inherited TCP_KEEPIDLE; it touches none of the options above.
 */

/**
 * The options the table speaks of (the helper's names: harness/core/protocol.ts SOCK_OPTS), in the
 * order of where the kernel keeps them: struct sock, inet_connection_sock, tcp_sock, the accept queue.
 */
export const LISTENER_OPTS = [
  'SO_KEEPALIVE',
  'SO_RCVBUF',
  'SO_SNDBUF',
  'TCP_USER_TIMEOUT',
  'TCP_SYNCNT',
  'TCP_RTO_MAX_MS',
  'TCP_RTO_MIN_US',
  'TCP_KEEPIDLE',
  'TCP_KEEPINTVL',
  'TCP_KEEPCNT',
  'TCP_NOTSENT_LOWAT',
  'TCP_NODELAY',
  'TCP_LINGER2',
  'TCP_DEFER_ACCEPT',
] as const;
export type ListenerOpt = (typeof LISTENER_OPTS)[number];

export interface Inheritance {
  /** the accepted socket reads back what the listener held */
  inherited: boolean;
  /** where in the kernel, in a few words */
  why: string;
}

const COPIED = 'copied with the sock by sk_clone_lock (sock_copy), not reset by inet_csk_clone_lock / tcp_create_openreq_child';

export const INHERITANCE: Record<ListenerOpt, Inheritance> = {
  SO_KEEPALIVE: { inherited: true, why: `SOCK_KEEPOPEN in sk_flags, ${COPIED}; tcp_create_openreq_child starts the child's keepalive timer` },
  TCP_KEEPIDLE: { inherited: true, why: `tcp_sock.keepalive_time, ${COPIED}` },
  TCP_KEEPINTVL: { inherited: true, why: `tcp_sock.keepalive_intvl, ${COPIED}` },
  TCP_KEEPCNT: { inherited: true, why: `tcp_sock.keepalive_probes, ${COPIED}` },
  TCP_USER_TIMEOUT: { inherited: true, why: `icsk_user_timeout, ${COPIED}` },
  TCP_SYNCNT: { inherited: true, why: `icsk_syn_retries, ${COPIED} (it counts SYNs: nothing an accepted socket sends)` },
  SO_RCVBUF: { inherited: true, why: `sk_rcvbuf and SOCK_RCVBUF_LOCK in sk_userlocks, ${COPIED}` },
  SO_SNDBUF: { inherited: true, why: `sk_sndbuf and SOCK_SNDBUF_LOCK in sk_userlocks, ${COPIED}` },
  TCP_NOTSENT_LOWAT: { inherited: true, why: `tcp_sock.notsent_lowat, ${COPIED}` },
  TCP_RTO_MAX_MS: { inherited: true, why: `icsk_rto_max, ${COPIED}` },
  TCP_RTO_MIN_US: { inherited: true, why: `icsk_rto_min, ${COPIED}` },
  TCP_NODELAY: { inherited: true, why: `tcp_sock.nonagle, ${COPIED}` },
  TCP_LINGER2: { inherited: true, why: `tcp_sock.linger2, ${COPIED}` },
  TCP_DEFER_ACCEPT: { inherited: false, why: 'rskq_defer_accept lives in icsk_accept_queue, which inet_csk_clone_lock zeroes (memset): a listener-only option' },
};

/** What a listener configured with `options` hands to the sockets it accepts: the inherited ones. */
export function inheritedOptions<K extends string>(options: Partial<Record<K, number>>): Partial<Record<K, number>> {
  return Object.fromEntries(Object.entries(options).filter(([k]) => INHERITANCE[k as ListenerOpt]?.inherited !== false)) as Partial<Record<K, number>>;
}
