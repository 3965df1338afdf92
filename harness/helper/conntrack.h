/* The connection-tracking table of this namespace (a router's), over ctnetlink (conntrack.c). */
#pragma once
#include "protocol.h"

void cmd_ct_watch(struct cmd *c);
/* look up every watched flow, an event for each change (sampled with diag.c's tick) */
void ct_poll(void);
