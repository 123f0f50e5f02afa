/* SPDX-License-Identifier: MIT
 * fuzzutil.c -- the fuzz snapshot and the reply invariants (fuzzutil.h).
 * Owns:    building the snapshot once from hand-made records, and checking
 *          replies with the strict wire reader.
 * Never:   I/O; a broken invariant is an abort(), which libFuzzer reports.
 * Start reading at fuzz_answer_checked(). */
#include "config_feat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "fuzzutil.h"
#include "util.h"
#include "wire.h"

/* assert() may be compiled out by a caller's NDEBUG; this never is. */
#include "fuzzcheck.h"

#define UDP_OUTCAP 4096	 /* frontend.c's UDP_BUF */
#define TCP_OUTCAP 65535 /* frontend.c's TCP reply buffer, minus framing */
#define BIG_COUNT 600	 /* > 4096 bytes of A records, < 65535 of SRV+glue */

struct finst {
	const char *addr;
	uint16_t port;
	enum svc_health health;
	const char *tags; /* comma-separated, or NULL */
	const char *meta; /* "k=v,k2=v2", or NULL */
};

static char **
split(const char *list, size_t *count)
{
	char **out = NULL;
	*count = 0;
	if (list == NULL)
		return NULL;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		out = xreallocarray(out, *count + 1, sizeof(*out));
		out[(*count)++] = xstrndup(p, n);
		if (comma == NULL)
			return out;
		p = comma + 1;
	}
}

static struct zsvc *
compile(const struct zone_cfg *zc, const char *name, const struct finst *fi,
	size_t n)
{
	struct svc_record rec = {0};
	rec.name = xstrdup(name);
	rec.inst = xcalloc(n, sizeof(*rec.inst));
	rec.count = n;
	for (size_t i = 0; i < n; i++) {
		struct svc_instance *si = &rec.inst[i];
		char id[64];
		snprintf(id, sizeof(id), "%s-%zu", name, i);
		si->id = xstrdup(id);
		si->node = xstrdup("node1");
		si->address = xstrdup(fi[i].addr);
		si->port = fi[i].port;
		si->health = fi[i].health;
		si->weight_passing = 1 + (uint32_t)i % 7;
		si->weight_warning = 1;
		si->check_output = xstrdup("");
		si->tags = split(fi[i].tags, &si->tag_count);
		if (fi[i].meta) {
			size_t kv = 0;
			char **pairs = split(fi[i].meta, &kv);
			si->meta_keys = xcalloc(kv, sizeof(char *));
			si->meta_values = xcalloc(kv, sizeof(char *));
			for (size_t k = 0; k < kv; k++) {
				char *eq = strchr(pairs[k], '=');
				si->meta_keys[k] = xstrndup(
				    pairs[k], (size_t)(eq - pairs[k]));
				si->meta_values[k] = xstrdup(eq + 1);
				free(pairs[k]);
			}
			free(pairs);
			si->meta_count = kv;
		}
	}
	struct zsvc *s = zone_svc_compile(zc, &rec);
	catalog_record_fini(&rec);
	CHECK(s != NULL);
	return s;
}

static struct zone_cfg fz_cfg;
static struct zone *fz_synced, *fz_unsynced;

static void
build(void)
{
	static const struct finst web[] = {
	    {"127.0.0.11", 8081, SVC_PASSING, "primary,canary", "version=1,az=a"},
	    {"127.0.0.12", 8082, SVC_WARNING, "primary", "version=2"},
	    {"127.0.0.13", 8083, SVC_PASSING, NULL, NULL},
	    {"127.0.0.13", 9083, SVC_PASSING, "canary", NULL},
	    {"127.0.0.14", 8084, SVC_CRITICAL, "primary", NULL},
	};
	static const struct finst v6[] = {
	    {"2001:db8::1", 80, SVC_PASSING, "edge", "proto=h2"},
	    {"2001:db8::2", 81, SVC_PASSING, NULL, NULL},
	};
	static const struct finst mixed[] = {
	    {"10.1.0.1", 443, SVC_PASSING, "a,b,c", "k=v"},
	    {"2001:db8::10", 443, SVC_PASSING, "b", NULL},
	    {"db.example.org", 5432, SVC_PASSING, "c", NULL},
	    {"10.1.0.2", 443, SVC_WARNING, "a", NULL},
	};
	static const struct finst down[] = {
	    {"127.0.0.31", 80, SVC_CRITICAL, "gone", NULL},
	};
	static struct finst big[BIG_COUNT];
	static char big_addr[BIG_COUNT][24];
	struct zsvc *svcs[5];
	size_t n = 0;

	CHECK(zone_cfg_init(&fz_cfg, "service.local") == 0);
	fz_cfg.neg_ttl_s = 5;
	fz_cfg.ttl_s = 30;
	fz_cfg.ns[0].family = 4;
	memcpy(fz_cfg.ns[0].addr, "\x7f\x00\x00\x01", 4);
	fz_cfg.ns[1].family = 6;
	memcpy(fz_cfg.ns[1].addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	fz_cfg.ns_count = 2;
	for (size_t i = 0; i < BIG_COUNT; i++) {
		snprintf(big_addr[i], sizeof(big_addr[i]), "10.2.%zu.%zu",
			 i / 250, i % 250 + 1);
		big[i] = (struct finst){big_addr[i], (uint16_t)(20000 + i),
					SVC_PASSING, i % 3 ? NULL : "third",
					NULL};
	}
	svcs[n++] = compile(&fz_cfg, "web", web, ARRAY_SIZE(web));
	svcs[n++] = compile(&fz_cfg, "v6", v6, ARRAY_SIZE(v6));
	svcs[n++] = compile(&fz_cfg, "mixed", mixed, ARRAY_SIZE(mixed));
	svcs[n++] = compile(&fz_cfg, "down", down, ARRAY_SIZE(down));
	svcs[n++] = compile(&fz_cfg, "big", big, BIG_COUNT);
	fz_synced = zone_new(&fz_cfg, svcs, n, 4242, true);
	fz_unsynced = zone_new(&fz_cfg, NULL, 0, 1, false);
	for (size_t i = 0; i < n; i++)
		zone_svc_unref(svcs[i]);
}

const struct zone *
fuzz_zone(void)
{
	if (fz_synced == NULL)
		build();
	return fz_synced;
}

const struct zone *
fuzz_zone_unsynced(void)
{
	if (fz_unsynced == NULL)
		build();
	return fz_unsynced;
}

struct answer_scratch *
fuzz_scratch(void)
{
	static struct answer_scratch *s;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		answer_scratch_init(s);
	}
	return s;
}

/* ---- reply invariants ---------------------------------------------------- */

static void
check_reply(const struct answer_cfg *cfg, const uint8_t *q, size_t qlen,
	    const uint8_t *r, size_t len, const struct answer_info *info,
	    bool is_tcp)
{
	struct wire_cur c;
	struct wire_hdr qh, h;
	uint8_t name[WIRE_NAME_MAX];

	wire_cur_init(&c, q, qlen);
	CHECK(wire_read_hdr(&c, &qh) == 0);

	/* Size: never more than the client can take (RFC 1035 4.2.1, RFC
	 * 6891 6.2.5), nor than our own EDNS size. This is the amplification
	 * bound: over UDP a reply is at most 512 bytes to a client that did
	 * not ask for more. */
	CHECK(len >= WIRE_HDR_LEN);
	if (is_tcp) {
		CHECK(len <= TCP_OUTCAP);
	} else {
		size_t limit = WIRE_UDP_MIN;
		if (info->edns)
			limit = MIN(info->udp_size,
				    MAX(cfg->edns_size, WIRE_UDP_MIN));
		CHECK(info->udp_size >= WIRE_UDP_MIN);
		CHECK(len <= limit);
	}

	/* Header: ID, opcode and RD echoed; QR set; rcode as reported. */
	wire_cur_init(&c, r, len);
	CHECK(wire_read_hdr(&c, &h) == 0);
	CHECK(h.id == qh.id);
	CHECK(h.flags & WIRE_F_QR);
	CHECK((h.flags & WIRE_F_OPCODE) == (qh.flags & WIRE_F_OPCODE));
	CHECK((h.flags & WIRE_F_RD) == (qh.flags & WIRE_F_RD));
	CHECK((h.flags & WIRE_F_Z) == 0);
	CHECK((h.flags & WIRE_F_RCODE) == (info->rcode & WIRE_F_RCODE));
	CHECK(!!(h.flags & WIRE_F_TC) == info->truncated);
	CHECK(h.qdcount <= 1);

	/* The question, byte for byte as the client sent it. */
	if (h.qdcount == 1) {
		int n = wire_read_name(&c, name, false);
		CHECK(n > 0);
		wire_skip(&c, 4);
		CHECK(c.err == 0);
		CHECK(c.pos <= qlen);
		CHECK(memcmp(r + WIRE_HDR_LEN, q + WIRE_HDR_LEN,
			     c.pos - WIRE_HDR_LEN) == 0);
	} else {
		/* only a bare header for what could not be parsed */
		CHECK(len == WIRE_HDR_LEN);
		CHECK(h.ancount == 0 && h.nscount == 0 && h.arcount == 0);
		CHECK(!info->edns);
	}

	/* Every record parses (names may only point backwards), exactly one
	 * OPT iff the query had one, and it is the last record. */
	unsigned total = (unsigned)h.ancount + h.nscount + h.arcount;
	unsigned opts = 0;
	for (unsigned i = 0; i < total; i++) {
		uint16_t type, klass, rdlen;
		uint32_t ttl;
		size_t rdpos;
		CHECK(wire_skip_rr(&c, &type, &klass, &ttl, &rdlen, &rdpos) ==
		      0);
		if (type == WIRE_TYPE_OPT) {
			opts++;
			CHECK(i == total - 1);
			CHECK(rdlen == 0);
			CHECK(klass == MAX(cfg->edns_size, WIRE_UDP_MIN));
			CHECK(((ttl >> 16) & 0xff) == 0); /* version 0 */
			CHECK((((ttl >> 24) << 4) | (h.flags & WIRE_F_RCODE)) ==
			      info->rcode);
		} else {
			/* IN, or CH for the diagnostics names */
			CHECK(klass == WIRE_CLASS_IN ||
			      klass == WIRE_CLASS_CH);
		}
		/* names inside RDATA (SRV targets, NS, SOA) parse too */
		struct wire_cur rc = c;
		rc.pos = rdpos;
		if (type == WIRE_TYPE_NS)
			CHECK(wire_read_name(&rc, name, false) > 0 &&
			      rc.pos == rdpos + rdlen);
		if (type == WIRE_TYPE_SRV) {
			wire_skip(&rc, 6);
			CHECK(wire_read_name(&rc, name, false) > 0 &&
			      rc.pos == rdpos + rdlen);
		}
		if (type == WIRE_TYPE_SOA) {
			CHECK(wire_read_name(&rc, name, false) > 0);
			CHECK(wire_read_name(&rc, name, false) > 0);
			CHECK(rc.pos + 20 == rdpos + rdlen);
		}
		if (type == WIRE_TYPE_A)
			CHECK(rdlen == 4);
		if (type == WIRE_TYPE_AAAA)
			CHECK(rdlen == 16);
	}
	CHECK(c.err == 0);
	CHECK(c.pos == len); /* nothing after the last record */
	CHECK(opts == (info->edns ? 1u : 0u));

	/* RFC 8482: ANY gets one record at most. */
	if (h.qdcount == 1 && info->qtype == WIRE_TYPE_ANY)
		CHECK(h.ancount <= 1);
	/* Our TCP replies always fit: the largest answer in the fuzz zone is
	 * well under 64 KiB. */
	if (is_tcp)
		CHECK(!info->truncated);
}

size_t
fuzz_answer_checked(const struct zone *z, const struct answer_cfg *cfg,
		    const uint8_t *q, size_t qlen, bool is_tcp)
{
	static uint8_t out[TCP_OUTCAP];
	struct answer_info info;
	size_t outcap = is_tcp ? TCP_OUTCAP : UDP_OUTCAP;
	const struct zone_cfg *zc = z ? zone_config(z) : &fz_cfg;
	size_t len = answer_query(z, zc, cfg, q, qlen, out, outcap, is_tcp,
				  fuzz_scratch(), &info);

	switch (info.action) {
	case ANSWER_DROP:
		/* only runts and messages that are themselves replies */
		CHECK(len == 0);
		CHECK(qlen < WIRE_HDR_LEN || (q[2] & 0x80));
		break;
	case ANSWER_FORWARD:
		CHECK(len == 0);
		CHECK(cfg->recursion);
		break;
	case ANSWER_REPLY:
		CHECK(qlen >= WIRE_HDR_LEN && !(q[2] & 0x80));
		check_reply(cfg, q, qlen, out, len, &info, is_tcp);
		break;
	}
	return len;
}
