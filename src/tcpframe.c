/* SPDX-License-Identifier: MIT
 * tcpframe.c -- DNS over TCP framing: one length prefix at a time.
 * Owns:    the framing decision (frame / need more / close), nothing else.
 * Never:   sockets, allocation, reading the message itself.
 * Start reading at tcpframe_next(). */
#include "config_feat.h"

#include "tcpframe.h"
#include "wire.h"

enum tcpframe_result
tcpframe_next(const uint8_t *buf, size_t len, size_t max, size_t *flen)
{
	size_t n;

	*flen = 0;
	if (len < 2)
		return TCPFRAME_MORE;
	n = (size_t)buf[0] << 8 | buf[1];
	/* A frame shorter than a header cannot be answered (and a zero-length
	 * one is not a message at all); a longer one than we buffer could
	 * never complete. Either way the stream has lost its framing. */
	if (n < WIRE_HDR_LEN || n > max)
		return TCPFRAME_BAD;
	if (len - 2 < n)
		return TCPFRAME_MORE;
	*flen = n;
	return TCPFRAME_FRAME;
}
