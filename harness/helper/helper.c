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
 *
 * `deadpeer-helper audit …` is the other mode: one pass over running processes' TCP sockets, then
 * exit (audit.c).
 *
 * This file is main, the command table, the "at" schedule and the poll loop, and nothing else:
 * the commands live in units with one job each (sockets, capture, diag, sysctl, discover,
 * plumbing, conntrack), all standing on protocol.c, none on this file or on each other in a
 * circle (docs/DESIGN.md, "The native helper"; test/unit/helper-layers.test.ts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "capture.h"
#include "conntrack.h"
#include "diag.h"
#include "discover.h"
#include "plumbing.h"
#include "protocol.h"
#include "sockets.h"
#include "sysctl.h"

#define LINE_MAX_LEN 4096

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
        reply_began(mono_now());
        if (!parse_cmd(job.line, &c)) run_command(&c, job.at);
        reply_began(0);
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
    reply_begin("ok");
    o_num("cancelled", n);
    o_end();
}

static void dispatch(char *line) {
    struct cmd c;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n') line[l - 1] = 0;
    const char *perr = parse_cmd(line, &c);
    if (perr) { reply_malformed(line, perr); return; }
    struct field *at = get(&c, "at");
    if (at) {
        reply_to(&c, "", 0);
        if (!at->is_num || at->num <= 0) { fail("\"at\" must be a time on CLOCK_MONOTONIC, in seconds"); return; }
        /* a moment already past is performed now, and its reply says how late: never silently */
        if (at->num > mono_now()) { schedule(line, &c, at->num); return; }
        run_command(&c, at->num);
        return;
    }
    run_command(&c, 0);
}

static void run_command(struct cmd *c, double due) {
    reply_to(c, "", due);
    struct field *f = get(c, "cmd");
    if (!f || !f->is_str) { fail("missing \"cmd\" (a string naming the command)"); reply_to(c, "", 0); return; }
    const char *name = f->str;
    reply_to(c, name, due);
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
    reply_to(c, name, 0);
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
    if (argc > 1 && !strcmp(argv[1], "audit")) return audit_main(argc - 2, argv + 2);
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
        if (capture_fd() >= 0) { pf[n].fd = capture_fd(); pf[n].events = POLLIN; map[n++] = -2; }
        if (sched_fd >= 0) { pf[n].fd = sched_fd; pf[n].events = POLLIN; map[n++] = -3; }
        double now = mono_now();
        int timeout = -1;
        n += sockets_poll(pf + n, map + n, now, &timeout);
        double diag_next = diag_due();
        if (diag_next) {
            int ms = (int)((diag_next - now) * 1000) + 1;
            if (ms < 0) ms = 0;
            if (timeout < 0 || ms < timeout) timeout = ms;
        }
        int r = poll(pf, n, timeout);
        if (r < 0 && errno != EINTR) return 1;
        if (diag_next && mono_now() >= diag_next) {
            diag_poll();
            ct_poll();
            diag_advance();
        }
        if (r <= 0) continue;
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents) continue;
            if (map[k] == -3) on_sched_timer();
            else if (map[k] == -2) capture_on_packet();
            else if (map[k] > 0) sockets_on_event(map[k], pf[k].revents);
        }
        if (pf[0].revents) {
            char tmp[4096];
            ssize_t got = read(0, tmp, sizeof tmp);
            if (got <= 0) break; /* stdin closed: the controller is gone, so are we */
            for (ssize_t i = 0; i < got; i++) {
                if (tmp[i] == '\n') {
                    line[linelen] = 0;
                    if (overlong) reply_malformed(line, "line longer than 4096 bytes");
                    else if (linelen) dispatch(line);
                    linelen = 0;
                    overlong = 0;
                } else if (linelen < sizeof line - 1) line[linelen++] = tmp[i];
                else overlong = 1;
            }
        }
    }
    capture_end();
    netns_remove_created();
    return 0;
}

