/* SPDX-License-Identifier: MIT
 * relay.c -- message surgery for forwarded queries and their replies.
 * Owns:    nothing stateful; every function works on the caller's bytes.
 * Never:   I/O, allocation, c-ares.
 * Start reading at relay_reply().
 *
 * A reply is relayed record by record, verbatim except for the TTL field:
 * compression pointers in the upstream's records point at offsets of the
 * upstream message, and they stay right because our copy keeps the same
 * layout: a 12-byte header, a question of the same length (the client's
 * bytes, which differ at most in letter case, 0x20), then the same records
 * in the same order. Only the OPT record is dropped, and it is (by every
 * server we know) the last; records after an OPT that is not last are
 * additional data and are left out rather than shifted. */
#include "config_feat.h"

#include <string.h>

#include "relay.h"
#include "util.h"

#define OPT_LEN 11 /* root name, type, class, ttl, rdlen */

/* Reads the OPT record's options starting at rdata[0..rdlen). */
static int
read_opt_options(const uint8_t *rd, size_t rdlen, struct relay_query *rq)
{
	size_t p = 0;
	while (p < rdlen) {
		if (rdlen - p < 4)
			return -SRV_EFORMAT;
		uint16_t code = (uint16_t)(rd[p] << 8 | rd[p + 1]);
		size_t olen = (size_t)(rd[p + 2] << 8 | rd[p + 3]);
		if (rdlen - p - 4 < olen)
			return -SRV_EFORMAT;
		if (code == RELAY_LOOP_OPT) {
			/* Only whole tags count; a longer list than we
			 * keep is itself a loop sign (RELAY_MAX_HOPS). */
			size_t n = olen / RELAY_TAG_LEN;
			for (size_t i = 0; i < n; i++) {
				if (rq->tag_count == RELAY_MAX_HOPS)
					break;
				memcpy(rq->tags[rq->tag_count++],
				       rd + p + 4 + i * RELAY_TAG_LEN,
				       RELAY_TAG_LEN);
			}
		}
		p += 4 + olen;
	}
	return 0;
}

int
relay_parse_query(const uint8_t *q, size_t len, struct relay_query *rq)
{
	struct wire_cur c;
	struct wire_hdr h;
	int n;

	memset(rq, 0, sizeof(*rq));
	rq->udp_size = WIRE_UDP_MIN;
	wire_cur_init(&c, q, len);
	if (wire_read_hdr(&c, &h) != 0 || (h.flags & WIRE_F_QR) ||
	    h.qdcount != 1)
		return -SRV_EFORMAT;
	rq->id = h.id;
	rq->flags = h.flags;
	n = wire_read_name(&c, rq->name, true);
	if (n < 0 || c.pos != WIRE_HDR_LEN + (size_t)n)
		return -SRV_EFORMAT; /* a compressed question cannot be echoed */
	rq->name_len = (size_t)n;
	rq->qtype = wire_get_u16(&c);
	rq->qclass = wire_get_u16(&c);
	if (c.err)
		return -SRV_EFORMAT;
	rq->question = q + WIRE_HDR_LEN;
	rq->question_len = c.pos - WIRE_HDR_LEN;

	unsigned total = (unsigned)h.ancount + h.nscount + h.arcount;
	for (unsigned i = 0; i < total; i++) {
		bool additional = i >= (unsigned)h.ancount + h.nscount;
		size_t start = c.pos, rdpos = 0;
		uint16_t type, klass, rdlen;
		uint32_t ttl;

		if (wire_skip_rr(&c, &type, &klass, &ttl, &rdlen, &rdpos) != 0)
			return -SRV_EFORMAT;
		if (type != WIRE_TYPE_OPT)
			continue;
		if (!additional || rq->edns || q[start] != 0)
			return -SRV_EFORMAT; /* RFC 6891 6.1.1 */
		rq->edns = true;
		rq->udp_size = klass < WIRE_UDP_MIN ? WIRE_UDP_MIN : klass;
		rq->do_bit = (ttl & WIRE_OPT_DO) != 0;
		if (read_opt_options(q + rdpos, rdlen, rq) != 0)
			return -SRV_EFORMAT;
	}
	return 0;
}

bool
relay_is_loop(const struct relay_query *rq,
	      const uint8_t own_tag[RELAY_TAG_LEN])
{
	if (rq->tag_count >= RELAY_MAX_HOPS)
		return true;
	for (size_t i = 0; i < rq->tag_count; i++)
		if (memcmp(rq->tags[i], own_tag, RELAY_TAG_LEN) == 0)
			return true;
	return false;
}

size_t
relay_limit(const struct relay_query *rq, bool is_tcp, uint16_t edns_size)
{
	if (is_tcp)
		return WIRE_MSG_MAX;
	if (!rq->edns)
		return WIRE_UDP_MIN;
	return MIN((size_t)rq->udp_size,
		   (size_t)MAX(edns_size, (uint16_t)WIRE_UDP_MIN));
}

size_t
relay_upstream_query(const struct relay_query *rq, uint16_t id,
		     uint16_t edns_size, const uint8_t own_tag[RELAY_TAG_LEN],
		     uint8_t *out, size_t cap)
{
	struct wire_cur c;
	size_t tags = rq->tag_count + 1;
	struct wire_hdr h = {
	    .id = id,
	    .flags = (uint16_t)(rq->flags & (WIRE_F_RD | WIRE_F_CD)),
	    .qdcount = 1,
	    .arcount = 1,
	};

	wire_cur_init(&c, out, cap);
	wire_write_hdr(&c, &h);
	wire_put_bytes(&c, rq->question, rq->question_len);
	/* OPT (RFC 6891 6.1.2): our size, DO as the client asked. */
	wire_put_u8(&c, 0);
	wire_put_u16(&c, WIRE_TYPE_OPT);
	wire_put_u16(&c, MAX(edns_size, (uint16_t)WIRE_UDP_MIN));
	wire_put_u32(&c, rq->do_bit ? WIRE_OPT_DO : 0);
	wire_put_u16(&c, (uint16_t)(4 + tags * RELAY_TAG_LEN));
	wire_put_u16(&c, RELAY_LOOP_OPT);
	wire_put_u16(&c, (uint16_t)(tags * RELAY_TAG_LEN));
	for (size_t i = 0; i < rq->tag_count; i++)
		wire_put_bytes(&c, rq->tags[i], RELAY_TAG_LEN);
	wire_put_bytes(&c, own_tag, RELAY_TAG_LEN);
	return c.err ? 0 : c.pos;
}

/* Reads the upstream header and question and checks they answer rq.
 * Leaves c after the question. */
static int
check_reply(struct wire_cur *c, struct wire_hdr *h,
	    const struct relay_query *rq)
{
	uint8_t name[WIRE_NAME_MAX];
	if (wire_read_hdr(c, h) != 0 || !(h->flags & WIRE_F_QR) ||
	    h->qdcount != 1)
		return -SRV_EPROTO;
	int n = wire_read_name(c, name, true);
	uint16_t qtype = wire_get_u16(c);
	uint16_t qclass = wire_get_u16(c);
	if (n < 0 || c->err || (size_t)n != rq->name_len ||
	    c->pos != WIRE_HDR_LEN + rq->question_len ||
	    memcmp(name, rq->name, rq->name_len) != 0 || qtype != rq->qtype ||
	    qclass != rq->qclass)
		return -SRV_EPROTO;
	return 0;
}

int
relay_reply(const uint8_t *up, size_t uplen, const struct relay_query *rq,
	    uint32_t ttl_max, uint32_t age_s, uint16_t edns_size, size_t limit,
	    uint8_t *out, size_t cap, bool *truncated)
{
	struct wire_cur c;
	struct wire_hdr h;
	uint16_t counts[3] = {0, 0, 0};
	uint8_t ext_rcode = 0;
	bool tc = false, stop = false;

	*truncated = false;
	wire_cur_init(&c, up, uplen);
	if (check_reply(&c, &h, rq) != 0)
		return -SRV_EPROTO;
	limit = MIN(limit, cap);
	size_t room = limit - (rq->edns ? OPT_LEN : 0);
	size_t pos = WIRE_HDR_LEN + rq->question_len;
	if (room < pos)
		return -SRV_EPROTO; /* cannot happen: cap >= 512 */
	memcpy(out + WIRE_HDR_LEN, rq->question, rq->question_len);

	unsigned sec_count[3] = {h.ancount, h.nscount, h.arcount};
	for (unsigned s = 0; s < 3 && !stop; s++) {
		for (unsigned i = 0; i < sec_count[s]; i++) {
			size_t start = c.pos, rdpos;
			uint16_t type, klass, rdlen;
			uint32_t ttl;
			if (wire_skip_rr(&c, &type, &klass, &ttl, &rdlen,
					 &rdpos) != 0)
				return -SRV_EPROTO;
			if (type == WIRE_TYPE_OPT) {
				if (s != 2)
					return -SRV_EPROTO;
				ext_rcode = (uint8_t)(ttl >> 24);
				/* Records after a non-final OPT would
				 * shift: leave them out (see the top). */
				stop = true;
				break;
			}
			size_t rlen = c.pos - start;
			if (pos + rlen > room) {
				tc = s < 2; /* RFC 2181 9 */
				stop = true;
				break;
			}
			memcpy(out + pos, up + start, rlen);
			size_t ttl_at = pos + (rdpos - start) - 6;
			if (ttl & 0x80000000u) /* RFC 2181 8: treat as 0 */
				ttl = 0;
			ttl = MIN(ttl, ttl_max);
			uint32_t aged = ttl > age_s ? ttl - age_s : 0;
			wire_put_u16_at(out, ttl_at, (uint16_t)(aged >> 16));
			wire_put_u16_at(out, ttl_at + 2, (uint16_t)aged);
			pos += rlen;
			counts[s]++;
		}
	}

	uint16_t rcode = (uint16_t)(h.flags & WIRE_F_RCODE);
	if (rq->edns) {
		struct wire_cur o;
		wire_cur_init(&o, out + pos, OPT_LEN);
		wire_put_u8(&o, 0);
		wire_put_u16(&o, WIRE_TYPE_OPT);
		wire_put_u16(&o, MAX(edns_size, (uint16_t)WIRE_UDP_MIN));
		wire_put_u32(&o, (uint32_t)ext_rcode << 24 |
				     (rq->do_bit ? WIRE_OPT_DO : 0));
		wire_put_u16(&o, 0);
		pos += OPT_LEN;
		counts[2]++;
	} else if (ext_rcode != 0) {
		/* An extended rcode the client cannot see: say failure. */
		rcode = WIRE_RCODE_SERVFAIL;
	}
	tc = tc || (h.flags & WIRE_F_TC);
	struct wire_hdr oh = {
	    .id = rq->id,
	    .flags = (uint16_t)(WIRE_F_QR | WIRE_F_RA |
				(h.flags & (WIRE_F_OPCODE | WIRE_F_AA |
					    WIRE_F_AD)) |
				(rq->flags & (WIRE_F_RD | WIRE_F_CD)) |
				(tc ? WIRE_F_TC : 0) | (rcode & WIRE_F_RCODE)),
	    .qdcount = 1,
	    .ancount = counts[0],
	    .nscount = counts[1],
	    .arcount = counts[2],
	};
	struct wire_cur hc;
	wire_cur_init(&hc, out, WIRE_HDR_LEN);
	wire_write_hdr(&hc, &oh);
	*truncated = tc;
	return (int)pos;
}

uint32_t
relay_cache_ttl(const uint8_t *up, size_t uplen, uint32_t max_s)
{
	struct wire_cur c;
	struct wire_hdr h;
	uint32_t min = UINT32_MAX;
	bool soa = false;

	wire_cur_init(&c, up, uplen);
	if (wire_read_hdr(&c, &h) != 0 || !(h.flags & WIRE_F_QR) ||
	    (h.flags & WIRE_F_TC) || h.qdcount != 1)
		return 0;
	uint16_t rcode = h.flags & WIRE_F_RCODE;
	if (rcode != WIRE_RCODE_NOERROR && rcode != WIRE_RCODE_NXDOMAIN)
		return 0;
	bool negative = rcode == WIRE_RCODE_NXDOMAIN || h.ancount == 0;
	uint8_t name[WIRE_NAME_MAX];
	if (wire_read_name(&c, name, false) < 0)
		return 0;
	wire_skip(&c, 4);
	unsigned total = (unsigned)h.ancount + h.nscount + h.arcount;
	for (unsigned i = 0; i < total; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;
		size_t rdpos;
		if (wire_skip_rr(&c, &type, NULL, &ttl, &rdlen, &rdpos) != 0)
			return 0;
		if (type == WIRE_TYPE_OPT)
			continue;
		if (ttl & 0x80000000u)
			ttl = 0;
		bool in_ns = i >= h.ancount && i < (unsigned)h.ancount + h.nscount;
		if (type == WIRE_TYPE_SOA && in_ns && negative) {
			/* RFC 2308 5: min(SOA TTL, SOA MINIMUM). MINIMUM is
			 * the last 4 bytes of the RDATA. */
			if (rdlen < 22)
				return 0;
			uint32_t m = (uint32_t)up[rdpos + rdlen - 4] << 24 |
				     (uint32_t)up[rdpos + rdlen - 3] << 16 |
				     (uint32_t)up[rdpos + rdlen - 2] << 8 |
				     up[rdpos + rdlen - 1];
			ttl = MIN(ttl, m);
			soa = true;
		}
		min = MIN(min, ttl);
	}
	if (negative && !soa)
		return 0; /* RFC 2308 5: no SOA, no negative caching */
	if (min == UINT32_MAX)
		return 0;
	return MIN(min, max_s);
}

size_t
relay_cache_key(const struct relay_query *rq, uint8_t out[RELAY_KEY_MAX])
{
	memcpy(out, rq->name, rq->name_len);
	size_t p = rq->name_len;
	out[p++] = (uint8_t)(rq->qtype >> 8);
	out[p++] = (uint8_t)rq->qtype;
	out[p++] = (uint8_t)(rq->qclass >> 8);
	out[p++] = (uint8_t)rq->qclass;
	/* Not RD: the answer does not depend on it, for a forwarder. */
	out[p++] = (uint8_t)(((rq->flags & WIRE_F_CD) ? 2 : 0) |
			     (rq->do_bit ? 4 : 0));
	return p;
}

size_t
relay_error(const uint8_t *q, size_t qlen, uint16_t rcode, bool ra,
	    uint16_t edns_size, uint8_t *out, size_t cap)
{
	struct relay_query rq;
	struct wire_cur c;
	struct wire_hdr qh;

	wire_cur_init(&c, q, qlen);
	if (qlen < WIRE_HDR_LEN || wire_read_hdr(&c, &qh) != 0 ||
	    (qh.flags & WIRE_F_QR) || cap < WIRE_UDP_MIN)
		return 0;
	bool parsed = relay_parse_query(q, qlen, &rq) == 0;
	struct wire_hdr h = {
	    .id = qh.id,
	    .flags = (uint16_t)(WIRE_F_QR |
				(qh.flags & (WIRE_F_OPCODE | WIRE_F_RD |
					     WIRE_F_CD)) |
				(ra ? WIRE_F_RA : 0) | (rcode & WIRE_F_RCODE)),
	    .qdcount = parsed ? 1 : 0,
	    .arcount = parsed && rq.edns ? 1 : 0,
	};
	wire_cur_init(&c, out, cap);
	wire_write_hdr(&c, &h);
	if (parsed) {
		wire_put_bytes(&c, rq.question, rq.question_len);
		if (rq.edns) {
			wire_put_u8(&c, 0);
			wire_put_u16(&c, WIRE_TYPE_OPT);
			wire_put_u16(&c, MAX(edns_size, (uint16_t)WIRE_UDP_MIN));
			wire_put_u32(&c, (uint32_t)(rcode >> 4) << 24);
			wire_put_u16(&c, 0);
		}
	}
	return c.err ? 0 : c.pos;
}

size_t
relay_truncated(const uint8_t *q, size_t qlen, const uint8_t *reply,
		size_t rlen, uint16_t edns_size, uint8_t *out, size_t cap)
{
	uint16_t flags;
	size_t n;

	if (rlen < WIRE_HDR_LEN)
		return 0;
	flags = (uint16_t)(reply[2] << 8 | reply[3]);
	n = relay_error(q, qlen, flags & WIRE_F_RCODE,
			(flags & WIRE_F_RA) != 0, edns_size, out, cap);
	if (n < WIRE_HDR_LEN)
		return 0;
	wire_put_u16_at(out, 2, (uint16_t)(((out[2] << 8) | out[3]) |
					   WIRE_F_TC | (flags & WIRE_F_AA)));
	return n;
}
