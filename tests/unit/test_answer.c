/* SPDX-License-Identifier: MIT
 * test_answer.c -- one query + one snapshot -> one reply: every name form,
 * negative answers with the SOA, EDNS, truncation, malformed queries. */
#include "dnsmsg.h"

#include <arpa/inet.h>

#include "answer.h"
#include "catalog.h"
#include "zone.h"

/* ---- a small catalog ---------------------------------------------------- */

struct tinst {
	const char *addr;
	uint16_t port;
	enum svc_health health;
	uint32_t wp, ww;
	const char *tag;
	const char *meta; /* "k=v" or NULL */
};

static void
make_record(struct svc_record *rec, const char *name, const struct tinst *ti,
	    size_t n)
{
	memset(rec, 0, sizeof(*rec));
	rec->name = strdup(name);
	rec->inst = calloc(n ? n : 1, sizeof(*rec->inst));
	rec->count = n;
	for (size_t i = 0; i < n; i++) {
		struct svc_instance *si = &rec->inst[i];
		char id[64];
		snprintf(id, sizeof(id), "%s-%zu", name, i);
		si->id = strdup(id);
		si->node = strdup("node1");
		si->address = strdup(ti[i].addr);
		si->port = ti[i].port;
		si->health = ti[i].health;
		si->weight_passing = ti[i].wp ? ti[i].wp : 1;
		si->weight_warning = ti[i].ww ? ti[i].ww : 1;
		si->check_output = strdup("");
		if (ti[i].tag) {
			si->tags = calloc(1, sizeof(char *));
			si->tags[0] = strdup(ti[i].tag);
			si->tag_count = 1;
		}
		if (ti[i].meta) {
			const char *eq = strchr(ti[i].meta, '=');
			si->meta_keys = calloc(1, sizeof(char *));
			si->meta_values = calloc(1, sizeof(char *));
			si->meta_keys[0] = strndup(ti[i].meta,
						   (size_t)(eq - ti[i].meta));
			si->meta_values[0] = strdup(eq + 1);
			si->meta_count = 1;
		}
	}
}

struct fixture {
	struct zone_cfg zc;
	struct zone *z;
	struct answer_cfg acfg;
	struct answer_scratch *s;
	uint8_t q[512];
	uint8_t out[65536];
	struct tmsg m;
};

static struct zone *
build_zone(struct zone_cfg *zc, bool only_passing, size_t big)
{
	static const struct tinst data[] = {
	    {"127.0.0.11", 8081, SVC_PASSING, 10, 1, "primary", "version=1"},
	    {"127.0.0.12", 8082, SVC_WARNING, 10, 3, NULL, "version=2"},
	    {"127.0.0.13", 8083, SVC_PASSING, 0, 0, "primary", NULL},
	    {"127.0.0.14", 8084, SVC_CRITICAL, 0, 0, "primary", NULL},
	    {"127.0.0.13", 9083, SVC_PASSING, 0, 0, NULL, NULL},
	};
	static const struct tinst v6[] = {
	    {"2001:db8::1", 80, SVC_PASSING, 0, 0, NULL, NULL},
	};
	static const struct tinst down[] = {
	    {"127.0.0.31", 80, SVC_CRITICAL, 0, 0, "gone", NULL},
	};
	static const struct tinst host[] = {
	    {"db.example.org", 5432, SVC_PASSING, 0, 0, NULL, NULL},
	};
	struct svc_record recs[5];
	struct zsvc *svcs[5];
	size_t n = 0;

	zc->only_passing = only_passing;
	make_record(&recs[n++], "data", data, ARRAY_SIZE(data));
	make_record(&recs[n++], "v6only", v6, ARRAY_SIZE(v6));
	make_record(&recs[n++], "down", down, ARRAY_SIZE(down));
	make_record(&recs[n++], "ext", host, ARRAY_SIZE(host));
	struct tinst *many = calloc(big ? big : 1, sizeof(*many));
	char (*addrs)[32] = calloc(big ? big : 1, 32);
	for (size_t i = 0; i < big; i++) {
		snprintf(addrs[i], 32, "10.0.%zu.%zu", i / 250, i % 250 + 1);
		many[i] = (struct tinst){addrs[i], (uint16_t)(9000 + i),
					 SVC_PASSING, 0, 0, NULL, NULL};
	}
	make_record(&recs[n++], "big", many, big);
	for (size_t i = 0; i < n; i++) {
		svcs[i] = zone_svc_compile(zc, &recs[i]);
		assert_non_null(svcs[i]);
		catalog_record_fini(&recs[i]);
	}
	struct zone *z = zone_new(zc, svcs, n, 4242, true);
	for (size_t i = 0; i < n; i++)
		zone_svc_unref(svcs[i]);
	free(many);
	free(addrs);
	return z;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(zone_cfg_init(&f->zc, "service.local"), 0);
	f->zc.neg_ttl_s = 7;
	f->z = build_zone(&f->zc, false, 40);
	f->acfg.edns_size = 1232;
	f->s = calloc(1, sizeof(*f->s));
	answer_scratch_init(f->s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	zone_free(f->z);
	free(f->s);
	free(f);
	return 0;
}

/* Asks and parses; returns the reply length. */
static size_t
ask(struct fixture *f, const char *name, uint16_t qtype, uint16_t edns,
    bool tcp)
{
	size_t ql = tq_build(f->q, 0xbeef, name, qtype, WIRE_CLASS_IN, edns);
	struct answer_info info;
	size_t len = answer_query(f->z, zone_config(f->z), &f->acfg, f->q, ql,
				  f->out, sizeof(f->out), tcp, f->s, &info);
	assert_int_equal(info.action, ANSWER_REPLY);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(f->m.h.id, 0xbeef);
	return len;
}

static unsigned
rcode(const struct tmsg *m)
{
	return m->h.flags & WIRE_F_RCODE;
}

static void
addr_text(const struct fixture *f, const struct trr *r, char *out)
{
	inet_ntop(r->type == WIRE_TYPE_A ? AF_INET : AF_INET6,
		  f->out + r->rdata, out, 64);
}

static bool
has_addr(const struct fixture *f, size_t from, size_t to, const char *a)
{
	char t[64];
	for (size_t i = from; i < to; i++) {
		addr_text(f, &f->m.rr[i], t);
		if (strcmp(t, a) == 0)
			return true;
	}
	return false;
}

/* ---- positive answers ---------------------------------------------------- */

static void
test_a_lists_distinct_healthy_addresses(void **state)
{
	struct fixture *f = *state;
	ask(f, "data.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_true(f->m.h.flags & WIRE_F_AA);
	assert_false(f->m.h.flags & WIRE_F_RA);
	assert_true(f->m.h.flags & WIRE_F_RD); /* copied */
	/* .11, .12 (warning), .13 twice (one address), not .14 (critical) */
	assert_int_equal(f->m.h.ancount, 3);
	assert_true(has_addr(f, 0, 3, "127.0.0.11"));
	assert_true(has_addr(f, 0, 3, "127.0.0.12"));
	assert_true(has_addr(f, 0, 3, "127.0.0.13"));
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f->m.rr[i].type, WIRE_TYPE_A);
		assert_int_equal(f->m.rr[i].ttl, 0);
		assert_string_equal(f->m.rr[i].owner, "data.service.local.");
	}
}

static void
test_only_passing_drops_warning(void **state)
{
	struct fixture *f = *state;
	zone_free(f->z);
	f->z = build_zone(&f->zc, true, 0);
	ask(f, "data.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(f->m.h.ancount, 2);
	assert_false(has_addr(f, 0, 2, "127.0.0.12"));
}

static void
test_aaaa_answers_ipv6_instances(void **state)
{
	struct fixture *f = *state;
	ask(f, "v6only.service.local", WIRE_TYPE_AAAA, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_int_equal(f->m.rr[0].type, WIRE_TYPE_AAAA);
	assert_true(has_addr(f, 0, 1, "2001:db8::1"));
}

static void
test_srv_has_weights_ports_targets_and_glue(void **state)
{
	struct fixture *f = *state;
	char target[300], glue_owner[300];
	ask(f, "data.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 4);
	assert_int_equal(f->m.h.arcount, 3); /* one glue per distinct target */
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *rd = f->out + f->m.rr[i].rdata;
		uint16_t prio = (uint16_t)(rd[0] << 8 | rd[1]);
		uint16_t weight = (uint16_t)(rd[2] << 8 | rd[3]);
		uint16_t port = (uint16_t)(rd[4] << 8 | rd[5]);
		tm_name_at(f->out, sizeof(f->out), f->m.rr[i].rdata + 6,
			   target, sizeof(target));
		assert_int_equal(prio, 1);
		switch (port) {
		case 8081: /* passing, Weights.Passing 10 */
			assert_int_equal(weight, 10);
			assert_string_equal(target, "7f00000b.addr.service.local.");
			break;
		case 8082: /* warning, Weights.Warning 3 */
			assert_int_equal(weight, 3);
			assert_string_equal(target, "7f00000c.addr.service.local.");
			break;
		case 8083:
		case 9083:
			assert_int_equal(weight, 1);
			assert_string_equal(target, "7f00000d.addr.service.local.");
			break;
		default:
			fail_msg("unexpected port %u", port);
		}
	}
	for (size_t i = 4; i < 7; i++) {
		char a[64], want[300];
		const struct trr *g = &f->m.rr[i];
		uint8_t b[4];
		assert_int_equal(g->type, WIRE_TYPE_A);
		addr_text(f, g, a);
		inet_pton(AF_INET, a, b);
		snprintf(want, sizeof(want), "%02x%02x%02x%02x.addr.service.local.",
			 b[0], b[1], b[2], b[3]);
		snprintf(glue_owner, sizeof(glue_owner), "%s", g->owner);
		assert_string_equal(glue_owner, want);
	}
}

static void
test_srv_weight_scale_multiplies(void **state)
{
	struct fixture *f = *state;
	zone_free(f->z);
	f->zc.weight_scale = 256;
	f->z = build_zone(&f->zc, false, 0);
	ask(f, "_data._tcp.service.local", WIRE_TYPE_SRV, 0, false);
	for (size_t i = 0; i < f->m.h.ancount; i++) {
		const uint8_t *rd = f->out + f->m.rr[i].rdata;
		uint16_t weight = (uint16_t)(rd[2] << 8 | rd[3]);
		uint16_t port = (uint16_t)(rd[4] << 8 | rd[5]);
		assert_int_equal(weight, port == 8081 ? 2560
				 : port == 8082	      ? 768
						      : 256);
	}
}

static void
test_rfc2782_forms_answer_srv_only(void **state)
{
	struct fixture *f = *state;
	ask(f, "_data._tcp.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 4);
	ask(f, "_data._udp.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 4);
	ask(f, "_data._tcp.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
	assert_int_equal(f->m.h.nscount, 1);
}

static void
test_tag_forms_filter_instances(void **state)
{
	struct fixture *f = *state;
	ask(f, "primary.data.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(f->m.h.ancount, 2); /* .11 and .13; .14 critical */
	assert_true(has_addr(f, 0, 2, "127.0.0.11"));
	assert_true(has_addr(f, 0, 2, "127.0.0.13"));
	ask(f, "_data._primary.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 2);
	ask(f, "PRIMARY.data.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 2);
}

static void
test_tag_on_only_unhealthy_instances_is_nodata(void **state)
{
	struct fixture *f = *state;
	ask(f, "gone.down.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
}

static void
test_addr_form_decodes_statelessly(void **state)
{
	struct fixture *f = *state;
	ask(f, "0A000001.addr.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_true(has_addr(f, 0, 1, "10.0.0.1"));
	ask(f, "20010db8000000000000000000000001.addr.service.local",
	    WIRE_TYPE_AAAA, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_true(has_addr(f, 0, 1, "2001:db8::1"));
	ask(f, "0a000001.addr.service.local", WIRE_TYPE_AAAA, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
	ask(f, "0a00zz01.addr.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NXDOMAIN);
	ask(f, "addr.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR); /* ENT */
}

static void
test_hostname_address_is_srv_target_without_glue(void **state)
{
	struct fixture *f = *state;
	char target[300];
	ask(f, "ext.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_int_equal(f->m.h.arcount, 0);
	tm_name_at(f->out, sizeof(f->out), f->m.rr[0].rdata + 6, target,
		   sizeof(target));
	assert_string_equal(target, "db.example.org.");
	ask(f, "ext.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(f->m.h.ancount, 0);
}

static void
test_txt_carries_service_meta(void **state)
{
	struct fixture *f = *state;
	ask(f, "data.service.local", WIRE_TYPE_TXT, 0, false);
	assert_int_equal(f->m.h.ancount, 2);
	bool v1 = false, v2 = false;
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *rd = f->out + f->m.rr[i].rdata;
		assert_int_equal(rd[0], 9);
		v1 |= memcmp(rd + 1, "version=1", 9) == 0;
		v2 |= memcmp(rd + 1, "version=2", 9) == 0;
	}
	assert_true(v1 && v2);
}

static void
test_apex_soa_and_ns(void **state)
{
	struct fixture *f = *state;
	char ns[300];
	ask(f, "service.local", WIRE_TYPE_SOA, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	const uint8_t *rd = f->out + f->m.rr[0].rdata;
	uint32_t serial = (uint32_t)(rd[f->m.rr[0].rdlen - 20] << 24 |
				     rd[f->m.rr[0].rdlen - 19] << 16 |
				     rd[f->m.rr[0].rdlen - 18] << 8 |
				     rd[f->m.rr[0].rdlen - 17]);
	assert_int_equal(serial, 4242);
	ask(f, "service.local", WIRE_TYPE_NS, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_int_equal(f->m.h.arcount, 1);
	tm_name_at(f->out, sizeof(f->out), f->m.rr[0].rdata, ns, sizeof(ns));
	assert_string_equal(ns, "7f000001.addr.service.local.");
	assert_string_equal(f->m.rr[1].owner, ns);
}

static void
test_question_echoed_byte_for_byte(void **state)
{
	struct fixture *f = *state;
	ask(f, "DaTa.SeRvIcE.LoCaL", WIRE_TYPE_A, 0, false);
	assert_string_equal(f->m.qname, "DaTa.SeRvIcE.LoCaL.");
	assert_int_equal(f->m.h.ancount, 3);
}

static void
test_answers_are_shuffled(void **state)
{
	struct fixture *f = *state;
	char first[64], other[64];
	bool differs = false;
	ask(f, "big.service.local", WIRE_TYPE_A, 0, true);
	addr_text(f, &f->m.rr[0], first);
	for (int i = 0; i < 20 && !differs; i++) {
		ask(f, "big.service.local", WIRE_TYPE_A, 0, true);
		addr_text(f, &f->m.rr[0], other);
		differs = strcmp(first, other) != 0;
	}
	assert_true(differs);
	assert_int_equal(f->m.h.ancount, 40);
}

static void
test_any_gets_one_hinfo(void **state)
{
	struct fixture *f = *state;
	ask(f, "data.service.local", WIRE_TYPE_ANY, 0, false);
	assert_int_equal(f->m.h.ancount, 1);
	assert_int_equal(f->m.rr[0].type, WIRE_TYPE_HINFO);
}

/* ---- negative answers ------------------------------------------------------ */

static void
assert_negative_soa(const struct fixture *f, const struct trr *soa)
{
	assert_int_equal(soa->type, WIRE_TYPE_SOA);
	assert_string_equal(soa->owner, "service.local.");
	assert_int_equal(soa->ttl, 7);
	const uint8_t *rd = f->out + soa->rdata;
	uint32_t minimum = (uint32_t)(rd[soa->rdlen - 4] << 24 |
				      rd[soa->rdlen - 3] << 16 |
				      rd[soa->rdlen - 2] << 8 |
				      rd[soa->rdlen - 1]);
	assert_int_equal(minimum, 7);
}

static void
test_unknown_name_is_nxdomain_with_soa(void **state)
{
	struct fixture *f = *state;
	ask(f, "nope.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NXDOMAIN);
	assert_true(f->m.h.flags & WIRE_F_AA);
	assert_int_equal(f->m.h.ancount, 0);
	assert_int_equal(f->m.h.nscount, 1);
	assert_negative_soa(f, &f->m.rr[0]);
	ask(f, "x.primary.data.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NXDOMAIN);
}

static void
test_no_records_of_type_is_nodata_with_soa(void **state)
{
	struct fixture *f = *state;
	static const uint16_t types[] = {WIRE_TYPE_AAAA, WIRE_TYPE_MX, 99};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		ask(f, "data.service.local", types[i], 0, false);
		assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
		assert_int_equal(f->m.h.ancount, 0);
		assert_int_equal(f->m.h.nscount, 1);
		assert_negative_soa(f, &f->m.rr[0]);
	}
}

static void
test_service_with_no_healthy_instance_is_nodata(void **state)
{
	struct fixture *f = *state;
	ask(f, "down.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
	assert_negative_soa(f, &f->m.rr[0]);
	ask(f, "down.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(f->m.h.ancount, 0);
}

static void
test_empty_non_terminals_are_nodata(void **state)
{
	struct fixture *f = *state;
	ask(f, "_tcp.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	ask(f, "_primary.service.local", WIRE_TYPE_SRV, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
}

static void
test_outside_zone_is_refused(void **state)
{
	struct fixture *f = *state;
	ask(f, "example.org", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
	assert_false(f->m.h.flags & WIRE_F_AA);
	ask(f, "xservice.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
}

static void
test_unsynced_zone_is_servfail(void **state)
{
	struct fixture *f = *state;
	zone_free(f->z);
	f->z = zone_new(&f->zc, NULL, 0, 1, false);
	ask(f, "data.service.local", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_SERVFAIL);
	ask(f, "example.org", WIRE_TYPE_A, 0, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
}

/* ---- protocol ----------------------------------------------------------------- */

static size_t
raw(struct fixture *f, const uint8_t *q, size_t ql, struct answer_info *info)
{
	return answer_query(f->z, zone_config(f->z), &f->acfg, q, ql, f->out,
			    sizeof(f->out), false, f->s, info);
}

static void
test_non_in_class_is_refused(void **state)
{
	struct fixture *f = *state;
	struct answer_info info;
	size_t ql = tq_build(f->q, 1, "data.service.local", WIRE_TYPE_A,
			     WIRE_CLASS_CH, 0);
	size_t len = raw(f, f->q, ql, &info);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
}

static void
test_other_opcode_is_notimp(void **state)
{
	struct fixture *f = *state;
	struct answer_info info;
	size_t ql = tq_build(f->q, 1, "data.service.local", WIRE_TYPE_A,
			     WIRE_CLASS_IN, 0);
	f->q[2] |= 5 << 3; /* UPDATE */
	size_t len = raw(f, f->q, ql, &info);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOTIMP);
	assert_int_equal((f->m.h.flags & WIRE_F_OPCODE) >> 11, 5);
}

static void
test_reply_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct answer_info info;
	size_t ql = tq_build(f->q, 1, "data.service.local", WIRE_TYPE_A,
			     WIRE_CLASS_IN, 0);
	f->q[2] |= 0x80; /* QR */
	assert_int_equal(raw(f, f->q, ql, &info), 0);
	assert_int_equal(info.action, ANSWER_DROP);
	assert_int_equal(raw(f, f->q, 11, &info), 0); /* runt */
}

static void
expect_formerr(struct fixture *f, const uint8_t *q, size_t ql)
{
	struct answer_info info;
	size_t len = raw(f, q, ql, &info);
	assert_int_equal(info.action, ANSWER_REPLY);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_FORMERR);
}

static void
test_malformed_queries_are_formerr(void **state)
{
	struct fixture *f = *state;
	uint8_t q[600];
	size_t ql;

	/* QDCOUNT 0 and 2 */
	ql = tq_build(q, 1, "data.service.local", WIRE_TYPE_A, 1, 0);
	q[5] = 0;
	expect_formerr(f, q, ql);
	q[5] = 2;
	expect_formerr(f, q, ql);
	/* truncated question */
	ql = tq_build(q, 1, "data.service.local", WIRE_TYPE_A, 1, 0);
	expect_formerr(f, q, ql - 3);
	/* a compression pointer in the question */
	memcpy(q + 12, "\4data\xc0\x0c\0\1\0\1", 11);
	expect_formerr(f, q, 23);
	/* two OPT records */
	ql = tq_build(q, 1, "data.service.local", WIRE_TYPE_A, 1, 1232);
	memcpy(q + ql, q + ql - 11, 11);
	q[11] = 2;
	expect_formerr(f, q, ql + 11);
	/* OPT in the answer section */
	ql = tq_build(q, 1, "data.service.local", WIRE_TYPE_A, 1, 1232);
	q[7] = 1;
	q[11] = 0;
	expect_formerr(f, q, ql);
	/* more records announced than present */
	ql = tq_build(q, 1, "data.service.local", WIRE_TYPE_A, 1, 0);
	q[11] = 3;
	expect_formerr(f, q, ql);
}

static void
test_edns_reply_has_opt_last_with_our_size(void **state)
{
	struct fixture *f = *state;
	ask(f, "data.service.local", WIRE_TYPE_SRV, 4096, false);
	const struct trr *opt = &f->m.rr[f->m.count - 1];
	assert_int_equal(opt->type, WIRE_TYPE_OPT);
	assert_int_equal(opt->klass, 1232);
	assert_string_equal(opt->owner, ".");
	for (size_t i = 0; i + 1 < f->m.count; i++)
		assert_int_not_equal(f->m.rr[i].type, WIRE_TYPE_OPT);
	ask(f, "data.service.local", WIRE_TYPE_A, 0, false);
	for (size_t i = 0; i < f->m.count; i++)
		assert_int_not_equal(f->m.rr[i].type, WIRE_TYPE_OPT);
}

static void
test_edns_version_1_is_badvers(void **state)
{
	struct fixture *f = *state;
	struct answer_info info;
	size_t ql = tq_build(f->q, 1, "data.service.local", WIRE_TYPE_A, 1,
			     1232);
	f->q[ql - 5] = 1; /* version, in the TTL field */
	size_t len = raw(f, f->q, ql, &info);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(info.rcode, WIRE_RCODE_BADVERS);
	assert_int_equal(rcode(&f->m), 0);
	assert_int_equal(f->m.h.ancount, 0);
	const struct trr *opt = &f->m.rr[f->m.count - 1];
	assert_int_equal(opt->type, WIRE_TYPE_OPT);
	assert_int_equal(opt->ttl >> 24, 1); /* extended rcode 16 >> 4 */
}

static void
test_edns_unknown_option_is_ignored(void **state)
{
	struct fixture *f = *state;
	struct answer_info info;
	size_t ql = tq_build(f->q, 1, "data.service.local", WIRE_TYPE_A, 1,
			     1232);
	/* rdlen 6: option 65001, length 2 */
	static const uint8_t opt[] = {0, 6, 0xfd, 0xe9, 0, 2, 0xab, 0xcd};
	memcpy(f->q + ql - 2, opt, sizeof(opt));
	f->q[ql - 6] = 0x80; /* DO and an unknown flag */
	f->q[ql - 5] = 0;
	size_t len = raw(f, f->q, ql - 2 + sizeof(opt), &info);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 3);
	/* an option that overruns the RDATA is a format error */
	f->q[ql - 2 + 5] = 9;
	expect_formerr(f, f->q, ql - 2 + sizeof(opt));
}

/* ---- sizes and truncation -------------------------------------------------------- */

static void
test_udp_without_edns_truncates_at_512(void **state)
{
	struct fixture *f = *state;
	size_t len = ask(f, "big.service.local", WIRE_TYPE_SRV, 0, false);
	assert_true(len <= 512);
	assert_true(f->m.h.flags & WIRE_F_TC);
	assert_true(f->m.h.ancount > 0 && f->m.h.ancount < 40);
	assert_int_equal(f->m.h.arcount, 0);
}

static void
test_udp_with_edns_drops_glue_before_answers(void **state)
{
	struct fixture *f = *state;
	size_t len = ask(f, "big.service.local", WIRE_TYPE_SRV, 1232, false);
	assert_true(len <= 1232);
	assert_false(f->m.h.flags & WIRE_F_TC);
	assert_int_equal(f->m.h.ancount, 40);
	assert_true(f->m.h.arcount < 41); /* some glue left out, OPT kept */
	assert_int_equal(f->m.rr[f->m.count - 1].type, WIRE_TYPE_OPT);
}

static void
test_client_size_below_ours_is_honoured(void **state)
{
	struct fixture *f = *state;
	size_t len = ask(f, "big.service.local", WIRE_TYPE_A, 600, false);
	assert_true(len <= 600);
	assert_true(f->m.h.flags & WIRE_F_TC);
	len = ask(f, "big.service.local", WIRE_TYPE_A, 100, false);
	assert_true(len <= 512); /* sizes below 512 count as 512 */
}

static void
test_tcp_carries_whole_set_with_glue(void **state)
{
	struct fixture *f = *state;
	ask(f, "big.service.local", WIRE_TYPE_SRV, 0, true);
	assert_false(f->m.h.flags & WIRE_F_TC);
	assert_int_equal(f->m.h.ancount, 40);
	assert_int_equal(f->m.h.arcount, 40);
}

/* The fixed-shape SRV writer (sets of distinct addresses of one family)
 * and the general one give the same bytes: same shuffle (the scratch is
 * restored in between), every size from TCP down to truncation. */
static void
test_srv_fixed_shape_matches_general_path(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
	    "primary.data.service.local", "_data._primary.service.local",
	    "big.service.local", "v6only.service.local"};
	static const uint16_t sizes[] = {0, 4096, 1232, 700, 512};
	uint8_t a[65535], b[65535];
	struct answer_scratch *saved = malloc(sizeof(*saved));

	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
			bool tcp = sizes[k] == 0;
			uint16_t edns = sizes[k] > 512 ? sizes[k] : 0;
			size_t ql = tq_build(f->q, 0x1234, names[n], WIRE_TYPE_SRV,
					     WIRE_CLASS_IN, edns);
			struct answer_info info;
			struct zone_hit hit;
			uint8_t rel[256];
			size_t rl = 0;
			/* the set behind the name: its relative wire form */
			for (size_t p = 12; f->q[p] != 0; p += f->q[p] + 1u)
				rl = p + f->q[p] + 1u - 12;
			rl -= zone_config(f->z)->apex_len - 1;
			memcpy(rel, f->q + 12, rl);
			assert_true(zone_lookup(f->z, rel, rl, &hit));
			assert_int_not_equal(hit.set->srv_hex_len, 0);
			if (n == 0 && k == 0) { /* two instances share an
						 * address: the general path */
				struct zone_hit all;
				assert_true(zone_lookup(
				    f->z, (const uint8_t *)"\4data", 5, &all));
				assert_int_equal(all.set->srv_hex_len, 0);
			}

			memcpy(saved, f->s, sizeof(*saved));
			size_t la = answer_query(f->z, zone_config(f->z),
						 &f->acfg, f->q, ql, a, sizeof(a),
						 tcp, f->s, &info);
			memcpy(f->s, saved, sizeof(*saved));
			uint8_t keep = hit.set->srv_hex_len;
			((struct zset *)(uintptr_t)hit.set)->srv_hex_len = 0;
			size_t lb = answer_query(f->z, zone_config(f->z),
						 &f->acfg, f->q, ql, b, sizeof(b),
						 tcp, f->s, &info);
			((struct zset *)(uintptr_t)hit.set)->srv_hex_len = keep;
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
		}
	}
	free(saved);
}

/* ---- CHAOS diagnostics ----------------------------------------------------- */

static uint64_t fake_ago_ms; /* how long ago fake_status() last synced */

static void
fake_status(void *arg, struct answer_status *st)
{
	(void)arg;
	memset(st, 0, sizeof(*st));
	st->synced = st->connected = true;
	st->last_sync_ms = now_ms() - fake_ago_ms;
	st->data_age_ms = 0;
	st->catalog_index = 4711;
	st->services = 5;
	st->instances = 8;
	st->watches = 3;
	st->max_watches = 64;
	st->errors = 2;
}

static void
chaos_on(struct fixture *f, uint64_t ago_ms)
{
	fake_ago_ms = ago_ms;
	f->acfg.diagnostics = true;
	f->acfg.version = "srvshim 9.9";
	f->acfg.hostname = "box1";
	f->acfg.consul = "127.0.0.1:8500";
	f->acfg.status = fake_status;
	f->acfg.status_arg = NULL;
}

static void
ask_ch(struct fixture *f, const char *name, uint16_t qtype, bool tcp)
{
	size_t ql = tq_build(f->q, 0xbeef, name, qtype, WIRE_CLASS_CH, 0);
	struct answer_info info;
	size_t len = answer_query(f->z, zone_config(f->z), &f->acfg, f->q, ql,
				  f->out, sizeof(f->out), tcp, f->s, &info);
	assert_int_equal(info.action, ANSWER_REPLY);
	tm_parse(f->out, len, &f->m);
	assert_int_equal(info.rcode, rcode(&f->m));
}

/* True when TXT record r carries the string s exactly. */
static bool
txt_has(const struct fixture *f, const struct trr *r, const char *s)
{
	const uint8_t *p = f->out + r->rdata, *end = p + r->rdlen;
	size_t n = strlen(s);
	while (p < end) {
		if (p[0] == n && memcmp(p + 1, s, n) == 0)
			return true;
		p += 1 + p[0];
	}
	return false;
}

static void
test_chaos_version_and_hostname(void **state)
{
	struct fixture *f = *state;
	chaos_on(f, 0);
	static const char *const names[] = {"version.bind", "VERSION.server",
					    "hostname.bind", "id.server"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		ask_ch(f, names[i], WIRE_TYPE_TXT, false);
		assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
		assert_true(f->m.h.flags & WIRE_F_AA);
		assert_int_equal(f->m.h.ancount, 1);
		assert_int_equal(f->m.rr[0].type, WIRE_TYPE_TXT);
		assert_int_equal(f->m.rr[0].klass, WIRE_CLASS_CH);
		assert_int_equal(f->m.rr[0].ttl, 0);
		assert_true(txt_has(f, &f->m.rr[0], i < 2 ? "srvshim 9.9"
							  : "box1"));
	}
}

static void
test_chaos_status_is_taken_when_asked(void **state)
{
	struct fixture *f = *state;
	chaos_on(f, 2500);
	ask_ch(f, "status.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 1);
	const struct trr *r = &f->m.rr[0];
	assert_true(txt_has(f, r, "consul=127.0.0.1:8500"));
	assert_true(txt_has(f, r, "connected=yes"));
	assert_true(txt_has(f, r, "synced=yes"));
	/* status_txt() reads the clock before fake_status() does, so on a
	 * slow run (valgrind) the age comes out a millisecond short: 2.4s. */
	assert_true(txt_has(f, r, "last-sync-age=2.4s") ||
		    txt_has(f, r, "last-sync-age=2.5s") ||
		    txt_has(f, r, "last-sync-age=2.6s"));
	assert_true(txt_has(f, r, "data-age=0.0s"));
	assert_true(txt_has(f, r, "index=4711"));
	assert_true(txt_has(f, r, "services=5"));
	assert_true(txt_has(f, r, "instances=8"));
	assert_true(txt_has(f, r, "watches=3/64"));
	assert_true(txt_has(f, r, "errors=2"));
	/* no status source: not ours to answer */
	f->acfg.status = NULL;
	ask_ch(f, "status.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
}

static void
test_chaos_service_listing_has_every_instance(void **state)
{
	struct fixture *f = *state;
	chaos_on(f, 0);
	ask_ch(f, "data.services.srvshim", WIRE_TYPE_TXT, true);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 1 + 5); /* summary + 5 instances */
	assert_true(txt_has(f, &f->m.rr[0], "service=data"));
	assert_true(txt_has(f, &f->m.rr[0], "instances=5"));
	assert_true(txt_has(f, &f->m.rr[0], "served=4"));
	assert_true(txt_has(f, &f->m.rr[1], "id=data-0"));
	assert_true(txt_has(f, &f->m.rr[1], "address=127.0.0.11"));
	assert_true(txt_has(f, &f->m.rr[1], "port=8081"));
	assert_true(txt_has(f, &f->m.rr[1], "tags=primary"));
	assert_true(txt_has(f, &f->m.rr[1], "weight=10"));
	assert_true(txt_has(f, &f->m.rr[1], "served=yes"));
	assert_true(txt_has(f, &f->m.rr[2], "health=warning"));
	assert_true(txt_has(f, &f->m.rr[2], "weight=3"));
	assert_true(txt_has(f, &f->m.rr[4], "health=critical"));
	assert_true(txt_has(f, &f->m.rr[4], "served=no (critical)"));
	/* 6 records do not fit in 512 bytes: TC, whole records only */
	ask_ch(f, "data.services.srvshim", WIRE_TYPE_TXT, false);
	assert_true(f->m.h.flags & WIRE_F_TC);
	assert_true(f->m.h.ancount < 6);
	ask_ch(f, "nosuch.services.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NXDOMAIN);
	ask_ch(f, "addr.services.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NXDOMAIN);
	ask_ch(f, "x.data.services.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
}

/* Found by fuzz_wire: ANY on <svc>.services.srvshim listed every instance. */
static void
test_chaos_any_gets_one_record(void **state)
{
	struct fixture *f = *state;
	chaos_on(f, 0);
	ask_ch(f, "data.services.srvshim", WIRE_TYPE_ANY, true);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 1);
	assert_true(txt_has(f, &f->m.rr[0], "service=data"));
}

static void
test_chaos_other_types_nodata_unknown_refused_off_refused(void **state)
{
	struct fixture *f = *state;
	chaos_on(f, 0);
	ask_ch(f, "version.bind", WIRE_TYPE_A, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
	ask_ch(f, "services.srvshim", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_NOERROR);
	assert_int_equal(f->m.h.ancount, 0);
	ask_ch(f, "authors.bind", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
	assert_false(f->m.h.flags & WIRE_F_AA);
	f->acfg.diagnostics = false;
	ask_ch(f, "version.bind", WIRE_TYPE_TXT, false);
	assert_int_equal(rcode(&f->m), WIRE_RCODE_REFUSED);
	assert_int_equal(f->m.h.ancount, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_a_lists_distinct_healthy_addresses),
	    T(test_only_passing_drops_warning),
	    T(test_aaaa_answers_ipv6_instances),
	    T(test_srv_has_weights_ports_targets_and_glue),
	    T(test_srv_weight_scale_multiplies),
	    T(test_rfc2782_forms_answer_srv_only),
	    T(test_tag_forms_filter_instances),
	    T(test_tag_on_only_unhealthy_instances_is_nodata),
	    T(test_addr_form_decodes_statelessly),
	    T(test_hostname_address_is_srv_target_without_glue),
	    T(test_txt_carries_service_meta),
	    T(test_apex_soa_and_ns),
	    T(test_question_echoed_byte_for_byte),
	    T(test_answers_are_shuffled),
	    T(test_any_gets_one_hinfo),
	    T(test_unknown_name_is_nxdomain_with_soa),
	    T(test_no_records_of_type_is_nodata_with_soa),
	    T(test_service_with_no_healthy_instance_is_nodata),
	    T(test_empty_non_terminals_are_nodata),
	    T(test_outside_zone_is_refused),
	    T(test_unsynced_zone_is_servfail),
	    T(test_non_in_class_is_refused),
	    T(test_other_opcode_is_notimp),
	    T(test_reply_is_dropped),
	    T(test_malformed_queries_are_formerr),
	    T(test_edns_reply_has_opt_last_with_our_size),
	    T(test_edns_version_1_is_badvers),
	    T(test_edns_unknown_option_is_ignored),
	    T(test_udp_without_edns_truncates_at_512),
	    T(test_udp_with_edns_drops_glue_before_answers),
	    T(test_client_size_below_ours_is_honoured),
	    T(test_tcp_carries_whole_set_with_glue),
	    T(test_srv_fixed_shape_matches_general_path),
	    T(test_chaos_version_and_hostname),
	    T(test_chaos_status_is_taken_when_asked),
	    T(test_chaos_service_listing_has_every_instance),
	    T(test_chaos_any_gets_one_record),
	    T(test_chaos_other_types_nodata_unknown_refused_off_refused),
#undef T
	};
	return cmocka_run_group_tests_name("answer", tests, NULL, NULL);
}
