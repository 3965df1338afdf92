/*
 * The connection-tracking table of the helper's namespace — a router's on the path — read over
 * ctnetlink, what `conntrack -L` reads, without a process per look.
 *
 * {"cmd":"ct-watch","family":4,"src":…,"sport":…,"dst":…,"dport":…} starts watching the TCP entry
 * of that connection (its original direction, as the client sent it): every sock_diag tick (start
 * the ticks with {"cmd":"diag"}) the entry is looked up — an exact GET by tuple, a hash lookup; a
 * dump walks the whole conntrack hash table, shared by every namespace, and took 3.4 ms of CPU per
 * look, a third of a core per router at 10 ms — and an event is written when the entry appears,
 * changes state, is refreshed (its timeout went up: a packet of the flow crossed), or is gone:
 *   {"ev":"ct","t":…,"family":4,"src":…,"sport":…,"dst":…,"dport":…,"nat":"198.18.1.254",
 *    "state":"ESTABLISHED","timeout_s":349,"prev_t":…}
 *   {"ev":"ct-gone","t":…,…,"alive_t":…}    (it was last seen at alive_t)
 * "nat" is the reply tuple's destination when it differs from the original source (masquerade).
 * A lookup does not find an entry that has expired but not yet been reaped (nf_ct_is_expired in
 * ____nf_conntrack_find), so "gone" is when the entry stopped counting, not when the GC freed it.
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

#include "conntrack.h"
#include "protocol.h"

#define MAX_CT 8

struct ct_entry {
    int used, present, changed, family;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], nat[INET6_ADDRSTRLEN];
    unsigned char bsrc[16], bdst[16];
    int sport, dport, state;
    long timeout;
    double last_tb; /* the start of the last look that showed it: it was there at some moment after */
    double prev_tb; /* the start of the look before this one */
};

static int ct_fd = -1;
static struct ct_entry entries[MAX_CT];

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
        if (e->prev_tb > 0) o_dbl("prev_t", e->prev_tb);
    }
    o_end();
}

/* The entry in a GET's answer: its state, timeout and (masquerade) the reply tuple's destination. */
static void on_answer(struct ct_entry *e, struct nlmsghdr *h, double tb) {
    struct tuple reply = {0};
    int state = -1;
    long timeout = -1;
    int len = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
    ATTRS(a, (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg))), len) {
        int l2 = PAYLOAD(a);
        switch (TYPE(a)) {
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
    /* masquerade: the server answers the router's address, not the client's */
    if (reply.dst[0] && strcmp(reply.dst, e->src)) strcpy(e->nat, reply.dst);
    e->changed = !e->present || state != e->state || timeout > e->timeout;
    e->present = 1;
    e->state = state;
    e->timeout = timeout;
    e->last_tb = tb;
}

struct nlbuf {
    struct nlmsghdr h;
    struct nfgenmsg g;
    char attrs[256];
};

static struct nlattr *put(struct nlbuf *b, int type, const void *data, int len) {
    struct nlattr *a = (struct nlattr *)((char *)&b->h + NLMSG_ALIGN(b->h.nlmsg_len));
    a->nla_type = (uint16_t)type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    if (len) memcpy((char *)a + NLA_HDRLEN, data, (size_t)len);
    b->h.nlmsg_len = NLMSG_ALIGN(b->h.nlmsg_len) + NLA_ALIGN(a->nla_len);
    return a;
}
static void end_nest(struct nlbuf *b, struct nlattr *n) { n->nla_len = (uint16_t)((char *)&b->h + b->h.nlmsg_len - (char *)n); }

/* Look the entry up by its original tuple; tb is the moment before the request. */
static void lookup(struct ct_entry *e, double tb) {
    struct nlbuf b = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg)), .nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
                            .nlmsg_flags = NLM_F_REQUEST},
                      .g = {.nfgen_family = (uint8_t)(e->family == 4 ? AF_INET : AF_INET6), .version = NFNETLINK_V0}};
    int alen = e->family == 4 ? 4 : 16;
    struct nlattr *orig = put(&b, CTA_TUPLE_ORIG | NLA_F_NESTED, NULL, 0);
    struct nlattr *ip = put(&b, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
    put(&b, e->family == 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, e->bsrc, alen);
    put(&b, e->family == 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, e->bdst, alen);
    end_nest(&b, ip);
    struct nlattr *proto = put(&b, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
    uint8_t num = IPPROTO_TCP;
    uint16_t sp = htons((uint16_t)e->sport), dp = htons((uint16_t)e->dport);
    put(&b, CTA_PROTO_NUM, &num, 1);
    put(&b, CTA_PROTO_SRC_PORT, &sp, 2);
    put(&b, CTA_PROTO_DST_PORT, &dp, 2);
    end_nest(&b, proto);
    end_nest(&b, orig);
    if (send(ct_fd, &b, b.h.nlmsg_len, 0) < 0) return;
    static char buf[8192];
    ssize_t n = recv(ct_fd, buf, sizeof buf, 0);
    if (n <= 0) return; /* a failed look says nothing about the entry: keep what was known */
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (size_t)n)) return;
    e->changed = 0;
    if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(h);
        if (err->error != -ENOENT) return;
        if (e->present) e->changed = 1;
        e->present = 0;
        return;
    }
    on_answer(e, h, tb);
}

/* Each watched entry, looked up; events stamped after the look (see ct_emit's intervals). */
void ct_poll(void) {
    if (ct_fd < 0) return;
    for (int i = 0; i < MAX_CT; i++) {
        struct ct_entry *e = &entries[i];
        if (!e->used) continue;
        double tb = mono_now();
        int was = e->present;
        lookup(e, tb);
        double ta = mono_now();
        if (e->changed) emit(e, e->present ? "ct" : "ct-gone", ta);
        /* once gone, a forgotten flow stays gone (loose = 0): the watch ends with it */
        if (was && !e->present) e->used = 0;
        e->prev_tb = tb;
    }
}

void cmd_ct_watch(struct cmd *c) {
    struct conn_tuple t;
    if (!need_tuple(c, &t)) return;
    struct ct_entry *e = NULL;
    for (int i = 0; i < MAX_CT && !e; i++)
        if (!entries[i].used) e = &entries[i];
    if (!e) { fail("too many watched connections (max %d)", MAX_CT); return; }
    memset(e, 0, sizeof *e);
    int af = t.family == 4 ? AF_INET : AF_INET6;
    memcpy(e->bsrc, t.src, sizeof e->bsrc);
    memcpy(e->bdst, t.dst, sizeof e->bdst);
    if (ct_fd < 0) {
        ct_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (ct_fd < 0) { fail_errno("ctnetlink socket", errno); return; }
    }
    e->used = 1;
    e->family = t.family;
    inet_ntop(af, e->bsrc, e->src, sizeof e->src);
    inet_ntop(af, e->bdst, e->dst, sizeof e->dst);
    e->sport = t.sport;
    e->dport = t.dport;
    e->state = -1;
    e->timeout = -1;
    reply_begin("ok");
    o_end();
}
