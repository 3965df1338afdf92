/* Sockets of a program under test (discover.c): find its connection, read what it set on it. */
#pragma once
#include "protocol.h"

void cmd_discover(struct cmd *c);
void cmd_peeksock(struct cmd *c);
