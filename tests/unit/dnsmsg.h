/* SPDX-License-Identifier: MIT
 * dnsmsg.h -- test helpers: build a query, and parse a reply into plain
 * structs with wire.c, so answer tests can assert on records. */
#ifndef SRVSHIM_TEST_DNSMSG_H
#define SRVSHIM_TEST_DNSMSG_H

#include "testutil.h"

#include "wire.h"

struct trr {
	char owner[300];
	uint16_t type, klass;
	uint32_t ttl;
	uint16_t rdlen;
	size_t rdata; /* offset in the message */
};

struct tmsg {
	struct wire_hdr h;
	char qname[300];
	uint16_t qtype, qclass;
	struct trr rr[4200];
	size_t count; /* an + ns + ar */
};

/* Builds a query for name (text) into buf; edns_size 0 means no OPT. */
static inline size_t
tq_build(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype,
	 uint16_t qclass, uint16_t edns_size)
{
	struct wire_cur c;
	struct wire_hdr h = {.id = id, .flags = WIRE_F_RD, .qdcount = 1,
			     .arcount = edns_size ? 1 : 0};
	wire_cur_init(&c, buf, 512);
	wire_write_hdr(&c, &h);
	/* keep the caller's case: build labels by hand */
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		wire_put_u8(&c, (uint8_t)l);
		wire_put_bytes(&c, p, l);
		p += l + (dot ? 1 : 0);
	}
	wire_put_u8(&c, 0);
	wire_put_u16(&c, qtype);
	wire_put_u16(&c, qclass);
	if (edns_size) {
		wire_put_u8(&c, 0);
		wire_put_u16(&c, WIRE_TYPE_OPT);
		wire_put_u16(&c, edns_size);
		wire_put_u32(&c, 0);
		wire_put_u16(&c, 0);
	}
	assert_int_equal(c.err, 0);
	return c.pos;
}

/* Parses a reply; fails the test when it is not well-formed. */
static inline void
tm_parse(const uint8_t *buf, size_t len, struct tmsg *m)
{
	struct wire_cur c;
	uint8_t name[WIRE_NAME_MAX];
	int n;

	memset(m, 0, sizeof(*m));
	wire_cur_init(&c, buf, len);
	assert_int_equal(wire_read_hdr(&c, &m->h), 0);
	if (m->h.qdcount == 1) {
		n = wire_read_name(&c, name, false);
		assert_true(n > 0);
		wire_name_to_text(name, (size_t)n, m->qname, sizeof(m->qname));
		m->qtype = wire_get_u16(&c);
		m->qclass = wire_get_u16(&c);
	}
	m->count = (size_t)m->h.ancount + m->h.nscount + m->h.arcount;
	assert_true(m->count <= 4200);
	for (size_t i = 0; i < m->count; i++) {
		struct trr *r = &m->rr[i];
		n = wire_read_name(&c, name, false);
		assert_true(n > 0);
		wire_name_to_text(name, (size_t)n, r->owner, sizeof(r->owner));
		r->type = wire_get_u16(&c);
		r->klass = wire_get_u16(&c);
		r->ttl = wire_get_u32(&c);
		r->rdlen = wire_get_u16(&c);
		r->rdata = c.pos;
		wire_skip(&c, r->rdlen);
		assert_int_equal(c.err, 0);
	}
	assert_int_equal(c.pos, len); /* nothing after the last record */
}

/* Reads a (possibly compressed) name inside RDATA at offset pos. */
static inline void
tm_name_at(const uint8_t *buf, size_t len, size_t pos, char *out, size_t outlen)
{
	struct wire_cur c;
	uint8_t name[WIRE_NAME_MAX];
	wire_cur_init(&c, buf, len);
	c.pos = pos;
	int n = wire_read_name(&c, name, false);
	assert_true(n > 0);
	wire_name_to_text(name, (size_t)n, out, outlen);
}

#endif
