/*
 * One sock_diag dump: it walks the kernel's whole TCP hash (shared by every namespace, filtered to
 * ours), so it is for "every socket at once" (discover, audit); following one connection is the
 * exact lookup of diag.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpdiag.h"

const char *tcp_state_name(int s) {
    static const char *n[] = {"?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
                              "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING",
                              "NEW-SYN-RECV", "BOUND-INACTIVE"};
    return s >= 0 && s < (int)(sizeof n / sizeof n[0]) ? n[s] : "?";
}

void tcpdiag_decode(const struct inet_diag_msg *m, struct tcpdiag_sock *s) {
    s->family = m->idiag_family == AF_INET ? 4 : 6;
    s->state = m->idiag_state;
    s->timer = m->idiag_timer;
    s->retrans = m->idiag_retrans;
    s->expires = m->idiag_expires;
    s->inode = m->idiag_inode;
    s->uid = m->idiag_uid;
    s->sport = ntohs(m->id.idiag_sport);
    s->dport = ntohs(m->id.idiag_dport);
    memcpy(s->src, m->id.idiag_src, sizeof s->src);
    memcpy(s->dst, m->id.idiag_dst, sizeof s->dst);
}

int tcpdiag_dump(int family, uint32_t states, void (*fn)(const struct inet_diag_msg *m, void *arg), void *arg) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req = {
        .nlh = {.nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .r = {.sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = states},
    };
    if (send(fd, &req, sizeof req, 0) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0, done = 0;
    /* large reads: the kernel fills each with as many sockets as fit, fewer syscalls per 10 k sockets */
    static char buf[65536] __attribute__((aligned(8)));
    while (!done) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { rc = n < 0 ? -errno : -EIO; break; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) { done = 1; break; }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                rc = e->error < 0 ? e->error : -EIO;
                done = 1;
                break;
            }
            fn(NLMSG_DATA(h), arg);
        }
    }
    close(fd);
    /* no diag handler for the family (IPv6 disabled): it has no sockets */
    return rc == -ENOENT || rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP ? 0 : rc;
}
