/*
 * Sockets the helper did not make: a program under test (`deadpeer exec`) opens its own
 * connection, and the harness has to find it and read what the program set on it.
 *
 *   {"cmd":"discover","port":4242}  one sock_diag dump (IPv4 and IPv6) of this namespace's TCP
 *       sockets whose REMOTE port is `port`, listeners excluded. Replies with how many there are
 *       and the newest (highest inode): its 4-tuple, state, timer and inode. A dump walks the
 *       kernel's whole TCP hash, so callers poll it only until the connection shows up, then
 *       follow it with the cheap exact-lookup "watch".
 *   {"cmd":"peeksock","pid":123,"fd":5}  the program's socket options and tcp_info, read through
 *       pidfd_getfd by the reader audit uses too (peek.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "discover.h"
#include "peek.h"
#include "tcpdiag.h"

struct found {
    int port, count, any;
    struct tcpdiag_sock best; /* the newest match */
};

static void on_sock(const struct inet_diag_msg *m, void *arg) {
    struct found *f = arg;
    if (ntohs(m->id.idiag_dport) != f->port) return;
    f->count++;
    if (f->any && m->idiag_inode <= f->best.inode) return;
    f->any = 1;
    tcpdiag_decode(m, &f->best);
}

void cmd_discover(struct cmd *c) {
    double port;
    if (!need_num(c, "port", &port)) return;
    if (port < 1 || port > 65535) { fail("port must be 1..65535, not %g", port); return; }
    struct found f = {.port = (int)port};
    const uint32_t not_listen = ~(1u << TCP_STATE_LISTEN);
    int e4 = tcpdiag_dump(AF_INET, not_listen, on_sock, &f);
    if (e4 < 0) { fail_errno("sock_diag dump (IPv4)", -e4); return; }
    int e6 = tcpdiag_dump(AF_INET6, not_listen, on_sock, &f);
    if (e6 < 0) { fail_errno("sock_diag dump (IPv6)", -e6); return; }
    reply_begin("ok");
    o_num("count", f.count);
    if (f.any) {
        static const char *timers[] = {"off", "on", "keepalive", "timewait", "persist"};
        const struct tcpdiag_sock *b = &f.best;
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->src, src, sizeof src);
        inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->dst, dst, sizeof dst);
        o_num("family", b->family);
        o_str("src", src);
        o_num("sport", b->sport);
        o_str("dst", dst);
        o_num("dport", b->dport);
        o_str("state", tcp_state_name(b->state));
        o_str("timer", b->timer >= 0 && b->timer < 5 ? timers[b->timer] : "unknown");
        o_num("expires_ms", b->expires);
        o_num("retrans", b->retrans);
        o_num("inode", b->inode);
        o_num("uid", b->uid);
    }
    o_end();
}

void cmd_peeksock(struct cmd *c) {
    double pid, fd;
    if (!need_num(c, "pid", &pid) || !need_num(c, "fd", &fd)) return;
    int pfd = peek_pidfd((pid_t)pid);
    if (pfd < 0) { fail_errno("pidfd_open", errno); return; }
    struct peek p;
    int e = peek_read(pfd, (int)fd, &p);
    close(pfd);
    if (e) { fail_errno("pidfd_getfd", e); return; }
    reply_begin("ok");
    peek_emit(&p);
    if (p.have_info) o_str("state", tcp_state_name(p.ti.tcpi_state));
    o_end();
}
