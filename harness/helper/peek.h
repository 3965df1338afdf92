/*
 * The one reader of a socket another process holds: `peeksock` (deadpeer exec) and `audit` both
 * read a program's socket through this, so both name what they read alike.
 */
#pragma once
#include <linux/tcp.h>
#include <sys/types.h>

#define PEEK_NOPTS 11

/* What a socket really holds: the timeout-related options (ok[i] = the kernel answered) and tcp_info. */
struct peek {
    int val[PEEK_NOPTS];
    unsigned char ok[PEEK_NOPTS];
    int have_info;
    struct tcp_info ti;
};

/* pidfd_open(2): a handle on the process, or -1 with errno. */
int peek_pidfd(pid_t pid);
/* Duplicate the program's descriptor (pidfd_getfd, Linux 5.6+), read it, close the duplicate at
 * once. 0, or the errno of pidfd_getfd. */
int peek_read(int pidfd, int fd, struct peek *p);
/* The option keys (absent = the kernel refused that option) and tcp_info's rto_us, rtt_us, snd_mss,
 * unacked, notsent_bytes, backoff, probes, appended to the event being written. */
void peek_emit(const struct peek *p);
