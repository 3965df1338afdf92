/*
 * Timer states: sock_diag, what `ss -tno` shows, sampled every few ms for the connections a
 * command asked to watch; an event each time the state, the timer, the retransmission count or
 * the RTO changes, and when the connection leaves the kernel's tables.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "protocol.h"
#include "tcpdiag.h"

/* Watched connections are looked up one by one (exact inet_diag lookups, O(1)): a dump would walk
 * the kernel's whole established hash table, which is shared by all namespaces and large on big
 * machines, hundreds of times a second. Request sockets (SYN-RECV) live in that hash too, so the
 * exact lookup finds them as well. */
static int diag_fd = -1;
static double diag_interval = 0.005, diag_next;
struct watch {
    int used, seen, family, state, timer, retrans;
    long rto_us;    /* icsk_rto (tcp_info) at the last lookup, -1 unknown: a model input as of that moment */
    /* tcpi_bytes_acked at the last lookup, -1 unknown. Not a reason to emit (every ACK changes it);
     * carried by each sample so a reader can tell whether this side had taken in a given ACK yet:
     * the tap times a packet on arrival, the socket takes it in later (its backlog, while a writer
     * holds the lock), and a lookup in between shows the state before it. */
    long long bytes_acked;
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
    if (w->bytes_acked >= 0 && ev[0] != 'g') o_num("bytes_acked", w->bytes_acked);
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
    long long bytes_acked = -1;
    int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
    for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
        if (a->rta_type == INET_DIAG_INFO) {
            const struct tcp_info *ti = RTA_DATA(a);
            if (RTA_PAYLOAD(a) >= offsetof(struct tcp_info, tcpi_ato)) rto_us = (long)ti->tcpi_rto;
            if (RTA_PAYLOAD(a) >= offsetof(struct tcp_info, tcpi_bytes_received)) bytes_acked = (long long)ti->tcpi_bytes_acked;
        }
    if (!w->seen || w->state != m->idiag_state || w->timer != m->idiag_timer || w->retrans != m->idiag_retrans ||
        w->rto_us != rto_us) {
        w->seen = 1;
        w->state = m->idiag_state;
        w->timer = m->idiag_timer;
        w->retrans = m->idiag_retrans;
        w->rto_us = rto_us;
        w->bytes_acked = bytes_acked;
        diag_emit(w, t, (int)m->idiag_expires, "timer", prev_t);
    }
}

void diag_poll(void) {
    for (int i = 0; i < MAX_WATCH; i++)
        if (watches[i].used) diag_lookup(&watches[i]);
}

void cmd_diag(struct cmd *c) {
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
void cmd_watch(struct cmd *c) {
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
    w->bytes_acked = -1;
    diag_lookup(w);
    reply_begin("ok");
    o_end();
}

double diag_due(void) { return diag_fd >= 0 ? diag_next : 0; }

void diag_advance(void) {
    diag_next += diag_interval;
    if (diag_next < mono_now()) diag_next = mono_now() + diag_interval;
}
