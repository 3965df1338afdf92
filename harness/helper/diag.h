/* Timer states of watched connections (diag.c): sock_diag exact lookups every few ms. */
#pragma once
#include "protocol.h"

void cmd_diag(struct cmd *c);
void cmd_watch(struct cmd *c);
/* when the next sample is due (CLOCK_MONOTONIC), 0 when sampling is off */
double diag_due(void);
/* look up every watched connection, an event for each change */
void diag_poll(void);
/* the sample after this one */
void diag_advance(void);
