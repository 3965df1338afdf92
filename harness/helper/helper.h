/* What the helper's modules share: the command representation and the reply writers. */
#pragma once
#include <stdint.h>

#define MAX_FIELDS 16

struct field {
    char key[32];
    char str[256];
    double num;
    int is_str, is_num, is_bool;
};
struct cmd {
    struct field f[MAX_FIELDS];
    int n;
    long long id;
    int has_id;
};


/* CLOCK_MONOTONIC, s: the clock of every event */
double mono_now(void);
/* an event not answering a command (a packet, a timer state) */
void o_begin(const char *ev, double t);
void o_dbl(const char *k, double v);
/* the current event being written; reply_begin() starts a reply to the command in progress */
void reply_begin(const char *ev);
void o_str(const char *k, const char *v);
void o_num(const char *k, long long v);
void o_end(void);
/* an error reply naming the command; fail_errno adds the errno name */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail_errno(const char *what, int e);
const char *errname(int e);
struct field *get(struct cmd *c, const char *k);
int need_num(struct cmd *c, const char *k, double *v);
int need_str(struct cmd *c, const char *k, const char **v);
/* A connection as a command names it (family, src, sport, dst, dport), checked; 0 = refused (replied). */
struct conn_tuple {
    int family; /* 4 or 6 */
    unsigned char src[16], dst[16];
    int sport, dport;
};
int need_tuple(struct cmd *c, struct conn_tuple *t);

/* plumbing.c: namespaces and links without spawning ip(8) */
int netns_create_and_enter(const char *name);
void netns_remove_created(void);
void cmd_veth(struct cmd *c);
void cmd_wire_end(struct cmd *c);
void cmd_group(struct cmd *c);
void cmd_nft(struct cmd *c);

/* discover.c: sockets of a program under test (deadpeer exec) */
void cmd_discover(struct cmd *c);
void cmd_peeksock(struct cmd *c);

/* conntrack.c: the connection-tracking table of this namespace (a router's), over ctnetlink */
void cmd_ct_watch(struct cmd *c);
void ct_poll(void);
