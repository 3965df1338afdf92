/*
 * Namespaces and links, done by the helper itself over rtnetlink instead of spawning ip(8):
 * a topology then costs two process starts (the helpers) instead of ten, which is what makes a
 * pair of namespaces cheap enough to build per test (~ milliseconds).
 *
 * The namespace is made exactly as `ip netns add` makes it (a bind mount of the namespace on
 * /run/netns/NAME, with /run/netns a shared mount), so `ip netns list/exec/delete` and the reaper
 * see it like any other.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>

extern char **environ;

#include "plumbing.h"
#include "protocol.h"

#define NETNS_RUN_DIR "/run/netns"

static char created_path[300]; /* the namespace this helper made, removed when it exits */

int netns_create_and_enter(const char *name) {
    if (strncmp(name, "dp-", 3) || strchr(name, '/')) {
        errno = EINVAL;
        return -1;
    }
    if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST) return -1;
    /* /run/netns must be a shared mount so the bind mounts below propagate (as iproute2 does) */
    int made = 0;
    while (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL)) {
        if (errno != EINVAL || made) return -1;
        if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL)) return -1;
        made = 1;
    }
    char path[300];
    snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, name);
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) return -1;
    close(fd);
    if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
        int e = errno;
        unlink(path);
        errno = e;
        return -1;
    }
    snprintf(created_path, sizeof created_path, "%s", path);
    return 0;
}

/* `ip netns delete`: detach the bind mount and remove the file; the namespace dies with its last user. */
void netns_remove_created(void) {
    if (!created_path[0]) return;
    umount2(created_path, MNT_DETACH);
    unlink(created_path);
    created_path[0] = 0;
}

/* ---------- a minimal rtnetlink request builder ---------- */

struct nlreq {
    struct nlmsghdr h;
    char buf[1024];
};

static struct rtattr *nl_add(struct nlreq *r, int type, const void *data, int len) {
    struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}
static struct rtattr *nl_nest(struct nlreq *r, int type) { return nl_add(r, type, NULL, 0); }
static void nl_end(struct nlreq *r, struct rtattr *nest) { nest->rta_len = (unsigned short)((char *)&r->h + r->h.nlmsg_len - (char *)nest); }

/* Send requests as one batch on one socket (rtnetlink handles them in order, acking each), so a
 * whole end of the wire costs one system call round trip. Returns 0, or the first failure's -errno
 * with *failed set to its index. */
static int nl_batch(struct nlreq *r, int n, int *failed) {
    char buf[4 * sizeof(struct nlreq)];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        r[i].h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        r[i].h.nlmsg_seq = (unsigned)i;
        if (len + NLMSG_ALIGN(r[i].h.nlmsg_len) > sizeof buf) return -E2BIG;
        memcpy(buf + len, &r[i].h, r[i].h.nlmsg_len);
        len += NLMSG_ALIGN(r[i].h.nlmsg_len);
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    int rc = 0;
    if (send(fd, buf, len, 0) < 0) rc = -errno;
    /* every request is acked, failed or not: read them all, keep the first failure */
    for (int acked = 0; !rc && acked < n;) {
        char in[8192];
        ssize_t got = recv(fd, in, sizeof in, 0);
        if (got <= 0) { rc = got < 0 ? -errno : -EIO; break; }
        int left = (int)got;
        for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            acked++;
            int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (e && !rc) { rc = e; *failed = (int)h->nlmsg_seq; }
        }
    }
    close(fd);
    return rc;
}

static int nl_talk(struct nlreq *r) {
    int failed;
    return nl_batch(r, 1, &failed);
}

static void reply_rc(const char *what, int rc) {
    if (rc) {
        fail_errno(what, -rc);
        return;
    }
    reply_begin("ok");
    o_end();
}

/* {"cmd":"veth","ifname":"dp0","peer":"dp0","peer_netns":"dp-…-s"}: a veth pair whose peer is
 * created directly inside the other namespace, so no link ever appears in the host namespace. */
void cmd_veth(struct cmd *c) {
    const char *ifname, *peer, *peer_ns;
    if (!need_str(c, "ifname", &ifname) || !need_str(c, "peer", &peer) || !need_str(c, "peer_netns", &peer_ns)) return;
    char path[300];
    snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, peer_ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        fail_errno(path, errno);
        return;
    }
    struct nlreq r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_NEWLINK,
                            .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL}};
    nl_add(&r, IFLA_IFNAME, ifname, (int)strlen(ifname) + 1);
    struct rtattr *info = nl_nest(&r, IFLA_LINKINFO);
    nl_add(&r, IFLA_INFO_KIND, "veth", 5);
    struct rtattr *data = nl_nest(&r, IFLA_INFO_DATA);
    struct rtattr *pinfo = nl_nest(&r, VETH_INFO_PEER);
    /* VETH_INFO_PEER carries an ifinfomsg (all zero here: r is zeroed) before the peer's attributes */
    r.h.nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg));
    nl_add(&r, IFLA_IFNAME, peer, (int)strlen(peer) + 1);
    nl_add(&r, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
    nl_end(&r, pinfo);
    nl_end(&r, data);
    nl_end(&r, info);
    int rc = nl_talk(&r);
    close(nsfd);
    reply_rc("create veth", rc);
}

static int ifindex_of(const char *ifname) {
    int idx = (int)if_nametoindex(ifname);
    if (!idx) fail_errno(ifname, errno);
    return idx;
}

static void link_up_msg(struct nlreq *r, int idx) {
    *r = (struct nlreq){.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_NEWLINK}};
    struct ifinfomsg *ifi = NLMSG_DATA(&r->h);
    ifi->ifi_index = idx;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
}

/* IPv6 without duplicate address detection, which would hold the address back ~1-2 s for nothing
 * on a wire we own. */
static void addr_msg(struct nlreq *r, int idx, int family, const unsigned char *bin, int prefix) {
    *r = (struct nlreq){.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)), .nlmsg_type = RTM_NEWADDR,
                              .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL}};
    struct ifaddrmsg *ifa = NLMSG_DATA(&r->h);
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
    ifa->ifa_index = (unsigned)idx;
    int len = family == AF_INET6 ? 16 : 4;
    nl_add(r, IFA_LOCAL, bin, len);
    nl_add(r, IFA_ADDRESS, bin, len);
}

/* The default route through a gateway on the link (a router namespace on the path). */
static void route_msg(struct nlreq *r, int idx, int family, const unsigned char *gw) {
    *r = (struct nlreq){.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_NEWROUTE,
                              .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL}};
    struct rtmsg *rt = NLMSG_DATA(&r->h);
    rt->rtm_family = (unsigned char)family;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    nl_add(r, RTA_GATEWAY, gw, family == AF_INET6 ? 16 : 4);
    uint32_t oif = (uint32_t)idx;
    nl_add(r, RTA_OIF, &oif, sizeof oif);
}

/* One RTM_GETLINK: the link's operstate and qdisc name. Returns 0 or -errno. */
static int link_state(int idx, int *operstate, char *qdisc, size_t qcap) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct nlreq r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST}};
    ((struct ifinfomsg *)NLMSG_DATA(&r.h))->ifi_index = idx;
    int rc = -EIO;
    if (send(fd, &r.h, r.h.nlmsg_len, 0) >= 0) {
        static char buf[16384];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type == RTM_NEWLINK) {
            struct ifinfomsg *ifi = NLMSG_DATA(h);
            int len = (int)IFLA_PAYLOAD(h);
            *operstate = -1;
            qdisc[0] = 0;
            for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == IFLA_OPERSTATE) *operstate = *(unsigned char *)RTA_DATA(a);
                if (a->rta_type == IFLA_QDISC) snprintf(qdisc, qcap, "%s", (char *)RTA_DATA(a));
            }
            rc = 0;
        }
    } else {
        rc = -errno;
    }
    close(fd);
    return rc;
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleep until a link of this namespace changes (the kernel announces each change to RTMGRP_LINK),
 * or at most 10 ms: a cheap re-check in case some kernel changes a link without a word.
 * -ETIMEDOUT past the deadline; -ECANCELED once the controller has closed our stdin (it gave up,
 * e.g. the veth could not be made): then nobody waits for the answer and we must go. */
static int await_link_change(int watch, double deadline) {
    double left = deadline - mono_ms();
    if (left <= 0) return -ETIMEDOUT;
    struct pollfd p[2] = {{.fd = watch, .events = POLLIN}, {.fd = 0, .events = POLLRDHUP}};
    if (poll(p, 2, left < 10 ? (int)left + 1 : 10) < 0 && errno != EINTR) return -errno;
    if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) return -ECANCELED;
    char buf[8192];
    for (;;) { /* what changed does not matter: the caller looks again */
        ssize_t n = recv(watch, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) continue; /* overrun: notifications lost, which a look covers */
        if (n <= 0) break;
    }
    return 0;
}

/* {"cmd":"wire-end","ifname":"dp0","addr4":"198.18.0.1","prefix4":24,"addr6":"2001:2::1",
 * "prefix6":64,"timeout_ms":3000}: this namespace's end of the wire, ready to carry packets, in one
 * command: wait for the link to exist (the server's end appears when the client's helper makes the
 * veth, so both helpers can be asked at once), then lo up, the link up and both addresses in one
 * rtnetlink batch, then wait until the link really carries packets.
 * That last wait: a veth's carrier comes up at once, but the kernel attaches its queueing
 * discipline later, from the linkwatch worker (which batches non-urgent events up to a second
 * apart); until then packets meet the noop qdisc and are dropped — a connection's first SYN would
 * silently go out ~1 s late. Up = operstate UP and a real qdisc (not "noop"). */
void cmd_wire_end(struct cmd *c) {
    const char *ifname, *addr[2];
    double prefix[2];
    if (!need_str(c, "ifname", &ifname) || !need_str(c, "addr4", &addr[0]) || !need_num(c, "prefix4", &prefix[0]) ||
        !need_str(c, "addr6", &addr[1]) || !need_num(c, "prefix6", &prefix[1]))
        return;
    unsigned char bin[2][16];
    for (int i = 0; i < 2; i++)
        if (inet_pton(i ? AF_INET6 : AF_INET, addr[i], bin[i]) != 1) {
            fail("\"%s\" is not an IPv%d address", addr[i], i ? 6 : 4);
            return;
        }
    /* a router on the path: the end's default route goes through it (gw4/gw6, optional) */
    const char *gw[2] = {0, 0};
    unsigned char gwbin[2][16];
    for (int i = 0; i < 2; i++) {
        struct field *g = get(c, i ? "gw6" : "gw4");
        if (!g) continue;
        if (!g->is_str || inet_pton(i ? AF_INET6 : AF_INET, g->str, gwbin[i]) != 1) {
            fail("%s must be an IPv%d address", i ? "gw6" : "gw4", i ? 6 : 4);
            return;
        }
        gw[i] = g->str;
    }
    struct field *t = get(c, "timeout_ms");
    double t0 = mono_ms(), deadline = t0 + (t && t->is_num ? t->num : 3000);
    /* subscribed before the first look, so no change can fall between a look and the wait */
    int watch = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
    if (watch < 0 || bind(watch, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fail_errno("watch links", errno);
        if (watch >= 0) close(watch);
        return;
    }
    int idx, rc;
    while (!(idx = (int)if_nametoindex(ifname)))
        if ((rc = await_link_change(watch, deadline))) {
            fail("%s did not appear within %.0f ms (%s)", ifname, mono_ms() - t0, errname(-rc));
            goto out;
        }
    int lo = ifindex_of("lo");
    if (!lo) goto out;

    struct nlreq r[6];
    link_up_msg(&r[0], lo);
    link_up_msg(&r[1], idx);
    addr_msg(&r[2], idx, AF_INET, bin[0], (int)prefix[0]);
    addr_msg(&r[3], idx, AF_INET6, bin[1], (int)prefix[1]);
    int nmsg = 4;
    for (int i = 0; i < 2; i++)
        if (gw[i]) route_msg(&r[nmsg++], idx, i ? AF_INET6 : AF_INET, gwbin[i]);
    static const char *const step[] = {"lo up", "link up", "add IPv4 address", "add IPv6 address", "add a default route", "add a default route"};
    int failed = 0;
    if ((rc = nl_batch(r, nmsg, &failed))) {
        fail_errno(step[failed], -rc);
        goto out;
    }

    double up0 = mono_ms();
    int oper = -1;
    char qdisc[32] = "";
    for (;;) {
        if ((rc = link_state(idx, &oper, qdisc, sizeof qdisc))) break;
        if (oper == 6 /* IF_OPER_UP */ && qdisc[0] && strcmp(qdisc, "noop")) break;
        if ((rc = await_link_change(watch, deadline))) break;
    }
    if (rc == -ETIMEDOUT || rc == -ECANCELED)
        fail("%s not up after %.0f ms (operstate %d, qdisc \"%s\"%s)", ifname, mono_ms() - up0, oper, qdisc, rc == -ECANCELED ? ", gave up: stdin closed" : "");
    else if (rc)
        fail_errno("read link state", -rc);
    else {
        reply_begin("ok");
        o_num("waited_us", (long long)((mono_ms() - up0) * 1000));
        o_str("qdisc", qdisc);
        o_end();
    }
out:
    close(watch);
}

/* {"cmd":"group","ifname":"dp0","group":2}: move the link into an interface group. Faults are
 * installed ahead of time as nft rules matching `meta iifgroup N`; arming one is this single
 * rtnetlink message (microseconds, stamped by the reply) instead of an nft process per namespace,
 * which on a loaded machine took seconds and let packets slip through mid-arming. */
void cmd_group(struct cmd *c) {
    const char *ifname;
    double group;
    if (!need_str(c, "ifname", &ifname) || !need_num(c, "group", &group)) return;
    if (group < 0 || group > 4294967295.0) { fail("group must be 0..4294967295, not %g", group); return; }
    int idx = ifindex_of(ifname);
    if (!idx) return;
    struct nlreq r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_NEWLINK}};
    ((struct ifinfomsg *)NLMSG_DATA(&r.h))->ifi_index = idx;
    uint32_t g = (uint32_t)group;
    nl_add(&r, IFLA_GROUP, &g, sizeof g);
    reply_rc("set interface group", nl_talk(&r));
}

/* {"cmd":"nft","file":PATH}: `nft -f PATH` run by this helper, already in the namespace: a router's
 * rules without an `ip netns exec` process and the controller's own spawn in between (those were
 * half a router topology's set-up). The child gets /dev/null for stdin and stdout (stdout is this
 * helper's protocol pipe) and a pipe for stderr, whose first line an error carries. Blocks until nft
 * exits: only ever asked while a topology is being made, before anything is timed. */
void cmd_nft(struct cmd *c) {
    const char *file;
    if (!need_str(c, "file", &file)) return;
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) < 0) { fail_errno("pipe", errno); return; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    char *argv[] = {"nft", "-f", (char *)file, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "nft", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(errp[1]);
    if (rc) { close(errp[0]); fail_errno("start nft", rc); return; }
    char err[256];
    size_t n = 0;
    ssize_t got;
    while ((got = read(errp[0], err + n, sizeof err - 1 - n)) > 0 && n < sizeof err - 1) n += (size_t)got;
    while (got > 0) { char sink[256]; got = read(errp[0], sink, sizeof sink); }
    close(errp[0]);
    err[n] = 0;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) { reply_begin("ok"); o_end(); return; }
    char *nl = strchr(err, '\n');
    if (nl) *nl = 0;
    for (char *q = err; *q; q++) if ((unsigned char)*q < 0x20 || *q == '"' || *q == '\\') *q = ' ';
    fail("nft -f %s failed (%s %d): %s", file, WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), n ? err : "no output");
}
