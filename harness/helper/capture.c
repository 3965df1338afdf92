/*
 * Packet capture: AF_PACKET with kernel timestamps, mapped onto CLOCK_MONOTONIC, reported as events
 * and (optionally) written to a pcap.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "protocol.h"

static int cap_fd = -1;
static FILE *pcap;
static int cap_port; /* only this TCP port (either side); 0 = all TCP */
#define PCAP_SNAPLEN 256 /* headers are all we need; keeps pcaps small when buffers are filled */
/* "headers_only": each frame is cut where its TCP payload begins, so the pcap holds no byte the
 * program sent (a password, a token) — only the headers the timeline is read from */
static int cap_headers_only;

static void pcap_open(const char *path) {
    pcap = fopen(path, "wb");
    if (!pcap) return;
    /* nanosecond-resolution pcap, LINKTYPE_ETHERNET */
    uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, PCAP_SNAPLEN, 1};
    fwrite(hdr, sizeof hdr, 1, pcap);
    fflush(pcap);
}

void cmd_capture(struct cmd *c) {
    const char *ifname, *path = NULL;
    if (!need_str(c, "ifname", &ifname)) return;
    struct field *p = get(c, "pcap");
    if (p && p->is_str) path = p->str;
    struct field *pt = get(c, "port");
    if (pt && (!pt->is_num || pt->num < 0 || pt->num > 65535)) { fail("port must be 0..65535"); return; }
    unsigned idx = if_nametoindex(ifname);
    if (!idx) { fail_errno(ifname, errno); return; }
    if (cap_fd >= 0) { fail("already capturing"); return; }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) { fail_errno("AF_PACKET socket", errno); return; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)idx};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { fail_errno("bind AF_PACKET", errno); close(fd); return; }
    if (path) {
        /* the file first: a capture that cannot record leaves nothing armed behind it */
        pcap_open(path);
        if (!pcap) { int e = errno; close(fd); fail_errno(path, e); return; }
    }
    cap_fd = fd;
    cap_port = pt ? (int)pt->num : 0;
    cap_headers_only = opt_bool(c, "headers_only", 0);
    reply_begin("ok");
    o_num("ifindex", idx);
    o_end();
}

/* Stop recording: the pcap then holds exactly the packets reported as events so far (packets
 * already queued on the capture socket were drained before this command was read). */
void cmd_capture_stop(struct cmd *c) {
    (void)c;
    if (cap_fd >= 0) close(cap_fd);
    cap_fd = -1;
    if (pcap) fclose(pcap);
    pcap = NULL;
    reply_begin("ok");
    o_end();
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

void capture_on_packet(void) {
    static uint8_t buf[65600];
    for (;;) {
        char ctrl[256];
        struct sockaddr_ll from;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = ctrl, .msg_controllen = sizeof ctrl};
        ssize_t n = recvmsg(cap_fd, &mh, MSG_TRUNC);
        if (n < 0) return;
        struct timespec ts = {0, 0};
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS)
                memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        /* The kernel stamps packets with CLOCK_REALTIME; map onto CLOCK_MONOTONIC with the offset
         * read right now, so a clock step or an NTP slew between packets can't skew. The realtime
         * read is bracketed by two monotonic reads; an interrupt between them (tens of µs under
         * load) would skew the offset, so the narrowest of a few brackets is kept. */
        double offset = 0, best = 1;
        for (int k = 0; k < 4 && best > 2e-6; k++) {
            struct timespec m1, rn, m2;
            clock_gettime(CLOCK_MONOTONIC, &m1);
            clock_gettime(CLOCK_REALTIME, &rn);
            clock_gettime(CLOCK_MONOTONIC, &m2);
            double a = m1.tv_sec + m1.tv_nsec / 1e9, b = m2.tv_sec + m2.tv_nsec / 1e9;
            if (b - a < best) {
                best = b - a;
                offset = (rn.tv_sec + rn.tv_nsec / 1e9) - (a + b) / 2;
            }
        }
        double real = ts.tv_sec + ts.tv_nsec / 1e9;
        double t = ts.tv_sec ? real - offset : mono_now();

        size_t caplen = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
        if (caplen < 14) continue;
        uint16_t ethertype = rd16(buf + 12);
        const uint8_t *ip = buf + 14;
        size_t iplen = caplen - 14;
        int fam, proto;
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        size_t iphl, payload_total;
        if (ethertype == ETH_P_IP && iplen >= 20) {
            fam = 4;
            iphl = (ip[0] & 15) * 4;
            proto = ip[9];
            payload_total = rd16(ip + 2) - iphl;
            inet_ntop(AF_INET, ip + 12, src, sizeof src);
            inet_ntop(AF_INET, ip + 16, dst, sizeof dst);
        } else if (ethertype == ETH_P_IPV6 && iplen >= 40) {
            fam = 6;
            iphl = 40;
            proto = ip[6];
            payload_total = rd16(ip + 4);
            inet_ntop(AF_INET6, ip + 8, src, sizeof src);
            inet_ntop(AF_INET6, ip + 24, dst, sizeof dst);
        } else {
            continue;
        }
        if (proto != IPPROTO_TCP || iplen < iphl + 20) continue;
        const uint8_t *tcp = ip + iphl;
        int sport = rd16(tcp), dport = rd16(tcp + 2);
        if (cap_port && sport != cap_port && dport != cap_port) continue;
        size_t thl = (tcp[12] >> 4) * 4;
        uint8_t fl = tcp[13];
        char flags[8];
        int k = 0;
        /* tcpdump's notation: S SYN, F FIN, R RST, P PSH, . ACK */
        if (fl & 0x02) flags[k++] = 'S';
        if (fl & 0x01) flags[k++] = 'F';
        if (fl & 0x04) flags[k++] = 'R';
        if (fl & 0x08) flags[k++] = 'P';
        if (fl & 0x10) flags[k++] = '.';
        flags[k] = 0;
        int wscale = -1, mss = -1;
        for (size_t o = 20; o < thl && iphl + o < iplen;) {
            uint8_t kind = tcp[o];
            if (kind == 0) break;
            if (kind == 1) { o++; continue; }
            if (iphl + o + 1 >= iplen) break;
            uint8_t olen = tcp[o + 1];
            if (olen < 2) break;
            if (kind == 2 && olen == 4) mss = rd16(tcp + o + 2);
            if (kind == 3 && olen == 3) wscale = tcp[o + 2];
            o += olen;
        }
        o_begin("packet", t);
        o_str("dir", from.sll_pkttype == PACKET_OUTGOING ? "out" : "in");
        o_num("family", fam);
        o_str("src", src);
        o_num("sport", sport);
        o_str("dst", dst);
        o_num("dport", dport);
        o_str("flags", flags);
        o_num("seq", rd32(tcp + 4));
        o_num("ack", rd32(tcp + 8));
        o_num("win", rd16(tcp + 14));
        o_num("len", (long long)payload_total - (long long)thl);
        if (wscale >= 0) o_num("wscale", wscale);
        if (mss >= 0) o_num("mss", mss);
        o_end();
        if (pcap) {
            size_t keep = caplen < PCAP_SNAPLEN ? caplen : PCAP_SNAPLEN;
            if (cap_headers_only && 14 + iphl + thl < keep) keep = 14 + iphl + thl;
            uint32_t rec[4] = {(uint32_t)ts.tv_sec, (uint32_t)ts.tv_nsec, (uint32_t)keep, (uint32_t)n};
            if (!ts.tv_sec) {
                struct timespec rn;
                clock_gettime(CLOCK_REALTIME, &rn);
                rec[0] = (uint32_t)rn.tv_sec;
                rec[1] = (uint32_t)rn.tv_nsec;
            }
            fwrite(rec, sizeof rec, 1, pcap);
            fwrite(buf, rec[2], 1, pcap);
            fflush(pcap);
        }
    }
}

int capture_fd(void) { return cap_fd; }

void capture_end(void) {
    if (pcap) fclose(pcap);
    pcap = NULL;
}
