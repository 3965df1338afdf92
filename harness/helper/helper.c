/*
 * deadpeer-helper: one process per endpoint, living in one network namespace.
 *
 * Why a native helper and not Node's net module: Node cannot set TCP_USER_TIMEOUT, TCP_SYNCNT,
 * TCP_DEFER_ACCEPT or SO_RCVBUF before connect, cannot read TCP_INFO, and stamps events after an
 * event-loop hop. This helper does the socket work with plain libc, reports every event stamped
 * with CLOCK_MONOTONIC at the moment the kernel told us, and also records packets (AF_PACKET, with
 * kernel timestamps) and the sockets' timer states (sock_diag) on that same clock.
 *
 * Protocol: one flat JSON object per line on stdin ({"cmd":"socket","id":1,"family":4}); one JSON
 * object per line on stdout ({"ev":"ok","re":1,"t":123.456789012,...}). "t" is CLOCK_MONOTONIC in
 * seconds. A malformed or unknown command yields {"ev":"error",...} and the helper carries on.
 * Every reply to a command carries "re" (its id) — a line the helper cannot parse too, when an id
 * can be found in it — so no request waits for an answer that never comes.
 * A command with "at" (CLOCK_MONOTONIC seconds) is performed at that moment, not when read: the
 * helper arms a timerfd for it and carries on; its reply comes when it took effect and carries
 * "due" (the at asked for) and "began" (when the timer woke it), so the controller knows how late
 * it was and whether the lateness was the wake-up or the action itself (an rtnetlink message waits
 * for the machine-wide RTNL lock while another namespace is torn down). This is how anything whose
 * lateness changes the kernel's answer (a blip's heal, a fault armed at a planned moment) is timed:
 * by this process, under SCHED_FIFO where it has it, never by the controller's event loop.
 * {"cmd":"unschedule"} cancels every command still waiting (each gets an error reply).
 * It exits when stdin closes. Its first line is {"ev":"hello","pid":N,"netns":NAME,"rt":BOOL}: rt
 * says whether it runs SCHED_FIFO (when not, "rt_off" says why: an errno name, or the variable).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44 /* 6.15+ */
#endif
#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45 /* 6.15+ */
#endif

#define MAX_SOCKS 256
#define LINE_MAX_LEN 4096

/* ---------- clock and output ---------- */

double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char out[16384];
static size_t outlen;
static int out_truncated; /* the event did not fit: o_end() replaces it by an error naming the request */
static long long out_re = -1;

static void o_raw(const char *fmt, ...) {
    if (out_truncated) return;
    va_list ap;
    va_start(ap, fmt);
    /* keep 3 bytes for the closing "}\n" */
    size_t room = sizeof out - 3 - outlen;
    int n = vsnprintf(out + outlen, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) { out_truncated = 1; return; }
    outlen += (size_t)n;
}

/* Start an event; every event carries its kind and the monotonic time it happened. */
void o_begin(const char *ev, double t) {
    outlen = 0;
    out_truncated = 0;
    out_re = -1;
    o_raw("{\"ev\":\"%s\",\"t\":%.9f", ev, t);
}

void o_str(const char *k, const char *v) {
    o_raw(",\"%s\":\"", k);
    for (const char *p = v; *p && !out_truncated; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') o_raw("\\%c", c);
        else if (c < 0x20) o_raw("\\u%04x", c);
        else o_raw("%c", c);
    }
    o_raw("\"");
}
void o_num(const char *k, long long v) {
    if (!strcmp(k, "re")) out_re = v;
    o_raw(",\"%s\":%lld", k, v);
}
void o_dbl(const char *k, double v) { o_raw(",\"%s\":%.9f", k, v); }
static void o_bool(const char *k, int v) { o_raw(",\"%s\":%s", k, v ? "true" : "false"); }

void o_end(void) {
    if (out_truncated) {
        /* a reply longer than the buffer: say so, to the request it answers, in a line that parses */
        double t = mono_now();
        long long re = out_re;
        o_begin("error", t);
        if (re >= 0) o_raw(",\"re\":%lld", re);
        o_raw(",\"error\":\"reply longer than %zu bytes\"", sizeof out);
    }
    memcpy(out + outlen, "}\n", 2);
    outlen += 2;
    fwrite(out, 1, outlen, stdout);
    fflush(stdout);
}

const char *errname(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "EUNKNOWN";
}

/* ---------- a tiny flat-JSON reader (the protocol never nests) ---------- */

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

static const char *parse_string(const char *p, char *dst, size_t cap) {
    if (*p != '"') return NULL;
    p++;
    size_t n = 0;
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            c = *p++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c != '"' && c != '\\' && c != '/') return NULL;
        }
        if (n + 1 >= cap) return NULL;
        dst[n++] = c;
    }
    if (*p != '"') return NULL;
    dst[n] = 0;
    return p + 1;
}

/* Returns NULL on success, else a description of what is wrong with the line. */
static const char *parse_cmd(const char *line, struct cmd *c) {
    memset(c, 0, sizeof *c);
    const char *p = skip_ws(line);
    if (*p != '{') return "not a JSON object";
    p = skip_ws(p + 1);
    if (*p == '}') return NULL;
    for (;;) {
        if (c->n >= MAX_FIELDS) return "too many fields";
        struct field *f = &c->f[c->n];
        p = parse_string(skip_ws(p), f->key, sizeof f->key);
        if (!p) return "bad key (keys are short strings)";
        p = skip_ws(p);
        if (*p != ':') return "expected ':'";
        p = skip_ws(p + 1);
        if (*p == '"') {
            p = parse_string(p, f->str, sizeof f->str);
            if (!p) return "bad string value";
            f->is_str = 1;
        } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
            f->is_bool = 1;
            f->num = *p == 't';
            p += *p == 't' ? 4 : 5;
        } else if (*p == '{' || *p == '[') {
            return "nested values are not part of the protocol";
        } else {
            char *end;
            /* JSON numbers only: strtod would also take nan, inf and hex, and a NaN interval or
             * port slips past every range check (NaN compares false) */
            if (*p != '-' && (*p < '0' || *p > '9')) return "bad value (a number, a string, true or false)";
            f->num = strtod(p, &end);
            if (end == p || !isfinite(f->num)) return "bad value (numbers must be finite)";
            f->is_num = 1;
            p = end;
        }
        if (!strcmp(f->key, "id") && f->is_num) { c->id = (long long)f->num; c->has_id = 1; }
        c->n++;
        p = skip_ws(p);
        if (*p == ',') { p = skip_ws(p + 1); continue; }
        if (*p == '}') break;
        return "expected ',' or '}'";
    }
    if (*skip_ws(p + 1)) return "trailing characters after the object";
    return NULL;
}

struct field *get(struct cmd *c, const char *k) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->f[i].key, k)) return &c->f[i];
    return NULL;
}

/* ---------- replies ---------- */

static struct cmd *cur; /* the command being handled, for "re" */
static const char *cur_name = "";
static double cur_due; /* a scheduled command's "at": replies say when it was due */
static double cur_began; /* and when this process began it: the wake-up's part of any lateness */

void reply_begin(const char *ev) {
    o_begin(ev, mono_now());
    if (cur && cur->has_id) o_num("re", cur->id);
    if (*cur_name) o_str("cmd", cur_name);
    if (cur_due > 0) o_dbl("due", cur_due);
    if (cur_due > 0 && cur_began > 0) o_dbl("began", cur_began);
}

void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_begin("error");
    o_str("error", msg);
    o_end();
}

void fail_errno(const char *what, int e) {
    reply_begin("error");
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, errname(e), strerror(e));
    o_str("error", msg);
    o_str("errno", errname(e));
    o_end();
}

int need_num(struct cmd *c, const char *k, double *v) {
    struct field *f = get(c, k);
    if (!f || !f->is_num) { fail("missing or non-numeric field \"%s\"", k); return 0; }
    *v = f->num;
    return 1;
}
int need_str(struct cmd *c, const char *k, const char **v) {
    struct field *f = get(c, k);
    if (!f || !f->is_str) { fail("missing or non-string field \"%s\"", k); return 0; }
    *v = f->str;
    return 1;
}
int need_tuple(struct cmd *c, struct conn_tuple *t) {
    double fam, sport, dport;
    const char *src, *dst;
    if (!need_num(c, "family", &fam) || !need_str(c, "src", &src) || !need_num(c, "sport", &sport) ||
        !need_str(c, "dst", &dst) || !need_num(c, "dport", &dport))
        return 0;
    if (fam != 4 && fam != 6) { fail("family must be 4 or 6, not %g", fam); return 0; }
    if (sport < 1 || sport > 65535 || dport < 1 || dport > 65535) { fail("ports must be 1..65535"); return 0; }
    int af = fam == 4 ? AF_INET : AF_INET6;
    if (inet_pton(af, src, t->src) != 1 || inet_pton(af, dst, t->dst) != 1) { fail("src/dst must be IPv%g addresses", fam); return 0; }
    t->family = (int)fam;
    t->sport = (int)sport;
    t->dport = (int)dport;
    return 1;
}
static int opt_bool(struct cmd *c, const char *k, int dflt) {
    struct field *f = get(c, k);
    return f && (f->is_bool || f->is_num) ? f->num != 0 : dflt;
}

/* ---------- sockets under test ---------- */

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

static const char *tcp_state_name(int s) {
    static const char *n[] = {"?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
                              "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING",
                              "NEW-SYN-RECV", "BOUND-INACTIVE"};
    return s >= 0 && s < (int)(sizeof n / sizeof n[0]) ? n[s] : "?";
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

/* ---------- commands ---------- */

static void cmd_socket(struct cmd *c) {
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

static void cmd_setopt(struct cmd *c, int set) {
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

static void cmd_bind(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    const char *addr;
    double port;
    struct sockaddr_storage ss;
    socklen_t len;
    if (!s || !need_str(c, "addr", &addr) || !need_num(c, "port", &port)) return;
    if (port < 0 || port > 65535 || port != (double)(int)port) { fail("port must be a whole number 0..65535, not %g", port); return; }
    if (!parse_addr(s->family, addr, (int)port, &ss, &len)) {
        fail("\"%s\" is not an IPv%d address", addr, s->family);
        return;
    }
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)&ss, len) < 0) { fail_errno("bind", errno); return; }
    reply_begin("ok");
    o_sockname(s->fd, 0);
    o_end();
}

static void cmd_listen(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    struct field *b = get(c, "backlog");
    if (listen(s->fd, b && b->is_num ? (int)b->num : 16) < 0) { fail_errno("listen", errno); return; }
    s->state = S_LISTENING;
    reply_begin("ok");
    o_sockname(s->fd, 0);
    o_end();
}

static void cmd_accept(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    if (s->state != S_LISTENING) { fail("socket is not listening"); return; }
    s->accepting = 1;
    reply_begin("ok");
    o_end();
}

static void cmd_connect(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    const char *addr;
    double port;
    struct sockaddr_storage ss;
    socklen_t len;
    if (!s || !need_str(c, "addr", &addr) || !need_num(c, "port", &port)) return;
    if (port < 0 || port > 65535 || port != (double)(int)port) { fail("port must be a whole number 0..65535, not %g", port); return; }
    if (!parse_addr(s->family, addr, (int)port, &ss, &len)) {
        fail("\"%s\" is not an IPv%d address", addr, s->family);
        return;
    }
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

static void cmd_send(struct cmd *c) {
    int i;
    struct tsock *s = need_sock(c, &i);
    if (!s) return;
    if (s->state != S_OPEN) { fail("socket is not connected"); return; }
    struct field *b = get(c, "bytes");
    /* no "bytes": write until the send buffer is full */
    do_fill(i, b && b->is_num ? (long long)b->num : -1, 1);
}

static void cmd_pump(struct cmd *c) {
    struct tsock *s = need_sock(c, NULL);
    if (!s) return;
    s->pumping = opt_bool(c, "on", 1);
    reply_begin("ok");
    o_end();
}

static void cmd_read(struct cmd *c) {
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

static void cmd_info(struct cmd *c) {
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

static void cmd_close(struct cmd *c) {
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

/* Per-namespace sysctls: /proc/sys/net is resolved against the namespace of the process that
 * opens it, so writing it from here only ever touches this helper's namespace. */
static void cmd_sysctl(struct cmd *c) {
    const char *name;
    if (!need_str(c, "name", &name)) return;
    if (strncmp(name, "net.", 4) || strstr(name, "..") || strchr(name, '/')) {
        fail("only net.* sysctls are per-namespace; refusing \"%s\"", name);
        return;
    }
    char path[300];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    for (char *p = path + 10; *p; p++)
        if (*p == '.') *p = '/';
    struct field *v = get(c, "value");
    if (v) {
        char val[256];
        if (v->is_str) snprintf(val, sizeof val, "%s", v->str);
        else snprintf(val, sizeof val, "%lld", (long long)v->num);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, val, strlen(val)) < 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            char what[600];
            snprintf(what, sizeof what, "write %s=%s", name, val);
            fail_errno(what, e);
            return;
        }
        close(fd);
    }
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    int e = errno;
    if (fd >= 0) close(fd);
    reply_begin("ok");
    o_str("name", name);
    if (n < 0) {
        o_str("errno", errname(e));
    } else {
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
        o_str("value", buf);
    }
    o_end();
}

/* ---------- packet capture: AF_PACKET with kernel timestamps, mapped onto CLOCK_MONOTONIC ---------- */

static int cap_fd = -1;
static FILE *pcap;
static int cap_port; /* only this TCP port (either side); 0 = all TCP */
#define PCAP_SNAPLEN 256 /* headers are all we need; keeps pcaps small when buffers are filled */
/* "headers_only": each frame is cut where its TCP payload begins, so the pcap holds no byte the
 * program sent (a password, a token) — only the headers the timeline is read from */
static int cap_headers_only;

static void pcap_open(const char *path) {
    pcap = fopen(path, "wb");
    if (!pcap) return;
    /* nanosecond-resolution pcap, LINKTYPE_ETHERNET */
    uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, PCAP_SNAPLEN, 1};
    fwrite(hdr, sizeof hdr, 1, pcap);
    fflush(pcap);
}

static void cmd_capture(struct cmd *c) {
    const char *ifname, *path = NULL;
    if (!need_str(c, "ifname", &ifname)) return;
    struct field *p = get(c, "pcap");
    if (p && p->is_str) path = p->str;
    struct field *pt = get(c, "port");
    if (pt && (!pt->is_num || pt->num < 0 || pt->num > 65535)) { fail("port must be 0..65535"); return; }
    unsigned idx = if_nametoindex(ifname);
    if (!idx) { fail_errno(ifname, errno); return; }
    if (cap_fd >= 0) { fail("already capturing"); return; }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) { fail_errno("AF_PACKET socket", errno); return; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)idx};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { fail_errno("bind AF_PACKET", errno); close(fd); return; }
    if (path) {
        /* the file first: a capture that cannot record leaves nothing armed behind it */
        pcap_open(path);
        if (!pcap) { int e = errno; close(fd); fail_errno(path, e); return; }
    }
    cap_fd = fd;
    cap_port = pt ? (int)pt->num : 0;
    cap_headers_only = opt_bool(c, "headers_only", 0);
    reply_begin("ok");
    o_num("ifindex", idx);
    o_end();
}

/* Stop recording: the pcap then holds exactly the packets reported as events so far (packets
 * already queued on the capture socket were drained before this command was read). */
static void cmd_capture_stop(struct cmd *c) {
    (void)c;
    if (cap_fd >= 0) close(cap_fd);
    cap_fd = -1;
    if (pcap) fclose(pcap);
    pcap = NULL;
    reply_begin("ok");
    o_end();
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void on_packet(void) {
    static uint8_t buf[65600];
    for (;;) {
        char ctrl[256];
        struct sockaddr_ll from;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = ctrl, .msg_controllen = sizeof ctrl};
        ssize_t n = recvmsg(cap_fd, &mh, MSG_TRUNC);
        if (n < 0) return;
        struct timespec ts = {0, 0};
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS)
                memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        /* The kernel stamps packets with CLOCK_REALTIME; map onto CLOCK_MONOTONIC with the offset
         * read right now, so a clock step or an NTP slew between packets can't skew. The realtime
         * read is bracketed by two monotonic reads; an interrupt between them (tens of µs under
         * load) would skew the offset, so the narrowest of a few brackets is kept. */
        double offset = 0, best = 1;
        for (int k = 0; k < 4 && best > 2e-6; k++) {
            struct timespec m1, rn, m2;
            clock_gettime(CLOCK_MONOTONIC, &m1);
            clock_gettime(CLOCK_REALTIME, &rn);
            clock_gettime(CLOCK_MONOTONIC, &m2);
            double a = m1.tv_sec + m1.tv_nsec / 1e9, b = m2.tv_sec + m2.tv_nsec / 1e9;
            if (b - a < best) {
                best = b - a;
                offset = (rn.tv_sec + rn.tv_nsec / 1e9) - (a + b) / 2;
            }
        }
        double real = ts.tv_sec + ts.tv_nsec / 1e9;
        double t = ts.tv_sec ? real - offset : mono_now();

        size_t caplen = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
        if (caplen < 14) continue;
        uint16_t ethertype = rd16(buf + 12);
        const uint8_t *ip = buf + 14;
        size_t iplen = caplen - 14;
        int fam, proto;
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        size_t iphl, payload_total;
        if (ethertype == ETH_P_IP && iplen >= 20) {
            fam = 4;
            iphl = (ip[0] & 15) * 4;
            proto = ip[9];
            payload_total = rd16(ip + 2) - iphl;
            inet_ntop(AF_INET, ip + 12, src, sizeof src);
            inet_ntop(AF_INET, ip + 16, dst, sizeof dst);
        } else if (ethertype == ETH_P_IPV6 && iplen >= 40) {
            fam = 6;
            iphl = 40;
            proto = ip[6];
            payload_total = rd16(ip + 4);
            inet_ntop(AF_INET6, ip + 8, src, sizeof src);
            inet_ntop(AF_INET6, ip + 24, dst, sizeof dst);
        } else {
            continue;
        }
        if (proto != IPPROTO_TCP || iplen < iphl + 20) continue;
        const uint8_t *tcp = ip + iphl;
        int sport = rd16(tcp), dport = rd16(tcp + 2);
        if (cap_port && sport != cap_port && dport != cap_port) continue;
        size_t thl = (tcp[12] >> 4) * 4;
        uint8_t fl = tcp[13];
        char flags[8];
        int k = 0;
        /* tcpdump's notation: S SYN, F FIN, R RST, P PSH, . ACK */
        if (fl & 0x02) flags[k++] = 'S';
        if (fl & 0x01) flags[k++] = 'F';
        if (fl & 0x04) flags[k++] = 'R';
        if (fl & 0x08) flags[k++] = 'P';
        if (fl & 0x10) flags[k++] = '.';
        flags[k] = 0;
        int wscale = -1, mss = -1;
        for (size_t o = 20; o < thl && iphl + o < iplen;) {
            uint8_t kind = tcp[o];
            if (kind == 0) break;
            if (kind == 1) { o++; continue; }
            if (iphl + o + 1 >= iplen) break;
            uint8_t olen = tcp[o + 1];
            if (olen < 2) break;
            if (kind == 2 && olen == 4) mss = rd16(tcp + o + 2);
            if (kind == 3 && olen == 3) wscale = tcp[o + 2];
            o += olen;
        }
        o_begin("packet", t);
        o_str("dir", from.sll_pkttype == PACKET_OUTGOING ? "out" : "in");
        o_num("family", fam);
        o_str("src", src);
        o_num("sport", sport);
        o_str("dst", dst);
        o_num("dport", dport);
        o_str("flags", flags);
        o_num("seq", rd32(tcp + 4));
        o_num("ack", rd32(tcp + 8));
        o_num("win", rd16(tcp + 14));
        o_num("len", (long long)payload_total - (long long)thl);
        if (wscale >= 0) o_num("wscale", wscale);
        if (mss >= 0) o_num("mss", mss);
        o_end();
        if (pcap) {
            size_t keep = caplen < PCAP_SNAPLEN ? caplen : PCAP_SNAPLEN;
            if (cap_headers_only && 14 + iphl + thl < keep) keep = 14 + iphl + thl;
            uint32_t rec[4] = {(uint32_t)ts.tv_sec, (uint32_t)ts.tv_nsec, (uint32_t)keep, (uint32_t)n};
            if (!ts.tv_sec) {
                struct timespec rn;
                clock_gettime(CLOCK_REALTIME, &rn);
                rec[0] = (uint32_t)rn.tv_sec;
                rec[1] = (uint32_t)rn.tv_nsec;
            }
            fwrite(rec, sizeof rec, 1, pcap);
            fwrite(buf, rec[2], 1, pcap);
            fflush(pcap);
        }
    }
}

/* ---------- timer states: sock_diag, what `ss -tno` shows ---------- */

/* Watched connections are looked up one by one (exact inet_diag lookups, O(1)): a dump would walk
 * the kernel's whole established hash table, which is shared by all namespaces and large on big
 * machines, hundreds of times a second. Request sockets (SYN-RECV) live in that hash too, so the
 * exact lookup finds them as well. */
static int diag_fd = -1;
static double diag_interval = 0.005, diag_next;
struct watch {
    int used, seen, family, state, timer, retrans;
    long rto_us;    /* icsk_rto (tcp_info) at the last lookup, -1 unknown: a model input as of that moment */
    double alive_t; /* when a lookup last found it in the kernel's tables */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
};
#define MAX_WATCH 8
static struct watch watches[MAX_WATCH];

static const char *timer_name(int t) {
    static const char *n[] = {"off", "on", "keepalive", "timewait", "persist", "unknown"};
    return t >= 0 && t < 5 ? n[t] : n[5];
}

/* t is the lookup's own time: the kernel answers an inet_diag request inside send(), so the
 * sample is the state at that moment, however late this process gets to print it. */
static void diag_emit(struct watch *w, double t, int expires, const char *ev, double prev_t) {
    o_begin(ev, t);
    o_num("family", w->family);
    o_num("sport", w->sport);
    o_num("dport", w->dport);
    o_str("state", ev[0] == 'g' ? "GONE" : tcp_state_name(w->state));
    o_str("timer", timer_name(w->timer));
    o_num("expires_ms", expires);
    o_num("retrans", w->retrans);
    if (w->rto_us >= 0 && ev[0] != 'g') o_num("rto_us", w->rto_us);
    /* a 'gone' happened after the last lookup that still found it: (alive_t, t] */
    if (ev[0] == 'g') o_dbl("alive_t", w->alive_t);
    /* a change happened after the previous lookup, which did not show it: (prev_t, t]. What a
     * count that never reaches the wire (a probe the sender's own egress dropped) is timed by. */
    else if (prev_t > 0) o_dbl("prev_t", prev_t);
    o_end();
}

static void diag_lookup(struct watch *w) {
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req = {
        .nlh = {.nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST},
        .r = {.sdiag_family = (uint8_t)(w->family == 4 ? AF_INET : AF_INET6), .sdiag_protocol = IPPROTO_TCP,
              /* tcp_info too: the RTO as of each sample */
              .idiag_ext = 1 << (INET_DIAG_INFO - 1), .idiag_states = ~0u},
    };
    req.r.id.idiag_sport = htons(w->sport);
    req.r.id.idiag_dport = htons(w->dport);
    memcpy(req.r.id.idiag_src, w->src, 16);
    memcpy(req.r.id.idiag_dst, w->dst, 16);
    req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    double t = mono_now();
    if (send(diag_fd, &req, sizeof req, 0) < 0) return;
    static char buf[8192];
    ssize_t n = recv(diag_fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (size_t)n)) return;
    /* ENOENT: not (or no longer) in the kernel's tables. A lookup that lands on the listener (no
     * connection with this tuple exists), or on a merely bound socket, means the same. */
    int st = h->nlmsg_type == NLMSG_ERROR ? -1 : ((struct inet_diag_msg *)NLMSG_DATA(h))->idiag_state;
    if (st < 0 || st == 10 /* LISTEN */ || st == 7 /* CLOSE: a bound socket, never a live connection */) {
        if (w->seen) {
            diag_emit(w, t, 0, "gone", 0);
            w->seen = 0;
            w->state = -1;
        }
        return;
    }
    struct inet_diag_msg *m = NLMSG_DATA(h);
    double prev_t = w->seen ? w->alive_t : 0;
    w->alive_t = t;
    long rto_us = -1;
    int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
    for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
        if (a->rta_type == INET_DIAG_INFO && RTA_PAYLOAD(a) >= offsetof(struct tcp_info, tcpi_ato))
            rto_us = (long)((struct tcp_info *)RTA_DATA(a))->tcpi_rto;
    if (!w->seen || w->state != m->idiag_state || w->timer != m->idiag_timer || w->retrans != m->idiag_retrans ||
        w->rto_us != rto_us) {
        w->seen = 1;
        w->state = m->idiag_state;
        w->timer = m->idiag_timer;
        w->retrans = m->idiag_retrans;
        w->rto_us = rto_us;
        diag_emit(w, t, (int)m->idiag_expires, "timer", prev_t);
    }
}

static void diag_poll(void) {
    for (int i = 0; i < MAX_WATCH; i++)
        if (watches[i].used) diag_lookup(&watches[i]);
}

static void cmd_diag(struct cmd *c) {
    struct field *iv = get(c, "interval_ms");
    if (iv && iv->is_num) {
        if (iv->num < 1 || iv->num > 1000) { fail("interval_ms must be 1..1000, not %g", iv->num); return; }
        diag_interval = iv->num / 1000;
    }
    if (diag_fd < 0) {
        diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (diag_fd < 0) { fail_errno("sock_diag socket", errno); return; }
    }
    diag_next = mono_now();
    reply_begin("ok");
    o_end();
}

/* Watch one connection by its 4-tuple as seen from this namespace (local = src). */
static void cmd_watch(struct cmd *c) {
    struct conn_tuple t;
    if (!need_tuple(c, &t)) return;
    if (diag_fd < 0) { fail("start sock_diag first with {\"cmd\":\"diag\"}"); return; }
    struct watch *w = NULL;
    for (int i = 0; i < MAX_WATCH && !w; i++)
        if (!watches[i].used) w = &watches[i];
    if (!w) { fail("too many watched connections (max %d)", MAX_WATCH); return; }
    memset(w, 0, sizeof *w);
    memcpy(w->src, t.src, sizeof w->src);
    memcpy(w->dst, t.dst, sizeof w->dst);
    w->used = 1;
    w->family = t.family;
    w->sport = (uint16_t)t.sport;
    w->dport = (uint16_t)t.dport;
    w->state = -1;
    w->rto_us = -1;
    diag_lookup(w);
    reply_begin("ok");
    o_end();
}

/* ---------- event loop ---------- */

static void on_sock_event(int i, short re) {
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

/* The id of a line that does not parse, when one can be found in it: its error must still name the
 * request, or the controller waits for an answer that never comes. */
static long long salvage_id(const char *line) {
    const char *p = strstr(line, "\"id\"");
    if (!p) return -1;
    p = skip_ws(p + 4);
    if (*p != ':') return -1;
    p = skip_ws(p + 1);
    if (*p < '0' || *p > '9') return -1;
    char *end;
    long long id = strtoll(p, &end, 10);
    return end > p ? id : -1;
}

static void malformed(const char *line, const char *detail) {
    cur = NULL;
    cur_name = "";
    long long id = salvage_id(line);
    o_begin("error", mono_now());
    if (id >= 0) o_num("re", id);
    o_str("error", "malformed command");
    o_str("detail", detail);
    char head[200];
    /* enough to recognise it; a long line is not echoed whole */
    size_t n = strnlen(line, sizeof head - 1);
    memcpy(head, line, n);
    head[n] = 0;
    o_str("line", head);
    o_end();
}

/* ---------- commands performed at a planned moment ("at") ---------- */

#define MAX_SCHEDULED 32
static struct scheduled { char *line; double at; long long id; int used; } sched[MAX_SCHEDULED];
static int sched_fd = -1;

static void sched_rearm(void) {
    double next = 0;
    for (int i = 0; i < MAX_SCHEDULED; i++)
        if (sched[i].used && (!next || sched[i].at < next)) next = sched[i].at;
    struct itimerspec its = {0};
    if (next) {
        its.it_value.tv_sec = (time_t)next;
        its.it_value.tv_nsec = (long)((next - (double)(time_t)next) * 1e9);
        if (!its.it_value.tv_sec && !its.it_value.tv_nsec) its.it_value.tv_nsec = 1;
    }
    timerfd_settime(sched_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void run_command(struct cmd *c, double due);

/* Hold a parsed command until `at`: a copy of its line, re-read when the timer fires. */
static void schedule(const char *line, struct cmd *c, double at) {
    if (sched_fd < 0) sched_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (sched_fd < 0) { fail_errno("timerfd_create", errno); return; }
    for (int i = 0; i < MAX_SCHEDULED; i++) {
        if (sched[i].used) continue;
        sched[i].line = strdup(line);
        if (!sched[i].line) { fail_errno("strdup", errno); return; }
        sched[i].at = at;
        sched[i].id = c->has_id ? c->id : -1;
        sched[i].used = 1;
        sched_rearm();
        return;
    }
    fail("too many scheduled commands (at most %d wait at once)", MAX_SCHEDULED);
}

/* The timer fired: perform every command that is due, earliest first, in the order they came. */
static void on_sched_timer(void) {
    uint64_t ticks;
    if (read(sched_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) return;
    for (;;) {
        double now = mono_now();
        int best = -1;
        for (int i = 0; i < MAX_SCHEDULED; i++)
            if (sched[i].used && sched[i].at <= now && (best < 0 || sched[i].at < sched[best].at)) best = i;
        if (best < 0) break;
        struct scheduled job = sched[best];
        sched[best].used = 0;
        struct cmd c;
        cur_began = mono_now();
        if (!parse_cmd(job.line, &c)) run_command(&c, job.at);
        cur_began = 0;
        free(job.line);
    }
    sched_rearm();
}

static void cmd_unschedule(struct cmd *c) {
    int n = 0;
    for (int i = 0; i < MAX_SCHEDULED; i++) {
        if (!sched[i].used) continue;
        sched[i].used = 0;
        o_begin("error", mono_now());
        if (sched[i].id >= 0) o_num("re", sched[i].id);
        o_str("error", "cancelled before it was due");
        o_dbl("due", sched[i].at);
        o_end();
        free(sched[i].line);
        n++;
    }
    if (sched_fd >= 0) sched_rearm();
    cur = c;
    reply_begin("ok");
    o_num("cancelled", n);
    o_end();
}

static void dispatch(char *line) {
    struct cmd c;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n') line[l - 1] = 0;
    const char *perr = parse_cmd(line, &c);
    if (perr) { malformed(line, perr); return; }
    struct field *at = get(&c, "at");
    if (at) {
        cur = &c;
        cur_name = "";
        cur_due = 0;
        if (!at->is_num || at->num <= 0) { fail("\"at\" must be a time on CLOCK_MONOTONIC, in seconds"); return; }
        /* a moment already past is performed now, and its reply says how late: never silently */
        if (at->num > mono_now()) { schedule(line, &c, at->num); return; }
        run_command(&c, at->num);
        return;
    }
    run_command(&c, 0);
}

static void run_command(struct cmd *c, double due) {
    cur = c;
    cur_name = "";
    cur_due = due;
    struct field *f = get(c, "cmd");
    if (!f || !f->is_str) { fail("missing \"cmd\" (a string naming the command)"); cur_due = 0; return; }
    const char *name = f->str;
    cur_name = name;
    static const struct { const char *n; void (*fn)(struct cmd *); } table[] = {
        {"socket", cmd_socket}, {"bind", cmd_bind},       {"listen", cmd_listen}, {"accept", cmd_accept},
        {"connect", cmd_connect}, {"send", cmd_send},     {"pump", cmd_pump},     {"read", cmd_read},
        {"info", cmd_info},     {"close", cmd_close},     {"sysctl", cmd_sysctl}, {"capture", cmd_capture},   {"capture-stop", cmd_capture_stop},
        {"diag", cmd_diag},       {"veth", cmd_veth},       {"wire-end", cmd_wire_end}, {"group", cmd_group},       {"watch", cmd_watch},
        {"discover", cmd_discover}, {"peeksock", cmd_peeksock}, {"unschedule", cmd_unschedule}, {"ct-watch", cmd_ct_watch}, {"nft", cmd_nft},
    };
    int done = 0;
    if (!strcmp(name, "setopt")) { cmd_setopt(c, 1); done = 1; }
    else if (!strcmp(name, "getopt")) { cmd_setopt(c, 0); done = 1; }
    else if (!strcmp(name, "ping")) { reply_begin("ok"); o_end(); done = 1; }
    for (size_t i = 0; !done && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].n, name)) { table[i].fn(c); done = 1; }
    if (!done)
        fail("unknown command \"%s\" (known: socket, setopt, getopt, bind, listen, accept, connect, send, pump, "
             "read, info, close, sysctl, capture, capture-stop, diag, watch, veth, wire-end, group, discover, peeksock, ct-watch, nft, unschedule, ping)", name);
    cur_due = 0;
}

static int enter_netns(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = setns(fd, CLONE_NEWNET);
    close(fd);
    return r;
}

static void on_term(int sig) {
    netns_remove_created();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    const char *netns = NULL;
    int create = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--netns") && i + 1 < argc) netns = argv[++i];
        else if (!strcmp(argv[i], "--create-netns") && i + 1 < argc) { netns = argv[++i]; create = 1; }
        else if (!strcmp(argv[i], "--version")) { puts("deadpeer-helper 1"); return 0; }
        else {
            fprintf(stderr, "deadpeer-helper: unknown argument \"%s\" (usage: deadpeer-helper [--netns NAME | --create-netns dp-NAME])\n", argv[i]);
            return 2;
        }
    }
    /* the name becomes a path under /run/netns: one plain component, nothing that climbs out */
    if (netns && (!*netns || strlen(netns) > 64 || !strcmp(netns, ".") || !strcmp(netns, "..") || strspn(netns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(netns))) {
        fprintf(stderr, "deadpeer-helper: bad namespace name \"%.80s\" (letters, digits, '-', '_', '.'; at most 64)\n", netns);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Real-time priority (lowest RT level): the helper sleeps in poll() nearly all the time, and
     * when the kernel wakes it (a socket died, accept() is ready) it must run at once, or its event
     * times measure the scheduler of a busy machine instead of the kernel's TCP. Best effort. */
    /* Best effort, and said: in a user namespace (rootless) it fails (EPERM: CAP_SYS_NICE counts
     * only in the initial one), and the run reports that its wake-ups were ordinary ones. */
    const char *rt = getenv("DEADPEER_HELPER_RT");
    const char *rt_off = "DEADPEER_HELPER_RT=0";
    if (!rt || strcmp(rt, "0")) {
        struct sched_param sp = {.sched_priority = 1};
        rt_off = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) ? errname(errno) : NULL;
    }
    if (create) {
        if (netns_create_and_enter(netns) < 0) {
            fprintf(stderr, "deadpeer-helper: cannot create network namespace %s: %s\n", netns, strerror(errno));
            return 1;
        }
        /* the namespace this helper made goes when it goes: on EOF below, or on these signals */
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        signal(SIGHUP, on_term);
    } else if (netns && enter_netns(netns) < 0) {
        fprintf(stderr, "deadpeer-helper: cannot enter network namespace %s: %s\n", netns, strerror(errno));
        return 1;
    }
    o_begin("hello", mono_now());
    o_num("pid", getpid());
    o_str("netns", netns ? netns : "");
    o_bool("rt", !rt_off);
    if (rt_off) o_str("rt_off", rt_off);
    o_end();

    static char line[LINE_MAX_LEN];
    size_t linelen = 0;
    int overlong = 0;
    for (;;) {
        struct pollfd pf[MAX_SOCKS + 4];
        int map[MAX_SOCKS + 4];
        int n = 0;
        pf[n].fd = 0; pf[n].events = POLLIN; map[n++] = -1;
        if (cap_fd >= 0) { pf[n].fd = cap_fd; pf[n].events = POLLIN; map[n++] = -2; }
        if (sched_fd >= 0) { pf[n].fd = sched_fd; pf[n].events = POLLIN; map[n++] = -3; }
        double now = mono_now();
        int timeout = -1;
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
                        else timeout = 10;
                    } else ev |= POLLIN;
                }
                if (s->pumping) ev |= POLLOUT;
            }
            pf[n].fd = s->fd; pf[n].events = ev; map[n++] = i;
        }
        if (diag_fd >= 0) {
            int ms = (int)((diag_next - now) * 1000) + 1;
            if (ms < 0) ms = 0;
            if (timeout < 0 || ms < timeout) timeout = ms;
        }
        int r = poll(pf, n, timeout);
        if (r < 0 && errno != EINTR) return 1;
        if (diag_fd >= 0 && mono_now() >= diag_next) {
            diag_poll();
            ct_poll();
            diag_next += diag_interval;
            if (diag_next < mono_now()) diag_next = mono_now() + diag_interval;
        }
        if (r <= 0) continue;
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents) continue;
            if (map[k] == -3) on_sched_timer();
            else if (map[k] == -2) on_packet();
            else if (map[k] > 0) on_sock_event(map[k], pf[k].revents);
        }
        if (pf[0].revents) {
            char tmp[4096];
            ssize_t got = read(0, tmp, sizeof tmp);
            if (got <= 0) break; /* stdin closed: the controller is gone, so are we */
            for (ssize_t i = 0; i < got; i++) {
                if (tmp[i] == '\n') {
                    line[linelen] = 0;
                    if (overlong) malformed(line, "line longer than 4096 bytes");
                    else if (linelen) dispatch(line);
                    linelen = 0;
                    overlong = 0;
                } else if (linelen < sizeof line - 1) line[linelen++] = tmp[i];
                else overlong = 1;
            }
        }
    }
    if (pcap) fclose(pcap);
    netns_remove_created();
    return 0;
}
