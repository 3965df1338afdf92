/* A namespace's sysctls: written by the `sysctl` command, read by it and by audit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "sysctl.h"

ssize_t sysctl_read(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);
    int e = errno;
    if (fd >= 0) close(fd);
    if (n < 0) return -e;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    return n;
}

/* Per-namespace sysctls: /proc/sys/net is resolved against the namespace of the process that
 * opens it, so writing it from here only ever touches this helper's namespace. */
void cmd_sysctl(struct cmd *c) {
    const char *name;
    if (!need_str(c, "name", &name)) return;
    if (strncmp(name, "net.", 4) || strstr(name, "..") || strchr(name, '/')) {
        fail("only net.* sysctls are per-namespace; refusing \"%s\"", name);
        return;
    }
    char path[300];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    for (char *p = path + 10; *p; p++)
        if (*p == '.') *p = '/';
    struct field *v = get(c, "value");
    if (v) {
        char val[256];
        if (v->is_str) snprintf(val, sizeof val, "%s", v->str);
        else snprintf(val, sizeof val, "%lld", (long long)v->num);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, val, strlen(val)) < 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            char what[600];
            snprintf(what, sizeof what, "write %s=%s", name, val);
            fail_errno(what, e);
            return;
        }
        close(fd);
    }
    char buf[256];
    ssize_t n = sysctl_read(path, buf, sizeof buf);
    reply_begin("ok");
    o_str("name", name);
    if (n < 0) o_str("errno", errname((int)-n));
    else o_str("value", buf);
    o_end();
}
