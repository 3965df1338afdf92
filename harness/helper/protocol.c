/*
 * The protocol, and nothing else: the flat-JSON line reader, the event writer (every line stamped
 * with CLOCK_MONOTONIC), the replies to the command in progress (its "re", "cmd", "due", "began")
 * and the checks of a command's fields. Every other unit of the helper stands on this one; it
 * stands on none of them (test/unit/helper-layers.test.ts).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "protocol.h"

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
static int flush_each = 1; /* the protocol's events are read as they happen; audit's are one batch */

void o_flush_each_line(int on) { flush_each = on; }

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
void o_bool(const char *k, int v) { o_raw(",\"%s\":%s", k, v ? "true" : "false"); }

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
    if (flush_each) fflush(stdout);
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
const char *parse_cmd(const char *line, struct cmd *c) {
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

void reply_to(struct cmd *c, const char *name, double due) {
    cur = c;
    cur_name = name;
    cur_due = due;
}
void reply_began(double t) { cur_began = t; }

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
int opt_bool(struct cmd *c, const char *k, int dflt) {
    struct field *f = get(c, k);
    return f && (f->is_bool || f->is_num) ? f->num != 0 : dflt;
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

void reply_malformed(const char *line, const char *detail) {
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
