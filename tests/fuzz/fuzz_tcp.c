/* SPDX-License-Identifier: MIT
 * fuzz_tcp.c -- any bytes as a DNS-over-TCP stream, cut into arbitrary
 *               reads: framing (tcpframe.c) and then each message answered.
 * Owns:    nothing. Input: byte 0 seeds how the rest (the stream) is cut
 *          into reads; the stream is framed once whole and once read by
 *          read as frontend.c does (a fixed 2 + 4096 byte buffer, frames
 *          consumed as they complete), and both must agree frame for frame.
 * Never:   I/O. Seeds: tests/fuzz/corpus/tcp/.
 * Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "tcpframe.h"
#include "wire.h"

#include "fuzzcheck.h"

#define MAX_FRAMES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct framing {
	size_t off[MAX_FRAMES], len[MAX_FRAMES]; /* into the stream */
	size_t count;
	bool bad; /* ended on a frame that closes the connection */
};

/* The reference: the whole stream at once. */
static void
frame_whole(const uint8_t *s, size_t n, struct framing *f)
{
	size_t off = 0, flen;
	memset(f, 0, sizeof(*f));
	while (f->count < MAX_FRAMES) {
		enum tcpframe_result r =
		    tcpframe_next(s + off, n - off, TCPFRAME_IN_MAX, &flen);
		if (r == TCPFRAME_MORE)
			return;
		if (r == TCPFRAME_BAD) {
			f->bad = true;
			return;
		}
		CHECK(flen >= WIRE_HDR_LEN && flen <= TCPFRAME_IN_MAX);
		CHECK(off + 2 + flen <= n);
		f->off[f->count] = off + 2;
		f->len[f->count++] = flen;
		off += 2 + flen;
	}
}

/* As frontend.c's conn_read()/conn_process(): reads of varying size into
 * a fixed buffer, complete frames consumed after each read. */
static void
frame_chunked(const uint8_t *s, size_t n, uint8_t seed, struct framing *f)
{
	static uint8_t in[2 + TCPFRAME_IN_MAX];
	size_t in_len = 0, fed = 0, consumed = 0, flen;
	uint32_t x = seed | 1u;

	memset(f, 0, sizeof(*f));
	while (fed < n && f->count < MAX_FRAMES) {
		/* a read of 1..64 bytes, or whatever fits when seed is 0 */
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		size_t want = seed ? 1 + x % 64 : sizeof(in);
		size_t room = sizeof(in) - in_len;
		/* the buffer never fills with a frame still incomplete: the
		 * largest frame we accept is exactly its size */
		CHECK(room > 0);
		size_t k = MIN(MIN(want, room), n - fed);
		memcpy(in + in_len, s + fed, k);
		in_len += k;
		fed += k;

		size_t off = 0;
		for (;;) {
			enum tcpframe_result r = tcpframe_next(
			    in + off, in_len - off, TCPFRAME_IN_MAX, &flen);
			if (r == TCPFRAME_MORE)
				break;
			if (r == TCPFRAME_BAD) {
				f->bad = true;
				return;
			}
			f->off[f->count] = consumed + off + 2;
			f->len[f->count++] = flen;
			CHECK(memcmp(in + off + 2, s + consumed + off + 2,
				     flen) == 0);
			off += 2 + flen;
			if (f->count == MAX_FRAMES)
				return;
		}
		memmove(in, in + off, in_len - off);
		in_len -= off;
		consumed += off;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct framing whole, chunked;
	static const struct answer_cfg cfg = {.edns_size = 1232};

	if (size < 1)
		return 0;
	const uint8_t *s = data + 1;
	size_t n = size - 1;

	frame_whole(s, n, &whole);
	frame_chunked(s, n, data[0], &chunked);
	CHECK(whole.count == chunked.count);
	CHECK(whole.bad == chunked.bad);
	for (size_t i = 0; i < whole.count; i++) {
		CHECK(whole.off[i] == chunked.off[i]);
		CHECK(whole.len[i] == chunked.len[i]);
		fuzz_answer_checked(fuzz_zone(), &cfg, s + whole.off[i],
				    whole.len[i], true);
	}
	return 0;
}
