/* SPDX-License-Identifier: MIT
 * tcpframe.h -- DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): the
 *               two-byte length prefix, as a pure function over a buffer.
 * Owns:    deciding whether a buffer starts with a complete frame, needs
 *          more bytes, or holds a frame the connection must be closed for.
 * Never:   sockets, allocation, DNS contents beyond the length.
 * frontend.c's conn_process() calls tcpframe_next() in a loop; the fuzz
 * target tests/fuzz/fuzz_tcp.c drives it with arbitrary streams. */
#ifndef SRVSHIM_TCPFRAME_H
#define SRVSHIM_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

#define TCPFRAME_IN_MAX 4096 /* largest query we take; larger: close */

enum tcpframe_result {
	TCPFRAME_MORE,	/* no complete frame yet: read more */
	TCPFRAME_FRAME, /* buf[2..2+*flen) is one message */
	TCPFRAME_BAD,	/* zero-length, runt (< a DNS header) or oversized
			 * (> max) frame: close the connection */
};

/* Looks at buf[0..len), which starts at a frame boundary. max is the
 * largest message length accepted (at most TCPFRAME_IN_MAX for frontend.c).
 * A bad length is reported as soon as the two length bytes are in, without
 * waiting for the body. On TCPFRAME_FRAME, *flen is the message length and
 * the next frame starts at buf + 2 + *flen. */
enum tcpframe_result tcpframe_next(const uint8_t *buf, size_t len, size_t max,
				   size_t *flen);

#endif
