/*
 * Sockets the helper did not make: a program under test (`deadpeer exec`) opens its own
 * connection, and the harness has to find it and read what the program set on it.
 *
 *   {"cmd":"discover","port":4242}  one sock_diag dump (IPv4 and IPv6) of this namespace's TCP
 *       sockets whose REMOTE port is `port`, listeners excluded. Replies with how many there are
 *       and the newest (highest inode): its 4-tuple, state, timer and inode. A dump walks the
 *       kernel's whole TCP hash, so callers poll it only until the connection shows up, then
 *       follow it with the cheap exact-lookup "watch".
 *   {"cmd":"peeksock","pid":123,"fd":5}  pidfd_open(pid) + pidfd_getfd(fd) (Linux 5.6+), then
 *       getsockopt of the timeout-related options on the duplicate, closed at once (holding it
 *       would keep the program's socket alive past its close()). SO_ERROR is never read: that
 *       would consume the error the program is waiting for.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44 /* 6.15+ */
#endif

static const char *state_name(int s) {
    static const char *n[] = {"?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
                              "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV"};
    return s >= 0 && s < (int)(sizeof n / sizeof n[0]) ? n[s] : "?";
}

struct found {
    int any, family, state, timer, retrans;
    unsigned expires, inode, uid;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    int sport, dport;
};

/* One dump of one family; keeps the newest match in *best. Returns the number of matches or -errno. */
static int dump_family(int family, int port, struct found *best) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req = {
        .nlh = {.nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        /* every state but LISTEN (10) */
        .r = {.sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~(1u << 10)},
    };
    if (send(fd, &req, sizeof req, 0) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int count = 0, done = 0;
    static char buf[32768];
    while (!done) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { done = 1; break; }
            struct inet_diag_msg *m = NLMSG_DATA(h);
            if (ntohs(m->id.idiag_dport) != port) continue;
            count++;
            if (best->any && m->idiag_inode <= best->inode) continue;
            best->any = 1;
            best->family = family == AF_INET ? 4 : 6;
            best->state = m->idiag_state;
            best->timer = m->idiag_timer;
            best->retrans = m->idiag_retrans;
            best->expires = m->idiag_expires;
            best->inode = m->idiag_inode;
            best->uid = m->idiag_uid;
            best->sport = ntohs(m->id.idiag_sport);
            best->dport = ntohs(m->id.idiag_dport);
            inet_ntop(family, m->id.idiag_src, best->src, sizeof best->src);
            inet_ntop(family, m->id.idiag_dst, best->dst, sizeof best->dst);
        }
    }
    close(fd);
    return count;
}

void cmd_discover(struct cmd *c) {
    double port;
    if (!need_num(c, "port", &port)) return;
    if (port < 1 || port > 65535) { fail("port must be 1..65535, not %g", port); return; }
    struct found best = {0};
    int n4 = dump_family(AF_INET, (int)port, &best);
    int n6 = dump_family(AF_INET6, (int)port, &best);
    if (n4 < 0) { fail_errno("sock_diag dump (IPv4)", -n4); return; }
    if (n6 < 0) { fail_errno("sock_diag dump (IPv6)", -n6); return; }
    reply_begin("ok");
    o_num("count", n4 + n6);
    if (best.any) {
        static const char *timers[] = {"off", "on", "keepalive", "timewait", "persist"};
        o_num("family", best.family);
        o_str("src", best.src);
        o_num("sport", best.sport);
        o_str("dst", best.dst);
        o_num("dport", best.dport);
        o_str("state", state_name(best.state));
        o_str("timer", best.timer >= 0 && best.timer < 5 ? timers[best.timer] : "unknown");
        o_num("expires_ms", best.expires);
        o_num("retrans", best.retrans);
        o_num("inode", best.inode);
        o_num("uid", best.uid);
    }
    o_end();
}

struct peek_opt { const char *name; int level, opt; };
static const struct peek_opt peek_opts[] = {
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
    {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL},
    {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
    {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT},
    {"TCP_SYNCNT", IPPROTO_TCP, TCP_SYNCNT},
    {"TCP_RTO_MAX_MS", IPPROTO_TCP, TCP_RTO_MAX_MS},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},
    {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
};

void cmd_peeksock(struct cmd *c) {
    double pid, fd;
    if (!need_num(c, "pid", &pid) || !need_num(c, "fd", &fd)) return;
    int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pfd < 0) { fail_errno("pidfd_open", errno); return; }
    int dup = (int)syscall(SYS_pidfd_getfd, pfd, (int)fd, 0);
    int e = errno;
    close(pfd);
    if (dup < 0) { fail_errno("pidfd_getfd", e); return; }
    int vals[sizeof peek_opts / sizeof peek_opts[0]], ok[sizeof peek_opts / sizeof peek_opts[0]];
    for (size_t i = 0; i < sizeof peek_opts / sizeof peek_opts[0]; i++) {
        socklen_t l = sizeof vals[i];
        ok[i] = getsockopt(dup, peek_opts[i].level, peek_opts[i].opt, &vals[i], &l) == 0;
    }
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    int have_info = getsockopt(dup, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0;
    close(dup);
    reply_begin("ok");
    for (size_t i = 0; i < sizeof peek_opts / sizeof peek_opts[0]; i++)
        if (ok[i]) o_num(peek_opts[i].name, vals[i]); /* absent: the kernel refused (ENOPROTOOPT) */
    if (have_info) {
        o_str("state", state_name(ti.tcpi_state));
        o_num("rto_us", ti.tcpi_rto);
        o_num("rtt_us", ti.tcpi_rtt);
        o_num("snd_mss", ti.tcpi_snd_mss);
        o_num("unacked", ti.tcpi_unacked);
        o_num("notsent_bytes", ti.tcpi_notsent_bytes);
    }
    o_end();
}
