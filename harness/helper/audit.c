/*
 * deadpeer-helper audit [--pid N]... [--all] [--netns PATH]
 *
 * Every TCP socket the named processes hold, with what the kernel's tables show (sock_diag), what
 * the socket really holds (peek.c) and the sysctls of the namespace the socket lives in, as lines
 * of the protocol's writer; the contract with the TypeScript side is docs/DESIGN.md, "The audit mode".
 *
 * Built to be cheap at 100 k sockets: the descriptors are found by readlink of /proc/PID/fd/N
 * ("socket:[INODE]"), the sockets' 4-tuples and timers come from ONE sock_diag dump per
 * (namespace, family) matched to the descriptors by inode in a hash table, and per socket only a
 * pidfd_getfd and its getsockopt calls remain. Output is buffered; nothing is spawned.
 *
 * Nothing is guessed: a process whose descriptors cannot be listed is named ("denied"), a socket
 * whose options cannot be read carries the errno ("read_error"), a namespace that cannot be
 * entered says so instead of sysctls. A process or a descriptor that goes away during the walk
 * is skipped without a word: it is no longer there to audit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "peek.h"
#include "protocol.h"
#include "sysctl.h"
#include "tcpdiag.h"

#define USAGE "usage: deadpeer-helper audit [--pid N]... [--all] [--netns PATH]"

struct aproc {
    pid_t pid;
    uid_t uid;
    unsigned long long netns;
    size_t first, n; /* its socket descriptors: fds[first .. first+n) */
    char comm[64];
};
struct afd {
    int fd;
    unsigned inode;
};
/* a socket as sock_diag showed it; one per inode, however many descriptors refer to it */
struct asock {
    unsigned inode;
    int found;
    unsigned long long netns;
    struct tcpdiag_sock d;
};
struct ans {
    unsigned long long ino;
    int fd;      /* to setns into; -1 = the helper's own namespace */
    int entered; /* its sockets were dumped */
    int setns_errno;
};

static struct aproc *procs;
static size_t nprocs, cap_procs;
static struct afd *fds;
static size_t nfds, cap_fds;
static struct asock *socks;
static size_t nsocks;
static unsigned *slots; /* open addressing: index + 1 into socks, 0 = empty */
static size_t slot_mask;
static struct ans *nss;
static size_t nnss, cap_nss;

static int n_reported_procs, n_sockets, n_listeners, n_unreadable;

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(p, c * size);
    if (!q) {
        fprintf(stderr, "deadpeer-helper audit: out of memory\n");
        exit(1);
    }
    *cap = c;
    return q;
}

static size_t slot_of(unsigned inode) { return ((size_t)inode * 2654435761u) & slot_mask; }

static struct asock *sock_lookup(unsigned inode) {
    for (size_t i = slot_of(inode);; i = (i + 1) & slot_mask) {
        if (!slots[i]) return NULL;
        if (socks[slots[i] - 1].inode == inode) return &socks[slots[i] - 1];
    }
}

/* Every distinct socket inode the processes hold, indexed: what the dumps are matched against. */
static void index_sockets(void) {
    size_t n = 16;
    while (n < nfds * 2) n *= 2;
    slot_mask = n - 1;
    slots = calloc(n, sizeof *slots);
    socks = calloc(nfds ? nfds : 1, sizeof *socks);
    if (!slots || !socks) {
        fprintf(stderr, "deadpeer-helper audit: out of memory\n");
        exit(1);
    }
    for (size_t k = 0; k < nfds; k++) {
        size_t i = slot_of(fds[k].inode);
        while (slots[i] && socks[slots[i] - 1].inode != fds[k].inode) i = (i + 1) & slot_mask;
        if (slots[i]) continue;
        socks[nsocks].inode = fds[k].inode;
        slots[i] = (unsigned)++nsocks;
    }
}

static void denied(pid_t pid, const char *what, int e) {
    o_begin("denied", mono_now());
    o_num("pid", pid);
    o_str("what", what);
    o_str("error", errname(e));
    o_end();
}

/* Kernel threads hold no descriptors; /proc hides their (empty) fd table from non-root. */
static int is_kthread(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return 0;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags; comm may hold spaces and ')' */
    char *p = strrchr(buf, ')');
    unsigned long flags = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1) return 0;
    return (flags & 0x00200000) != 0; /* PF_KTHREAD */
}

static void read_identity(struct aproc *p) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/comm", p->pid);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = f < 0 ? -1 : read(f, p->comm, sizeof p->comm - 1);
    if (f >= 0) close(f);
    p->comm[n > 0 ? n : 0] = 0;
    if (n > 0 && p->comm[n - 1] == '\n') p->comm[n - 1] = 0;
    snprintf(path, sizeof path, "/proc/%d/status", p->pid);
    f = open(path, O_RDONLY | O_CLOEXEC);
    n = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
    if (f >= 0) close(f);
    buf[n > 0 ? n : 0] = 0;
    /* Uid: real effective saved fs — the effective one, as ps(1) shows */
    const char *u = strstr(buf, "\nUid:");
    unsigned ruid = 0, euid = 0;
    if (u && sscanf(u + 5, "%u %u", &ruid, &euid) == 2) p->uid = euid;
}

/* The socket descriptors of one process, and its namespace; a process without any is not kept. */
static void collect(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if ((errno == EACCES || errno == EPERM) && !is_kthread(pid)) denied(pid, "fd-dir", errno);
        return; /* ENOENT, ESRCH: it exited */
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    size_t first = nfds;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char link[64];
        ssize_t n = readlinkat(dfd, e->d_name, link, sizeof link - 1);
        if (n < 0 && (errno == EACCES || errno == EPERM)) {
            /* the directory opens, but reading its links is what ptrace access guards */
            denied(pid, "fd-dir", errno);
            nfds = first;
            closedir(d);
            return;
        }
        if (n < 10 || memcmp(link, "socket:[", 8)) continue;
        link[n] = 0;
        fds = grow(fds, &cap_fds, nfds + 1, sizeof *fds);
        fds[nfds].fd = atoi(e->d_name);
        fds[nfds].inode = (unsigned)strtoul(link + 8, NULL, 10);
        nfds++;
    }
    closedir(d);
    if (nfds == first) return;
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
    if (stat(path, &st) < 0) {
        if (errno == EACCES || errno == EPERM) denied(pid, "ns", errno);
        nfds = first;
        return;
    }
    procs = grow(procs, &cap_procs, nprocs + 1, sizeof *procs);
    struct aproc *p = &procs[nprocs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->netns = st.st_ino;
    p->first = first;
    p->n = nfds - first;
    read_identity(p);
}

static struct ans *ns_find(unsigned long long ino) {
    for (size_t i = 0; i < nnss; i++)
        if (nss[i].ino == ino) return &nss[i];
    return NULL;
}

static struct ans *ns_add(unsigned long long ino, int fd) {
    nss = grow(nss, &cap_nss, nnss + 1, sizeof *nss);
    nss[nnss] = (struct ans){.ino = ino, .fd = fd};
    return &nss[nnss++];
}

/* /proc/sys/net resolves against the namespace of whoever opens it: the caller has entered it. */
static void o_sysctls(void) {
    static const char *names[] = {"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes", "tcp_retries1",
                                  "tcp_retries2",       "tcp_syn_retries",     "tcp_synack_retries",   "tcp_orphan_retries",
                                  "tcp_fin_timeout",    "tcp_rto_min_us",      "tcp_rto_max_ms",       "tcp_syn_linear_timeouts",
                                  "tcp_early_retrans"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof path, "/proc/sys/net/ipv4/%s", names[i]);
        ssize_t n = sysctl_read(path, buf, sizeof buf);
        if (n > 0) {
            o_num(names[i], strtoll(buf, NULL, 10));
        } else if (n != -ENOENT) { /* absent = the kernel has no such sysctl; anything else is said */
            char key[96];
            snprintf(key, sizeof key, "%s_error", names[i]);
            o_str(key, errname(n == 0 ? EIO : (int)-n));
        }
    }
}

/*
 * Every listener of every audited namespace, whoever holds it: a connection whose local port one of
 * them holds was accepted (the server's half), one whose port none holds was connect()ed. Sorted by
 * (namespace, port) once the dumps are done, then looked up by bisection.
 */
struct alisten {
    unsigned long long ns;
    int family;
    uint16_t port;
    uint8_t addr[16];
};
static struct alisten *listens;
static size_t nlistens, cap_listens;
static int listens_sorted;

static int cmp_listen(const void *a, const void *b) {
    const struct alisten *x = a, *y = b;
    if (x->ns != y->ns) return x->ns < y->ns ? -1 : 1;
    return (int)x->port - (int)y->port;
}

static int is_any(const uint8_t *a) {
    static const uint8_t zero[16];
    return !memcmp(a, zero, 16);
}

/* A listener in the socket's namespace on its local port, on its address or a wildcard (an IPv6
 * wildcard listener takes IPv4 connections too, unless IPV6_V6ONLY, which a dump does not show). */
static int listened(const struct asock *s) {
    if (!listens_sorted) {
        if (nlistens) qsort(listens, nlistens, sizeof *listens, cmp_listen);
        listens_sorted = 1;
    }
    size_t lo = 0, hi = nlistens;
    while (lo < hi) { /* the first listener not before (ns, port) */
        size_t mid = (lo + hi) / 2;
        if (listens[mid].ns < s->netns || (listens[mid].ns == s->netns && listens[mid].port < s->d.sport)) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < nlistens && listens[i].ns == s->netns && listens[i].port == s->d.sport; i++) {
        const struct alisten *l = &listens[i];
        if (is_any(l->addr) && (l->family == s->d.family || l->family == 6)) return 1;
        if (l->family == s->d.family && !memcmp(l->addr, s->d.src, s->d.family == 4 ? 4 : 16)) return 1;
    }
    return 0;
}

static void on_dumped(const struct inet_diag_msg *m, void *arg) {
    if (m->idiag_state == TCP_STATE_LISTEN) {
        listens = grow(listens, &cap_listens, nlistens + 1, sizeof *listens);
        struct tcpdiag_sock d;
        tcpdiag_decode(m, &d);
        struct alisten *l = &listens[nlistens++];
        memset(l, 0, sizeof *l);
        l->ns = ((struct ans *)arg)->ino;
        l->family = d.family;
        l->port = d.sport;
        memcpy(l->addr, d.src, 16);
        listens_sorted = 0;
    }
    struct asock *s = m->idiag_inode ? sock_lookup(m->idiag_inode) : NULL;
    if (!s || s->found) return; /* not held by an audited process (or a TIME-WAIT/request socket: no inode) */
    s->found = 1;
    s->netns = ((struct ans *)arg)->ino;
    tcpdiag_decode(m, &s->d);
}

/* Enter the namespace (unless it is ours), say its sysctls, dump its TCP sockets, come back. */
static void visit_ns(struct ans *ns, int own_fd) {
    if (ns->fd >= 0 && setns(ns->fd, CLONE_NEWNET) < 0) {
        ns->setns_errno = errno;
        o_begin("netns", mono_now());
        o_num("netns", (long long)ns->ino);
        o_str("error", errname(errno));
        o_str("what", "setns");
        o_end();
        return;
    }
    o_begin("netns", mono_now());
    o_num("netns", (long long)ns->ino);
    o_sysctls();
    /* every state: listeners are matched too, to be counted (not reported) */
    int e4 = tcpdiag_dump(AF_INET, ~0u, on_dumped, ns);
    int e6 = tcpdiag_dump(AF_INET6, ~0u, on_dumped, ns);
    if (e4 < 0 || e6 < 0) {
        o_str("dump_error", errname(e4 < 0 ? -e4 : -e6));
    } else ns->entered = 1;
    o_end();
    if (ns->fd >= 0 && setns(own_fd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "deadpeer-helper audit: cannot return to its own network namespace: %s\n", strerror(errno));
        exit(1);
    }
}

static void o_proc(const struct aproc *p) {
    o_begin("proc", mono_now());
    o_num("pid", p->pid);
    o_str("comm", p->comm);
    o_num("uid", p->uid);
    o_num("netns", (long long)p->netns);
    o_end();
    n_reported_procs++;
}

static const char *timer_name(int t) {
    static const char *n[] = {"off", "retransmit", "keepalive", "time-wait", "zero-window-probe"};
    return t >= 0 && t < 5 ? n[t] : "unknown";
}

/* The sockets of one process, each read through pidfd_getfd. */
static void report_proc(struct aproc *p, unsigned long long only_ns) {
    int pidfd = -1, pidfd_errno = 0, shown = 0;
    struct ans *home = ns_find(p->netns);
    if (!only_ns && home && home->setns_errno) {
        denied(p->pid, "setns", home->setns_errno);
        return;
    }
    for (size_t k = p->first; k < p->first + p->n; k++) {
        struct asock *s = sock_lookup(fds[k].inode);
        if (!s || !s->found) continue; /* not TCP, or in a namespace not audited */
        if (only_ns && s->netns != only_ns) continue;
        if (s->d.state == TCP_STATE_LISTEN) {
            n_listeners++;
            continue;
        }
        if (pidfd < 0 && !pidfd_errno) {
            pidfd = peek_pidfd(p->pid);
            if (pidfd < 0 && errno == ESRCH) return; /* it exited */
            if (pidfd < 0) pidfd_errno = errno;
        }
        struct peek pk;
        int e = pidfd >= 0 ? peek_read(pidfd, fds[k].fd, &pk) : pidfd_errno;
        if (e == EBADF) continue; /* the descriptor was closed meanwhile */
        if (e == ESRCH) break;    /* the process exited */
        if (!shown++) o_proc(p);
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        int af = s->d.family == 4 ? AF_INET : AF_INET6;
        inet_ntop(af, s->d.src, src, sizeof src);
        inet_ntop(af, s->d.dst, dst, sizeof dst);
        o_begin("sock", mono_now());
        o_num("pid", p->pid);
        o_num("fd", fds[k].fd);
        o_num("netns", (long long)s->netns);
        o_num("inode", s->inode);
        o_num("family", s->d.family);
        o_str("src", src);
        o_num("sport", s->d.sport);
        o_str("dst", dst);
        o_num("dport", s->d.dport);
        o_str("state", tcp_state_name(s->d.state));
        o_str("timer", timer_name(s->d.timer));
        o_num("expires_ms", s->d.expires);
        o_num("retrans", s->d.retrans);
        o_num("listening", listened(s));
        if (e) {
            o_str("read_error", errname(e));
            o_str("read_what", pidfd >= 0 ? "pidfd_getfd" : "pidfd_open");
            n_unreadable++;
        } else peek_emit(&pk);
        o_end();
        n_sockets++;
    }
    if (pidfd >= 0) close(pidfd);
}

static int usage(const char *fmt, const char *arg) {
    fprintf(stderr, "deadpeer-helper audit: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_pid(const char *s, pid_t *pid) {
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9) return 0;
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > 4194304) return 0; /* PID_MAX_LIMIT */
    *pid = (pid_t)v;
    return 1;
}

static int cmp_pid(const void *a, const void *b) { return *(const pid_t *)a - *(const pid_t *)b; }

int audit_main(int argc, char **argv) {
    double t0 = mono_now();
    pid_t *pids = calloc((size_t)argc + 1, sizeof *pids);
    size_t npids = 0;
    int all = 0;
    const char *netns_path = NULL;
    if (!pids) return 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--pid")) {
            if (!parse_pid(i + 1 < argc ? argv[i + 1] : NULL, &pids[npids]))
                return usage("--pid takes a process id (a whole number, 1..4194304), not \"%.40s\"", i + 1 < argc ? argv[i + 1] : "nothing");
            npids++;
            i++;
        } else if (!strcmp(argv[i], "--all")) {
            if (all) return usage("%s given twice: give it once", "--all");
            all = 1;
        } else if (!strcmp(argv[i], "--netns")) {
            if (netns_path) return usage("%s given twice: audit one namespace at a time", "--netns");
            if (i + 1 >= argc || !*argv[i + 1]) return usage("%s takes a namespace file (/run/netns/NAME or /proc/PID/ns/net)", "--netns");
            netns_path = argv[++i];
        } else {
            fprintf(stderr, "deadpeer-helper audit: unknown argument \"%.80s\" (" USAGE ")\n", argv[i]);
            return 2;
        }
    }
    if (all && npids) return usage("%s: --all audits every process; give --all or the --pid list, not both", "--all and --pid");
    if (!all && !npids && !netns_path) return usage("name what to audit: --pid N (repeatable), --all or --netns PATH (%s)", USAGE);
    qsort(pids, npids, sizeof *pids, cmp_pid);
    for (size_t i = 1; i < npids; i++)
        if (pids[i] == pids[i - 1]) {
            char n[16];
            snprintf(n, sizeof n, "%d", pids[i]);
            return usage("--pid %s given twice: name each process once", n);
        }
    for (size_t i = 0; i < npids; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", pids[i]);
        struct stat st;
        if (stat(path, &st) < 0) {
            char n[16];
            snprintf(n, sizeof n, "%d", pids[i]);
            return usage("no process %s (--pid names a running process)", n);
        }
    }
    unsigned long long only_ns = 0;
    int only_fd = -1;
    if (netns_path) {
        only_fd = open(netns_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO named here must not block */
        struct stat st;
        if (only_fd < 0 || fstat(only_fd, &st) < 0) {
            fprintf(stderr, "deadpeer-helper audit: cannot open --netns %.200s: %s (a namespace file: /run/netns/NAME or /proc/PID/ns/net)\n", netns_path, strerror(errno));
            return 2;
        }
        if (ioctl(only_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
            return usage("--netns %.200s is not a network namespace (/run/netns/NAME or /proc/PID/ns/net)", netns_path);
        only_ns = st.st_ino;
    }
    int own_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat own;
    if (own_fd < 0 || fstat(own_fd, &own) < 0) {
        fprintf(stderr, "deadpeer-helper audit: cannot read its own network namespace: %s\n", strerror(errno));
        return 1;
    }

    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    o_flush_each_line(0);

    if (npids) {
        for (size_t i = 0; i < npids; i++) collect(pids[i]);
    } else {
        DIR *d = opendir("/proc");
        if (!d) {
            fprintf(stderr, "deadpeer-helper audit: cannot list /proc: %s\n", strerror(errno));
            return 1;
        }
        pid_t self = getpid();
        for (struct dirent *e; (e = readdir(d));) {
            pid_t pid;
            if (parse_pid(e->d_name, &pid) && pid != self) collect(pid);
        }
        closedir(d);
    }
    index_sockets();

    /* the namespaces to dump: the one asked for, else every audited process's own */
    if (only_ns) ns_add(only_ns, only_ns == own.st_ino ? -1 : only_fd);
    else
        for (size_t i = 0; i < nprocs; i++) {
            if (ns_find(procs[i].netns)) continue;
            int fd = -1;
            if (procs[i].netns != own.st_ino) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/net", procs[i].pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) continue; /* it exited; another process of that namespace may still open it */
            }
            ns_add(procs[i].netns, fd);
        }
    for (size_t i = 0; i < nnss; i++) visit_ns(&nss[i], own_fd);
    for (size_t i = 0; i < nprocs; i++) report_proc(&procs[i], only_ns);

    o_begin("done", mono_now());
    o_num("procs", n_reported_procs);
    o_num("sockets", n_sockets);
    o_num("listeners", n_listeners);
    o_num("unreadable", n_unreadable);
    o_dbl("elapsed_ms", (mono_now() - t0) * 1000);
    o_end();
    fflush(stdout);
    return 0;
}
