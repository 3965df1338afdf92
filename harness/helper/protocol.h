/*
 * The helper's protocol (protocol.c): commands read as flat JSON lines, events written as flat JSON
 * lines stamped with CLOCK_MONOTONIC. The leaf every other unit of the helper stands on; it
 * includes no header of the helper's but its own.
 */
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

/* Read one line into c; NULL, or what is wrong with the line. */
const char *parse_cmd(const char *line, struct cmd *c);
struct field *get(struct cmd *c, const char *k);
/* A required field; 0 = missing or of the wrong kind (an error reply has been written). */
int need_num(struct cmd *c, const char *k, double *v);
int need_str(struct cmd *c, const char *k, const char **v);
/* An optional true/false (or number) field, dflt when absent. */
int opt_bool(struct cmd *c, const char *k, int dflt);
/* A connection as a command names it (family, src, sport, dst, dport), checked; 0 = refused (replied). */
struct conn_tuple {
    int family; /* 4 or 6 */
    unsigned char src[16], dst[16];
    int sport, dport;
};
int need_tuple(struct cmd *c, struct conn_tuple *t);

/* An event not answering a command (a packet, a timer state), then its fields, then o_end(). */
void o_begin(const char *ev, double t);
void o_str(const char *k, const char *v);
void o_num(const char *k, long long v);
void o_dbl(const char *k, double v);
void o_bool(const char *k, int v);
void o_end(void);
/* 1 (the protocol): every line leaves at once; 0 (audit): lines are buffered */
void o_flush_each_line(int on);

/* The command being answered: replies carry its id ("re"), its name, and when it was due and began. */
void reply_to(struct cmd *c, const char *name, double due);
void reply_began(double t);
/* Start a reply to the command in progress. */
void reply_begin(const char *ev);
/* An error reply naming the command; fail_errno adds the errno name. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail_errno(const char *what, int e);
/* The error answering a line that does not parse, with its id when one can be found in it. */
void reply_malformed(const char *line, const char *detail);
const char *errname(int e);
