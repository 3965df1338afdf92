/* A namespace's TCP sockets, all at once: one sock_diag dump (what `ss -t` reads). */
#pragma once
#include <linux/inet_diag.h>
#include <stdint.h>

/* The kernel's TCP states by number (include/net/tcp_states.h), as ss(8) names them. */
const char *tcp_state_name(int s);
#define TCP_STATE_LISTEN 10

/* What a dump says of one socket, decoded: the 4-tuple (ports in host order), state, pending timer. */
struct tcpdiag_sock {
    int family; /* 4 or 6 */
    int state, timer, retrans;
    unsigned expires, inode, uid;
    uint16_t sport, dport;
    uint8_t src[16], dst[16];
};
void tcpdiag_decode(const struct inet_diag_msg *m, struct tcpdiag_sock *s);

/* One dump of one family (AF_INET or AF_INET6) of this namespace's TCP sockets in `states` (a bit
 * per state); fn is called for each. 0, or -errno. */
int tcpdiag_dump(int family, uint32_t states, void (*fn)(const struct inet_diag_msg *m, void *arg), void *arg);
