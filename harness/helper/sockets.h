/* The sockets under test (sockets.c): the socket commands, and their part of the event loop. */
#pragma once
#include <poll.h>

#include "protocol.h"

#define MAX_SOCKS 256

void cmd_socket(struct cmd *c);
/* set = 1: setsockopt then read back; 0: getsockopt */
void cmd_setopt(struct cmd *c, int set);
void cmd_bind(struct cmd *c);
void cmd_listen(struct cmd *c);
void cmd_accept(struct cmd *c);
void cmd_connect(struct cmd *c);
void cmd_send(struct cmd *c);
void cmd_pump(struct cmd *c);
void cmd_read(struct cmd *c);
void cmd_info(struct cmd *c);
void cmd_close(struct cmd *c);

/* One pollfd per live socket appended at pf (map[k] = its id); a slow reader lowers *timeout. Returns how many. */
int sockets_poll(struct pollfd *pf, int *map, double now, int *timeout);
/* poll() said something about socket i */
void sockets_on_event(int i, short revents);
