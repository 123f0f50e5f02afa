/* SPDX-License-Identifier: MIT
 * trivial_responder.c -- the soak benchmark's baseline DNS server.
 * Owns:    one UDP socket; every datagram of 12 bytes or more goes back as
 *          is with QR set and RCODE 0 (a NOERROR reply with the question
 *          and no records). Batched like srvshimd (recvmmsg/sendmmsg).
 * Never:   parsing, answering anything real: it measures what dnsperf itself
 *          loses on this machine at this rate, so srvshimd's loss can be
 *          told apart from the load generator's.
 * Usage:   trivial_responder PORT   (binds 127.0.0.1:PORT, runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64

int
main(int argc, char **argv)
{
	static unsigned char buf[BATCH][1500];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH], sa;
	int fd, big = 4 << 20;

	if (argc != 2) {
		fprintf(stderr, "usage: trivial_responder PORT\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("trivial_responder: bind");
		return 1;
	}
	for (;;) {
		int n, out = 0;

		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_name = &from[i];
			msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msg, BATCH, MSG_WAITFORONE, NULL);
		for (int i = 0; i < n; i++) {
			if (msg[i].msg_len < 12)
				continue;
			buf[i][2] |= 0x80;	/* QR */
			buf[i][3] &= 0xf0;	/* RCODE 0 */
			iov[i].iov_len = msg[i].msg_len;
			if (out != i)
				msg[out] = msg[i];
			msg[out].msg_hdr.msg_iov = &iov[i];
			out++;
		}
		if (out > 0)
			sendmmsg(fd, msg, (unsigned)out, 0);
	}
}
