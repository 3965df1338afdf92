/* Packet capture (capture.c): AF_PACKET, kernel timestamps on CLOCK_MONOTONIC, optional pcap. */
#pragma once
#include "protocol.h"

void cmd_capture(struct cmd *c);
void cmd_capture_stop(struct cmd *c);
/* the capture socket to poll, -1 when not capturing */
int capture_fd(void);
/* drain the capture socket: an event per TCP packet */
void capture_on_packet(void);
/* close the pcap (at exit) */
void capture_end(void);
