/*
 * The connection-tracking table of the helper's namespace — a router's on the path — read over
 * ctnetlink, what `conntrack -L` reads, without a process per look.
 *
 * {"cmd":"ct-watch","port":4242} starts watching the TCP entries whose original destination port
 * is `port`: every sock_diag tick (start the ticks with {"cmd":"diag"}) the table is dumped and an
 * event is written when an entry appears, changes state, is refreshed (its timeout went up: a
 * packet of the flow crossed), or is gone:
 *   {"ev":"ct","t":…,"family":4,"src":…,"sport":…,"dst":…,"dport":…,"nat":"198.18.1.254",
 *    "state":"ESTABLISHED","timeout_s":349,"prev_t":…}
 *   {"ev":"ct-gone","t":…,…,"alive_t":…}    (it was last seen at alive_t)
 * "nat" is the reply tuple's destination when it differs from the original source (masquerade).
 * The kernel's dump skips entries that have expired but not yet been reaped (nf_ct_is_expired in
 * ctnetlink_dump_table), so "gone" is when the entry stopped counting, not when the GC freed it.
 * timeout_s is what ctnetlink reports: whole seconds left, rounded down.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

#define MAX_CT 8

struct ct_entry {
    int used, seen_now, changed, family;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], nat[INET6_ADDRSTRLEN];
    int sport, dport, state;
    long timeout;
    double last_tb; /* the start of the last dump that showed it: it was there at some moment after */
};

static int ct_fd = -1, ct_port;
static struct ct_entry entries[MAX_CT];
static double ct_prev_t;

static const char *ct_state_name(int s) {
    /* enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h) */
    static const char *n[] = {"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                              "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"};
    return s >= 0 && s < (int)(sizeof n / sizeof n[0]) ? n[s] : "?";
}

/* each attribute `a` of the nlattr run at start (len bytes); len is consumed */
#define ATTRS(a, start, len) for (struct nlattr *a = (start); (len) >= (int)sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= (len); \
                                   (len) -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len)))
#define TYPE(a) ((a)->nla_type & NLA_TYPE_MASK)
#define DATA(a) ((void *)((char *)(a) + NLA_HDRLEN))
#define PAYLOAD(a) ((int)(a)->nla_len - NLA_HDRLEN)

struct tuple {
    int family, proto, sport, dport;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
};

static void parse_tuple(struct nlattr *start, int len, struct tuple *t) {
    ATTRS(a, start, len) {
        int l2 = PAYLOAD(a);
        if (TYPE(a) == CTA_TUPLE_IP) {
            ATTRS(b, (struct nlattr *)DATA(a), l2) {
                int ty = TYPE(b);
                if ((ty == CTA_IP_V4_SRC || ty == CTA_IP_V4_DST) && PAYLOAD(b) == 4) {
                    t->family = 4;
                    inet_ntop(AF_INET, DATA(b), ty == CTA_IP_V4_SRC ? t->src : t->dst, INET6_ADDRSTRLEN);
                } else if ((ty == CTA_IP_V6_SRC || ty == CTA_IP_V6_DST) && PAYLOAD(b) == 16) {
                    t->family = 6;
                    inet_ntop(AF_INET6, DATA(b), ty == CTA_IP_V6_SRC ? t->src : t->dst, INET6_ADDRSTRLEN);
                }
            }
        } else if (TYPE(a) == CTA_TUPLE_PROTO) {
            ATTRS(b, (struct nlattr *)DATA(a), l2) {
                if (TYPE(b) == CTA_PROTO_NUM && PAYLOAD(b) >= 1) t->proto = *(uint8_t *)DATA(b);
                else if (TYPE(b) == CTA_PROTO_SRC_PORT && PAYLOAD(b) == 2) t->sport = ntohs(*(uint16_t *)DATA(b));
                else if (TYPE(b) == CTA_PROTO_DST_PORT && PAYLOAD(b) == 2) t->dport = ntohs(*(uint16_t *)DATA(b));
            }
        }
    }
}

static void emit(struct ct_entry *e, const char *ev, double t) {
    o_begin(ev, t);
    o_num("family", e->family);
    o_str("src", e->src);
    o_num("sport", e->sport);
    o_str("dst", e->dst);
    o_num("dport", e->dport);
    if (e->nat[0]) o_str("nat", e->nat);
    if (ev[2] == '-') o_dbl("alive_t", e->last_tb);
    else {
        o_str("state", ct_state_name(e->state));
        o_num("timeout_s", e->timeout);
        if (ct_prev_t > 0) o_dbl("prev_t", ct_prev_t);
    }
    o_end();
}

/* One entry of the dump: kept when it is TCP to the watched port, marked when it changed. */
static void on_entry(struct nlmsghdr *h, double tb) {
    struct tuple orig = {0}, reply = {0};
    int state = -1;
    long timeout = -1;
    int len = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
    ATTRS(a, (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg))), len) {
        int l2 = PAYLOAD(a);
        switch (TYPE(a)) {
        case CTA_TUPLE_ORIG: parse_tuple((struct nlattr *)DATA(a), l2, &orig); break;
        case CTA_TUPLE_REPLY: parse_tuple((struct nlattr *)DATA(a), l2, &reply); break;
        case CTA_TIMEOUT:
            if (l2 == 4) timeout = (long)ntohl(*(uint32_t *)DATA(a));
            break;
        case CTA_PROTOINFO:
            ATTRS(b, (struct nlattr *)DATA(a), l2) {
                if (TYPE(b) != CTA_PROTOINFO_TCP) continue;
                int l3 = PAYLOAD(b);
                ATTRS(x, (struct nlattr *)DATA(b), l3)
                    if (TYPE(x) == CTA_PROTOINFO_TCP_STATE && PAYLOAD(x) >= 1) state = *(uint8_t *)DATA(x);
            }
            break;
        }
    }
    if (orig.proto != IPPROTO_TCP || orig.dport != ct_port) return;
    struct ct_entry *e = NULL, *free_slot = NULL;
    for (int i = 0; i < MAX_CT; i++) {
        struct ct_entry *x = &entries[i];
        if (!x->used) { if (!free_slot) free_slot = x; continue; }
        if (x->family == orig.family && x->sport == orig.sport && !strcmp(x->src, orig.src) && !strcmp(x->dst, orig.dst)) e = x;
    }
    int fresh = !e;
    if (fresh) {
        if (!free_slot) return; /* more flows than a scenario makes: the first MAX_CT are watched */
        e = free_slot;
        memset(e, 0, sizeof *e);
        e->used = 1;
        e->family = orig.family;
        strcpy(e->src, orig.src);
        strcpy(e->dst, orig.dst);
        e->sport = orig.sport;
        e->dport = orig.dport;
        /* masquerade: the server answers the router's address, not the client's */
        if (reply.dst[0] && strcmp(reply.dst, orig.src)) strcpy(e->nat, reply.dst);
    }
    e->seen_now = 1;
    e->changed = fresh || state != e->state || timeout > e->timeout;
    e->state = state;
    e->timeout = timeout;
    e->last_tb = tb;
}

/* Dump the table. The dump happens somewhere between tb (before the request) and ta (after the
 * last part arrived) — this process may be preempted anywhere in between on a loaded machine, so
 * each event is stamped ta (seen by then), a change carries prev_t = the previous dump's tb (not
 * seen before then), a disappearance alive_t = the tb of the last dump that still showed it:
 * intervals that hold whatever the scheduler did, never a single moment that may be tens of ms off. */
void ct_poll(void) {
    if (ct_fd < 0) return;
    struct {
        struct nlmsghdr h;
        struct nfgenmsg g;
    } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
             .g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0}};
    double tb = mono_now();
    if (send(ct_fd, &req, sizeof req, 0) < 0) return;
    for (int i = 0; i < MAX_CT; i++) entries[i].seen_now = 0;
    static char buf[32768];
    int done = 0;
    while (!done) {
        ssize_t n = recv(ct_fd, buf, sizeof buf, 0);
        if (n <= 0) return; /* a failed dump says nothing about the entries: keep them as they were */
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { done = 1; break; }
            on_entry(h, tb);
        }
    }
    double ta = mono_now();
    for (int i = 0; i < MAX_CT; i++) {
        struct ct_entry *e = &entries[i];
        if (!e->used) continue;
        if (!e->seen_now) {
            emit(e, "ct-gone", ta);
            e->used = 0;
        } else if (e->changed) emit(e, "ct", ta);
    }
    ct_prev_t = tb;
}

void cmd_ct_watch(struct cmd *c) {
    double port;
    if (!need_num(c, "port", &port)) return;
    if (port < 1 || port > 65535) { fail("port must be 1..65535, not %g", port); return; }
    if (ct_fd < 0) {
        ct_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (ct_fd < 0) { fail_errno("ctnetlink socket", errno); return; }
    }
    ct_port = (int)port;
    memset(entries, 0, sizeof entries);
    ct_prev_t = 0;
    ct_poll();
    reply_begin("ok");
    o_end();
}
