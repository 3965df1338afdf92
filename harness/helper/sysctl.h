/* A network namespace's sysctls (sysctl.c). */
#pragma once
#include <sys/types.h>

#include "protocol.h"

/* {"cmd":"sysctl","name":"net.…"[,"value":V]}: write (optional), then read back. */
void cmd_sysctl(struct cmd *c);
/* The value at a /proc/sys path, trailing newline dropped: its length, or -errno. */
ssize_t sysctl_read(const char *path, char *buf, size_t cap);
