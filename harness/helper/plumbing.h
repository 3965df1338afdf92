/* Namespaces and links without spawning ip(8) (plumbing.c). */
#pragma once
#include "protocol.h"

/* make a namespace as `ip netns add` does (dp-* only) and move into it; -1 with errno */
int netns_create_and_enter(const char *name);
/* remove the namespace this helper made, if it made one */
void netns_remove_created(void);
void cmd_veth(struct cmd *c);
void cmd_wire_end(struct cmd *c);
void cmd_group(struct cmd *c);
void cmd_nft(struct cmd *c);
