/*
 * Reading another process's socket: pidfd_open(pid) + pidfd_getfd(fd), then getsockopt on the
 * duplicate, closed at once (holding it would keep the program's socket alive past its close()).
 * SO_ERROR is never read: that would consume the error the program is waiting for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"
#include "peek.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44 /* 6.15+ */
#endif

static const struct { const char *name; int level, opt; } peek_opts[PEEK_NOPTS] = {
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

int peek_pidfd(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int peek_read(int pidfd, int fd, struct peek *p) {
    int dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (dup < 0) return errno;
    for (int i = 0; i < PEEK_NOPTS; i++) {
        socklen_t l = sizeof p->val[i];
        p->ok[i] = getsockopt(dup, peek_opts[i].level, peek_opts[i].opt, &p->val[i], &l) == 0;
    }
    socklen_t tl = sizeof p->ti;
    memset(&p->ti, 0, sizeof p->ti);
    p->have_info = getsockopt(dup, IPPROTO_TCP, TCP_INFO, &p->ti, &tl) == 0;
    close(dup);
    return 0;
}

void peek_emit(const struct peek *p) {
    for (int i = 0; i < PEEK_NOPTS; i++)
        if (p->ok[i]) o_num(peek_opts[i].name, p->val[i]); /* absent: the kernel refused (ENOPROTOOPT) */
    if (!p->have_info) return;
    o_num("rto_us", p->ti.tcpi_rto);
    o_num("rtt_us", p->ti.tcpi_rtt);
    o_num("snd_mss", p->ti.tcpi_snd_mss);
    o_num("unacked", p->ti.tcpi_unacked);
    o_num("notsent_bytes", p->ti.tcpi_notsent_bytes);
    o_num("backoff", p->ti.tcpi_backoff);
    o_num("probes", p->ti.tcpi_probes);
    o_num("sack", (p->ti.tcpi_options & TCPI_OPT_SACK) != 0); /* the tail loss probe needs SACK */
}
