/*
 * The sockets under test: made, set, connected, fed and read by commands, each event (connected,
 * accepted, eof, closed) reported at the moment poll() said so, with TCP_INFO when it dies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "sockets.h"
#include "tcpdiag.h"

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44 /* 6.15+ */
#endif
#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45 /* 6.15+ */
#endif

enum { S_FREE, S_NEW, S_CONNECTING, S_LISTENING, S_OPEN, S_DEAD };
struct tsock {
    int fd, state, family;
    int accepting;   /* accept() armed */
    int reading;     /* consume incoming data */
    int echo;        /* and send it back (what fits in the send buffer; the rest is dropped) */
    long read_rate;  /* bytes/s when reading slowly; 0 = as fast as it comes */
    double read_budget_t;
    double read_budget;
    int pumping;     /* keep the send buffer full */
    long long sent, received;
};
static struct tsock socks[MAX_SOCKS];

/* Socket ids are never reused within a helper's life: an event about socket 3 must always mean
 * the same socket, even after it was closed and another one opened. */
static int new_sock(int fd, int family, int state) {
    static int next = 1;
    if (next >= MAX_SOCKS) return -1;
    int i = next++;
    memset(&socks[i], 0, sizeof socks[i]);
    socks[i].fd = fd;
    socks[i].family = family;
    socks[i].state = state;
    return i;
}

static struct tsock *need_sock(struct cmd *c, int *idx) {
    double v;
    if (!need_num(c, "sock", &v)) return NULL;
    int i = (int)v;
    if (i <= 0 || i >= MAX_SOCKS || socks[i].state == S_FREE) {
        fail("no socket %d (create one with {\"cmd\":\"socket\"})", i);
        return NULL;
    }
    if (idx) *idx = i;
    return &socks[i];
}

struct sockopt { const char *name; int level, opt; };
static const struct sockopt opts[] = {
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},
    {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL},
    {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
    {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT},
    {"TCP_SYNCNT", IPPROTO_TCP, TCP_SYNCNT},
    {"TCP_DEFER_ACCEPT", IPPROTO_TCP, TCP_DEFER_ACCEPT},
    {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},
    {"TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG},
    {"TCP_RTO_MAX_MS", IPPROTO_TCP, TCP_RTO_MAX_MS},
    {"TCP_RTO_MIN_US", IPPROTO_TCP, TCP_RTO_MIN_US},
    {"TCP_LINGER2", IPPROTO_TCP, TCP_LINGER2},
};

static const struct sockopt *find_opt(const char *name) {
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

static void unknown_opt(const char *name) {
    char known[512] = "";
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        strcat(known, i ? ", " : "");
        strcat(known, opts[i].name);
    }
    fail("unknown socket option \"%s\" (known: %s)", name, known);
}

/* TCP_INFO and the queue ioctls, appended to the current event. */
static void o_tcpinfo(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
        o_str("info_error", errname(errno));
        return;
    }
    int outq = -1, inq = -1;
    if (ioctl(fd, SIOCOUTQ, &outq) < 0) outq = -1;
    if (ioctl(fd, SIOCINQ, &inq) < 0) inq = -1;
    o_str("state", tcp_state_name(ti.tcpi_state));
    o_num("ca_state", ti.tcpi_ca_state);
    o_num("retransmits", ti.tcpi_retransmits);
    o_num("probes", ti.tcpi_probes);
    o_num("backoff", ti.tcpi_backoff);
    o_num("rto_us", ti.tcpi_rto);
    o_num("ato_us", ti.tcpi_ato);
    o_num("snd_mss", ti.tcpi_snd_mss);
    o_num("rcv_mss", ti.tcpi_rcv_mss);
    o_num("unacked", ti.tcpi_unacked);
    o_num("lost", ti.tcpi_lost);
    o_num("retrans", ti.tcpi_retrans);
    o_num("total_retrans", ti.tcpi_total_retrans);
    o_num("last_data_sent_ms", ti.tcpi_last_data_sent);
    o_num("last_data_recv_ms", ti.tcpi_last_data_recv);
    o_num("last_ack_recv_ms", ti.tcpi_last_ack_recv);
    o_num("rtt_us", ti.tcpi_rtt);
    o_num("rttvar_us", ti.tcpi_rttvar);
    o_num("snd_cwnd", ti.tcpi_snd_cwnd);
    o_num("snd_wscale", ti.tcpi_snd_wscale);
    o_num("rcv_wscale", ti.tcpi_rcv_wscale);
    o_num("rcv_space", ti.tcpi_rcv_space);
    o_num("notsent_bytes", ti.tcpi_notsent_bytes);
    o_num("snd_wnd", ti.tcpi_snd_wnd);
    o_num("bytes_acked", (long long)ti.tcpi_bytes_acked);
    o_num("bytes_received", (long long)ti.tcpi_bytes_received);
    o_num("segs_out", ti.tcpi_segs_out);
    o_num("outq", outq);
    o_num("inq", inq);
}

static void sock_died(int i, int err, const char *via) {
    struct tsock *s = &socks[i];
    s->state = S_DEAD;
    o_begin("closed", mono_now());
    o_num("sock", i);
    o_str("errno", err ? errname(err) : "EOF");
    o_str("via", via);
    o_tcpinfo(s->fd);
    o_end();
}

static void check_so_error(int i, const char *via) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(socks[i].fd, SOL_SOCKET, SO_ERROR, &err, &l);
    sock_died(i, err, via);
}

static int parse_addr(int family, const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (family == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        *len = sizeof *a;
        return inet_pton(AF_INET, addr, &a->sin_addr) == 1;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    *len = sizeof *a;
    return inet_pton(AF_INET6, addr, &a->sin6_addr) == 1;
}

static void o_sockname(int fd, int peer) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char buf[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
            port = ntohs(a->sin_port);
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
            port = ntohs(a->sin6_port);
        }
    }
    o_str(peer ? "peer_addr" : "local_addr", buf);
    o_num(peer ? "peer_port" : "local_port", port);
}

/* The command's "addr" and "port" as a sockaddr of the socket's family; 0 = refused (replied). */
static int need_sockaddr(struct cmd *c, int family, struct sockaddr_storage *ss, socklen_t *len) {
    const char *addr;
    double port;
    if (!need_str(c, "addr", &addr) || !need_num(c, "port", &port)) return 0;
    if (port < 0 || port > 65535 || port != (double)(int)port) { fail("port must be a whole number 0..65535, not %g", port); return 0; }
    if (!parse_addr(family, addr, (int)port, ss, len)) {
        fail("\"%s\" is not an IPv%d address", addr, family);
        return 0;
    }
    return 1;
}

/* ---------- commands ---------- */

void cmd_socket(struct cmd *c) {
    double fam;
    if (!need_num(c, "family", &fam)) return;
    if (fam != 4 && fam != 6) { fail("family must be 4 or 6, not %g", fam); return; }
    int fd = socket(fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { fail_errno("socket", errno); return; }
    int i = new_sock(fd, (int)fam, S_NEW);
    if (i < 0) { close(fd); fail("too many sockets (max %d)", MAX_SOCKS - 1); return; }
    reply_begin("ok");
    o_num("sock", i);
    o_end();
}

static int read_opt(struct tsock *s, const struct sockopt *o, int *val) {
    socklen_t l = sizeof *val;
    return getsockopt(s->fd, o->level, o->opt, val, &l);
}

void cmd_setopt(struct cmd *c, int set) {
    struct tsock *s = need_sock(c, NULL);
    const char *name;
    double v = 0;
    if (!s || !need_str(c, "opt", &name)) return;
    const struct sockopt *o = find_opt(name);
    if (!o) { unknown_opt(name); return; }
    if (set) {
        if (!need_num(c, "value", &v)) return;
        if (v < -2147483648.0 || v > 2147483647.0 || v != (int)v) {
            fail("value for %s must be a 32-bit integer, not %g", name, v);
            return;
        }
        int iv = (int)v;
        if (setsockopt(s->fd, o->level, o->opt, &iv, sizeof iv) < 0) {
            char what[320];
            snprintf(what, sizeof what, "setsockopt %s=%d", name, iv);
            fail_errno(what, errno);
            return;
        }
    }
    int rb;
    if (read_opt(s, o, &rb) < 0) {
        char what[320];
        snprintf(what, sizeof what, "getsockopt %s", name);
        fail_errno(what, errno);
        return;
    }
    reply_begin("ok");
    o_str("opt", name);
    if (set) o_num("requested", (long long)v);
    o_num("value", rb);
    o_end();
}

void cmd_bind(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    struct sockaddr_storage ss;
    socklen_t len;
    if (!s || !need_sockaddr(c, s->family, &ss, &len)) return;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)&ss, len) < 0) { fail_errno("bind", errno); return; }
    reply_begin("ok");
    o_sockname(s->fd, 0);
    o_end();
}

void cmd_listen(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    struct field *b = get(c, "backlog");
    if (listen(s->fd, b && b->is_num ? (int)b->num : 16) < 0) { fail_errno("listen", errno); return; }
    s->state = S_LISTENING;
    reply_begin("ok");
    o_sockname(s->fd, 0);
    o_end();
}

void cmd_accept(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    if (s->state != S_LISTENING) { fail("socket is not listening"); return; }
    s->accepting = 1;
    reply_begin("ok");
    o_end();
}

void cmd_connect(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    struct sockaddr_storage ss;
    socklen_t len;
    if (!s || !need_sockaddr(c, s->family, &ss, &len)) return;
    double t = mono_now();
    if (connect(s->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        fail_errno("connect", errno);
        return;
    }
    s->state = S_CONNECTING;
    reply_begin("ok");
    o_dbl("started", t);
    o_sockname(s->fd, 0);
    o_end();
}

static void do_fill(int i, long long limit, int report) {
    static char buf[65536];
    struct tsock *s = &socks[i];
    long long n = 0;
    int err = 0;
    while (limit < 0 || n < limit) {
        size_t chunk = sizeof buf;
        if (limit >= 0 && (long long)chunk > limit - n) chunk = (size_t)(limit - n);
        ssize_t w = send(s->fd, buf, chunk, MSG_NOSIGNAL);
        if (w < 0) { err = errno; break; }
        n += w;
    }
    s->sent += n;
    if (err && err != EAGAIN) {
        if (report) fail_errno("send", err);
        if (s->state == S_OPEN) sock_died(i, err, "send");
        return;
    }
    if (report) {
        reply_begin("ok");
        o_num("written", n);
        o_bool("full", err == EAGAIN);
        o_num("total_sent", s->sent);
        o_end();
    }
}

void cmd_send(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    if (!s) return;
    if (s->state != S_OPEN) { fail("socket is not connected"); return; }
    struct field *b = get(c, "bytes");
    /* no "bytes": write until the send buffer is full */
    do_fill(i, b && b->is_num ? (long long)b->num : -1, 1);
}

void cmd_pump(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    s->pumping = opt_bool(c, "on", 1);
    reply_begin("ok");
    o_end();
}

void cmd_read(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    s->reading = opt_bool(c, "on", 1);
    s->echo = opt_bool(c, "echo", 0);
    struct field *r = get(c, "rate");
    s->read_rate = r && r->is_num ? (long)r->num : 0;
    s->read_budget = 0;
    s->read_budget_t = mono_now();
    reply_begin("ok");
    o_end();
}

void cmd_info(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    if (!s) return;
    reply_begin("info");
    o_num("sock", i);
    o_num("total_sent", s->sent);
    o_num("total_received", s->received);
    o_tcpinfo(s->fd);
    o_end();
}

void cmd_close(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    if (!s) return;
    if (opt_bool(c, "abort", 0)) { /* RST instead of FIN, like a crashing process with SO_LINGER 0 */
        struct linger l = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(s->fd);
    s->state = S_FREE;
    reply_begin("ok");
    o_end();
}

void sockets_on_event(int i, short re) {
    struct tsock *s = &socks[i];
    if (s->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { sock_died(i, err, "connect"); return; }
        s->state = S_OPEN;
        o_begin("connected", mono_now());
        o_num("sock", i);
        o_sockname(s->fd, 0);
        o_sockname(s->fd, 1);
        o_end();
        return;
    }
    if (s->state == S_LISTENING && (re & POLLIN) && s->accepting) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        s->accepting = 0;
        int j = new_sock(fd, s->family, S_OPEN);
        if (j < 0) { close(fd); return; }
        o_begin("accepted", mono_now());
        o_num("sock", i);
        o_num("conn", j);
        o_sockname(fd, 1);
        o_end();
        return;
    }
    if (s->state != S_OPEN) return;
    if (re & POLLIN) {
        static char buf[65536];
        size_t want = sizeof buf;
        if (s->read_rate) want = (size_t)s->read_budget < want ? (size_t)s->read_budget : want;
        if (want > 0) {
            ssize_t r = recv(s->fd, buf, want, 0);
            if (r > 0) {
                s->received += r;
                s->read_budget -= (double)r;
                if (s->echo) {
                    ssize_t w = send(s->fd, buf, (size_t)r, MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (w > 0) s->sent += w;
                }
            } else if (r == 0) {
                o_begin("eof", mono_now());
                o_num("sock", i);
                o_end();
                s->reading = 0;
            } else if (errno != EAGAIN) {
                sock_died(i, errno, "recv");
                return;
            }
        }
    }
    if (re & POLLOUT && s->pumping) do_fill(i, -1, 0);
    if (s->state == S_OPEN && (re & (POLLERR | POLLHUP))) check_so_error(i, "poll");
}

int sockets_poll(struct pollfd *pf, int *map, double now, int *timeout) {
    int n = 0;
    for (int i = 1; i < MAX_SOCKS; i++) {
        struct tsock *s = &socks[i];
        if (s->state == S_FREE || s->state == S_DEAD || s->state == S_NEW) continue;
        short ev = 0; /* POLLERR/POLLHUP are always reported: that is how a silent death shows */
        if (s->state == S_CONNECTING) ev = POLLOUT;
        if (s->state == S_LISTENING && s->accepting) ev = POLLIN;
        if (s->state == S_OPEN) {
            if (s->reading) {
                if (s->read_rate) {
                    s->read_budget += (now - s->read_budget_t) * (double)s->read_rate;
                    if (s->read_budget > s->read_rate / 10.0 + 1) s->read_budget = s->read_rate / 10.0 + 1;
                    s->read_budget_t = now;
                    if (s->read_budget >= 1) ev |= POLLIN;
                    else *timeout = 10;
                } else ev |= POLLIN;
            }
            if (s->pumping) ev |= POLLOUT;
        }
        pf[n].fd = s->fd; pf[n].events = ev; map[n++] = i;
    }
    return n;
}
