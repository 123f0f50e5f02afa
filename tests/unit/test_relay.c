/* SPDX-License-Identifier: MIT
 * test_relay.c -- forwarded messages: reading the client's query, the
 * upstream query (fresh ID, loop marker), relaying the reply (client ID and
 * question bytes, size and TC, OPT, TTL aging), cache lifetimes (RFC 2308)
 * and error replies. */
#include "dnsmsg.h"

#include "relay.h"

static const uint8_t OWN[RELAY_TAG_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

/* An upstream reply: id, the question (name as given), n A records with
 * ttl (owner 0xC00C), optionally a SOA in authority, optionally an OPT. */
struct up {
	uint16_t id, rcode, flags;
	const char *name;
	unsigned n;
	uint32_t ttl;
	bool soa;
	uint32_t soa_ttl, soa_min;
	bool opt;
	uint8_t ext_rcode;
};

static size_t
up_build(uint8_t *buf, size_t cap, const struct up *u)
{
	uint8_t q[600];
	size_t ql = tq_build(q, u->id, u->name, WIRE_TYPE_A, WIRE_CLASS_IN, 0);
	struct wire_cur c;
	struct wire_hdr h = {.id = u->id,
			     .flags = (uint16_t)(WIRE_F_QR | WIRE_F_RD |
						 WIRE_F_RA | u->flags | u->rcode),
			     .qdcount = 1,
			     .ancount = (uint16_t)u->n,
			     .nscount = u->soa ? 1 : 0,
			     .arcount = u->opt ? 1 : 0};
	wire_cur_init(&c, buf, cap);
	wire_write_hdr(&c, &h);
	wire_put_bytes(&c, q + WIRE_HDR_LEN, ql - WIRE_HDR_LEN);
	for (unsigned i = 0; i < u->n; i++) {
		wire_put_u16(&c, 0xc00c);
		wire_put_u16(&c, WIRE_TYPE_A);
		wire_put_u16(&c, WIRE_CLASS_IN);
		wire_put_u32(&c, u->ttl);
		wire_put_u16(&c, 4);
		wire_put_u32(&c, 0xc6336400u + i); /* 198.51.100.i */
	}
	if (u->soa) {
		wire_put_u16(&c, 0xc00c);
		wire_put_u16(&c, WIRE_TYPE_SOA);
		wire_put_u16(&c, WIRE_CLASS_IN);
		wire_put_u32(&c, u->soa_ttl);
		wire_put_u16(&c, 2 + 2 + 20);
		wire_put_u16(&c, 0xc00c); /* mname */
		wire_put_u16(&c, 0xc00c); /* rname */
		wire_put_u32(&c, 1);
		wire_put_u32(&c, 3600);
		wire_put_u32(&c, 600);
		wire_put_u32(&c, 86400);
		wire_put_u32(&c, u->soa_min);
	}
	if (u->opt) {
		wire_put_u8(&c, 0);
		wire_put_u16(&c, WIRE_TYPE_OPT);
		wire_put_u16(&c, 4096);
		wire_put_u32(&c, (uint32_t)u->ext_rcode << 24);
		wire_put_u16(&c, 0);
	}
	assert_int_equal(c.err, 0);
	return c.pos;
}

/* A client query with an OPT carrying tag_count loop tags (0..) and DO. */
static size_t
client_query(uint8_t *buf, uint16_t id, const char *name, uint16_t edns,
	     size_t tag_count, bool do_bit)
{
	size_t len = tq_build(buf, id, name, WIRE_TYPE_A, WIRE_CLASS_IN, 0);
	if (edns == 0)
		return len;
	struct wire_cur c;
	wire_cur_init(&c, buf, 1024);
	c.pos = len;
	wire_put_u8(&c, 0);
	wire_put_u16(&c, WIRE_TYPE_OPT);
	wire_put_u16(&c, edns);
	wire_put_u32(&c, do_bit ? WIRE_OPT_DO : 0);
	size_t olen = tag_count * RELAY_TAG_LEN;
	wire_put_u16(&c, (uint16_t)(tag_count ? 4 + olen : 0));
	if (tag_count) {
		wire_put_u16(&c, RELAY_LOOP_OPT);
		wire_put_u16(&c, (uint16_t)olen);
		for (size_t i = 0; i < olen; i++)
			wire_put_u8(&c, (uint8_t)(0xa0 + i));
	}
	wire_put_u16_at(buf, 10, 1); /* arcount */
	assert_int_equal(c.err, 0);
	return c.pos;
}

static void
test_parse_query_reads_edns_and_loop_tags(void **state)
{
	(void)state;
	uint8_t q[600];
	struct relay_query rq;
	size_t len = client_query(q, 42, "WwW.Example.COM", 1400, 2, true);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	assert_int_equal(rq.id, 42);
	assert_true(rq.edns && rq.do_bit);
	assert_int_equal(rq.udp_size, 1400);
	assert_int_equal(rq.tag_count, 2);
	assert_int_equal(rq.tags[1][0], 0xa8);
	assert_memory_equal(rq.name, "\3www\7example\3com", 17);
	assert_memory_equal(rq.question, "\3WwW", 4); /* as sent */
	assert_int_equal(rq.question_len, 17 + 4);
	assert_false(relay_is_loop(&rq, OWN));

	/* a reply is not a query */
	q[2] |= 0x80;
	assert_int_equal(relay_parse_query(q, len, &rq), -SRV_EFORMAT);
}

static void
test_loop_is_own_tag_or_hop_limit(void **state)
{
	(void)state;
	uint8_t q[600];
	struct relay_query rq;
	size_t len = client_query(q, 1, "a.b", 1232, RELAY_MAX_HOPS, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	assert_true(relay_is_loop(&rq, OWN)); /* too many hops */

	len = client_query(q, 1, "a.b", 1232, 1, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	assert_false(relay_is_loop(&rq, OWN));
	uint8_t theirs[RELAY_TAG_LEN];
	memcpy(theirs, rq.tags[0], RELAY_TAG_LEN);
	assert_true(relay_is_loop(&rq, theirs)); /* their own came back */
}

static void
test_upstream_query_carries_marker_and_question(void **state)
{
	(void)state;
	uint8_t q[600], up[600];
	struct relay_query rq, back;
	size_t len = client_query(q, 7, "Mixed.Case", 1232, 1, true);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	size_t ulen = relay_upstream_query(&rq, 0x9999, 1232, OWN, up,
					   sizeof(up));
	assert_true(ulen > 0);
	/* srvshim reading its own upstream query sees two tags, ours last */
	assert_int_equal(relay_parse_query(up, ulen, &back), 0);
	assert_int_equal(back.id, 0x9999);
	assert_true(back.flags & WIRE_F_RD);
	assert_true(back.edns && back.do_bit);
	assert_int_equal(back.udp_size, 1232);
	assert_int_equal(back.tag_count, 2);
	assert_memory_equal(back.tags[1], OWN, RELAY_TAG_LEN);
	assert_true(relay_is_loop(&back, OWN));
	assert_int_equal(back.question_len, rq.question_len);
	assert_memory_equal(back.question, rq.question, rq.question_len);
	/* too small a buffer: 0, never a partial query */
	assert_int_equal(relay_upstream_query(&rq, 1, 1232, OWN, up, 20), 0);
}

static void
test_reply_restores_client_id_and_question_bytes(void **state)
{
	(void)state;
	uint8_t q[600], up[2048], out[4096];
	struct relay_query rq;
	struct tmsg *m = malloc(sizeof(*m));
	bool tc;
	size_t len = client_query(q, 0x0707, "WwW.ExAmPle", 0, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	struct up u = {.id = 0x1111, .name = "www.example", .n = 2,
		       .ttl = 300, .opt = true};
	size_t ulen = up_build(up, sizeof(up), &u);
	int n = relay_reply(up, ulen, &rq, UINT32_MAX, 0, 1232,
			    relay_limit(&rq, false, 1232), out, sizeof(out), &tc);
	assert_true(n > 0);
	assert_false(tc);
	tm_parse(out, (size_t)n, m);
	assert_int_equal(m->h.id, 0x0707);
	assert_true(m->h.flags & WIRE_F_RA);
	assert_memory_equal(out + WIRE_HDR_LEN, q + WIRE_HDR_LEN,
			    rq.question_len);
	assert_int_equal(m->h.ancount, 2);
	assert_int_equal(m->h.arcount, 0); /* the upstream's OPT is gone */
	assert_string_equal(m->rr[0].owner, "WwW.ExAmPle.");
	assert_int_equal(m->rr[1].ttl, 300);
	free(m);
}

static void
test_reply_truncates_whole_records_with_tc(void **state)
{
	(void)state;
	uint8_t q[600], up[4096], out[4096];
	struct relay_query rq;
	struct tmsg *m = malloc(sizeof(*m));
	bool tc;
	size_t len = client_query(q, 5, "big.example", 0, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	struct up u = {.id = 9, .name = "big.example", .n = 60, .ttl = 60,
		       .opt = true};
	size_t ulen = up_build(up, sizeof(up), &u);
	int n = relay_reply(up, ulen, &rq, UINT32_MAX, 0, 1232,
			    relay_limit(&rq, false, 1232), out, sizeof(out), &tc);
	assert_true(n > 0 && n <= 512);
	assert_true(tc);
	tm_parse(out, (size_t)n, m);
	assert_true(m->h.flags & WIRE_F_TC);
	/* 12 + 17 question bytes, then 16-byte records: 30 fit in 512 */
	assert_int_equal(m->h.ancount, (512 - 12 - 17) / 16);

	/* the same reply to an EDNS client of 4096 fits whole (our 1232) */
	len = client_query(q, 5, "big.example", 4096, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	n = relay_reply(up, ulen, &rq, UINT32_MAX, 0, 1232,
			relay_limit(&rq, false, 1232), out, sizeof(out), &tc);
	assert_false(tc);
	tm_parse(out, (size_t)n, m);
	assert_int_equal(m->h.ancount, 60);
	assert_int_equal(m->rr[60].type, WIRE_TYPE_OPT); /* ours, last */
	assert_int_equal(m->rr[60].klass, 1232);
	free(m);
}

static void
test_reply_ages_and_caps_ttls(void **state)
{
	(void)state;
	uint8_t q[600], up[2048], out[4096];
	struct relay_query rq;
	struct tmsg *m = malloc(sizeof(*m));
	bool tc;
	size_t len = client_query(q, 5, "nx.example", 0, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	struct up u = {.id = 9, .name = "nx.example",
		       .rcode = WIRE_RCODE_NXDOMAIN, .soa = true,
		       .soa_ttl = 3600, .soa_min = 60};
	size_t ulen = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, ulen, 86400), 60);
	int n = relay_reply(up, ulen, &rq, 60, 25, 1232, 512, out,
			    sizeof(out), &tc);
	assert_true(n > 0);
	tm_parse(out, (size_t)n, m);
	assert_int_equal(m->h.flags & WIRE_F_RCODE, WIRE_RCODE_NXDOMAIN);
	assert_int_equal(m->rr[0].ttl, 35); /* min(3600, 60) - 25 */
	n = relay_reply(up, ulen, &rq, 60, 90, 1232, 512, out, sizeof(out),
			&tc);
	tm_parse(out, (size_t)n, m);
	assert_int_equal(m->rr[0].ttl, 0); /* never below zero */
	free(m);
}

static void
test_reply_to_another_question_is_rejected(void **state)
{
	(void)state;
	uint8_t q[600], up[2048], out[4096];
	struct relay_query rq;
	bool tc;
	size_t len = client_query(q, 5, "asked.example", 0, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	struct up u = {.id = 9, .name = "other.example", .n = 1, .ttl = 5};
	size_t ulen = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_reply(up, ulen, &rq, UINT32_MAX, 0, 1232, 512,
				     out, sizeof(out), &tc),
			 -SRV_EPROTO);
	/* a truncated upstream message too */
	u.name = "asked.example";
	ulen = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_reply(up, ulen - 3, &rq, UINT32_MAX, 0, 1232,
				     512, out, sizeof(out), &tc),
			 -SRV_EPROTO);
}

static void
test_cache_ttl_rules(void **state)
{
	(void)state;
	uint8_t up[2048];
	struct up u = {.id = 1, .name = "a.example", .n = 3, .ttl = 120,
		       .opt = true};
	size_t len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 120);
	assert_int_equal(relay_cache_ttl(up, len, 30), 30); /* capped */

	u.n = 0; /* NODATA without SOA: not cacheable (RFC 2308 5) */
	len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 0);
	u.soa = true, u.soa_ttl = 20, u.soa_min = 300;
	len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 20);

	u.rcode = WIRE_RCODE_SERVFAIL;
	len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 0);
	u.rcode = 0, u.n = 2, u.flags = WIRE_F_TC;
	len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 0);
	u.flags = 0, u.ttl = 0;
	len = up_build(up, sizeof(up), &u);
	assert_int_equal(relay_cache_ttl(up, len, 86400), 0);
}

static void
test_cache_key_ignores_case_and_rd(void **state)
{
	(void)state;
	uint8_t q[600], k1[RELAY_KEY_MAX], k2[RELAY_KEY_MAX];
	struct relay_query rq;
	size_t len = client_query(q, 1, "CaSe.Example", 0, 0, false);
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	size_t l1 = relay_cache_key(&rq, k1);
	len = client_query(q, 2, "case.example", 1232, 0, false);
	q[2] &= (uint8_t)~0x01; /* RD off */
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	size_t l2 = relay_cache_key(&rq, k2);
	assert_int_equal(l1, l2);
	assert_memory_equal(k1, k2, l1);
	len = client_query(q, 2, "case.example", 1232, 0, true); /* DO */
	assert_int_equal(relay_parse_query(q, len, &rq), 0);
	relay_cache_key(&rq, k2);
	assert_memory_not_equal(k1, k2, l1);
}

static void
test_error_reply_echoes_question_and_opt(void **state)
{
	(void)state;
	uint8_t q[600], out[600];
	struct tmsg *m = malloc(sizeof(*m));
	size_t len = client_query(q, 0x3131, "Refused.Example", 1232, 0, false);
	size_t n = relay_error(q, len, WIRE_RCODE_REFUSED, false, 1232, out,
			       sizeof(out));
	tm_parse(out, n, m);
	assert_int_equal(m->h.id, 0x3131);
	assert_int_equal(m->h.flags & WIRE_F_RCODE, WIRE_RCODE_REFUSED);
	assert_false(m->h.flags & WIRE_F_RA);
	assert_true(m->h.flags & WIRE_F_QR);
	assert_string_equal(m->qname, "Refused.Example.");
	assert_int_equal(m->h.ancount + m->h.nscount, 0);
	assert_int_equal(m->h.arcount, 1);
	assert_int_equal(m->rr[0].type, WIRE_TYPE_OPT);

	/* garbage after the header: a bare header, still with its ID */
	static const uint8_t junk[] = {0xab, 0xcd, 0x01, 0, 0, 1, 0, 0,
				       0, 0, 0, 0, 0x3f};
	n = relay_error(junk, sizeof(junk), WIRE_RCODE_SERVFAIL, true, 1232,
			out, sizeof(out));
	assert_int_equal(n, WIRE_HDR_LEN);
	tm_parse(out, n, m);
	assert_int_equal(m->h.id, 0xabcd);
	assert_true(m->h.flags & WIRE_F_RA);
	/* a reply (QR) or a runt is never answered */
	q[2] |= 0x80;
	assert_int_equal(relay_error(q, len, 5, false, 1232, out, sizeof(out)),
			 0);
	assert_int_equal(relay_error(q, 5, 5, false, 1232, out, sizeof(out)),
			 0);
	free(m);
}

/* A reply too big for the interface MTU is replaced by its truncated form:
 * the query's ID and question, the reply's AA, RA and rcode, TC, no
 * records, and our OPT when the client sent one; built in place. */
static void
test_truncated_keeps_question_flags_and_opt(void **state)
{
	(void)state;
	uint8_t q[600], big[2000];
	struct tmsg *m = malloc(sizeof(*m));
	size_t qlen = client_query(q, 0x4242, "Big.Service.Local", 4096, 0,
				   false);
	/* the "big" reply: the query's header and question, AA and RA,
	 * 1,500 bytes of records we do not care about */
	memset(big, 0xee, sizeof(big));
	memcpy(big, q, qlen);
	wire_put_u16_at(big, 2, (uint16_t)(WIRE_F_QR | WIRE_F_AA | WIRE_F_RA |
					   WIRE_F_RD));
	wire_put_u16_at(big, 6, 40); /* ancount */
	size_t n = relay_truncated(q, qlen, big, 1500, 1232, big, sizeof(big));
	assert_true(n > WIRE_HDR_LEN && n < 100);
	tm_parse(big, n, m);
	assert_int_equal(m->h.id, 0x4242);
	assert_true(m->h.flags & WIRE_F_TC);
	assert_true(m->h.flags & WIRE_F_AA);
	assert_true(m->h.flags & WIRE_F_RA);
	assert_true(m->h.flags & WIRE_F_QR);
	assert_int_equal(m->h.flags & WIRE_F_RCODE, WIRE_RCODE_NOERROR);
	assert_string_equal(m->qname, "Big.Service.Local.");
	assert_int_equal(m->h.ancount + m->h.nscount, 0);
	assert_int_equal(m->h.arcount, 1);
	assert_int_equal(m->rr[0].type, WIRE_TYPE_OPT);

	/* without EDNS: no OPT; a forwarded NXDOMAIN keeps its rcode */
	qlen = client_query(q, 7, "gone.example", 0, 0, false);
	memcpy(big, q, qlen);
	wire_put_u16_at(big, 2, (uint16_t)(WIRE_F_QR | WIRE_F_RA |
					   WIRE_RCODE_NXDOMAIN));
	n = relay_truncated(q, qlen, big, 1400, 1232, big, sizeof(big));
	tm_parse(big, n, m);
	assert_true(m->h.flags & WIRE_F_TC);
	assert_false(m->h.flags & WIRE_F_AA);
	assert_int_equal(m->h.flags & WIRE_F_RCODE, WIRE_RCODE_NXDOMAIN);
	assert_int_equal(m->h.arcount, 0);
	/* a runt reply gives nothing to send */
	assert_int_equal(relay_truncated(q, qlen, big, 5, 1232, big,
					 sizeof(big)), 0);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_query_reads_edns_and_loop_tags),
	    cmocka_unit_test(test_loop_is_own_tag_or_hop_limit),
	    cmocka_unit_test(test_upstream_query_carries_marker_and_question),
	    cmocka_unit_test(test_reply_restores_client_id_and_question_bytes),
	    cmocka_unit_test(test_reply_truncates_whole_records_with_tc),
	    cmocka_unit_test(test_reply_ages_and_caps_ttls),
	    cmocka_unit_test(test_reply_to_another_question_is_rejected),
	    cmocka_unit_test(test_cache_ttl_rules),
	    cmocka_unit_test(test_cache_key_ignores_case_and_rd),
	    cmocka_unit_test(test_error_reply_echoes_question_and_opt),
	    cmocka_unit_test(test_truncated_keeps_question_flags_and_opt),
	};
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
