/* SPDX-License-Identifier: MIT
 * test_zone.c -- compiling services and building snapshots: names, health
 * filtering, tags, reserved and invalid names, the addr form, publishing,
 * distinct-address lists of large services. */
#include "testutil.h"

#include "catalog.h"
#include "log.h"
#include "util.h"
#include "zone.h"

static struct zone_cfg zc;

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(zone_cfg_init(&zc, "Service.Local."), 0);
	return 0;
}

static void
one_instance(struct svc_record *rec, const char *name, const char *addr,
	     enum svc_health health, const char *tag)
{
	memset(rec, 0, sizeof(*rec));
	rec->name = strdup(name);
	rec->inst = calloc(1, sizeof(*rec->inst));
	rec->count = 1;
	rec->inst[0].id = strdup("id-1");
	rec->inst[0].address = strdup(addr);
	rec->inst[0].port = 80;
	rec->inst[0].weight_passing = 1;
	rec->inst[0].weight_warning = 1;
	rec->inst[0].health = health;
	if (tag) {
		rec->inst[0].tags = calloc(1, sizeof(char *));
		rec->inst[0].tags[0] = strdup(tag);
		rec->inst[0].tag_count = 1;
	}
}

static bool
lookup(const struct zone *z, const char *rel_text, struct zone_hit *hit)
{
	uint8_t wire[256];
	int n = 0;
	/* rel_text like "primary.web": wire form without the root label */
	const char *p = rel_text;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		wire[n++] = (uint8_t)l;
		memcpy(wire + n, p, l);
		n += (int)l;
		p += l + (dot ? 1 : 0);
	}
	return zone_lookup(z, wire, (size_t)n, hit);
}

static void
test_cfg_normalises_apex(void **state)
{
	(void)state;
	assert_string_equal(zc.apex_text, "service.local");
	assert_int_equal(zc.apex_len, 15);
	assert_memory_equal(zc.apex, "\7service\5local", 15);
	assert_int_equal(zc.neg_ttl_s, 5);
	struct zone_cfg bad;
	assert_int_not_equal(zone_cfg_init(&bad, "a..b"), 0);
	assert_int_not_equal(zone_cfg_init(&bad, "."), 0);
}

static void
test_compile_indexes_every_name_form(void **state)
{
	(void)state;
	struct svc_record rec;
	struct zone_hit hit;
	one_instance(&rec, "Web", "10.1.2.3", SVC_PASSING, "Primary");
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	assert_non_null(s);
	struct zone *z = zone_new(&zc, &s, 1, 7, true);
	zone_svc_unref(s);

	assert_true(lookup(z, "web", &hit));
	assert_int_equal(hit.kind, ZK_SERVICE);
	assert_int_equal(hit.set->count, 1);
	assert_int_equal(hit.set->v4_count, 1);
	assert_true(lookup(z, "primary.web", &hit));
	assert_int_equal(hit.kind, ZK_SERVICE);
	assert_true(lookup(z, "_web._tcp", &hit));
	assert_int_equal(hit.kind, ZK_RFC2782);
	assert_true(lookup(z, "_web._udp", &hit));
	assert_true(lookup(z, "_web._primary", &hit));
	assert_int_equal(hit.kind, ZK_RFC2782);
	assert_true(lookup(z, "_tcp", &hit));
	assert_int_equal(hit.kind, ZK_EMPTY);
	assert_true(lookup(z, "_primary", &hit));
	assert_int_equal(hit.kind, ZK_EMPTY);
	assert_true(lookup(z, "addr", &hit));
	assert_false(lookup(z, "other", &hit));
	assert_false(lookup(z, "secondary.web", &hit));
	assert_int_equal(zone_serial(z), 7);
	assert_int_equal(zone_service_count(z), 1);
	assert_int_equal(zone_instance_count(z), 1);
	zone_free(z);
}

static void
test_critical_instance_is_not_served(void **state)
{
	(void)state;
	struct svc_record rec;
	one_instance(&rec, "db", "10.0.0.1", SVC_CRITICAL, NULL);
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	assert_int_equal(zone_svc_instance_count(s), 0);
	zone_svc_unref(s);
}

static void
test_invalid_and_reserved_names_are_skipped(void **state)
{
	(void)state;
	static const char *const bad[] = {"addr", "ADDR", "has.dot", "_under",
					  "sp ace", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct svc_record rec;
		one_instance(&rec, bad[i], "10.0.0.1", SVC_PASSING, NULL);
		assert_null(zone_svc_compile(&zc, &rec));
		catalog_record_fini(&rec);
	}
}

static void
test_unparseable_address_is_skipped(void **state)
{
	(void)state;
	struct svc_record rec;
	one_instance(&rec, "db", "not..valid", SVC_PASSING, NULL);
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	assert_int_equal(zone_svc_instance_count(s), 0);
	zone_svc_unref(s);
}

static void
test_colliding_names_keep_the_first(void **state)
{
	(void)state;
	struct svc_record a, b;
	struct zone_hit hit;
	one_instance(&a, "web", "10.0.0.1", SVC_PASSING, NULL);
	one_instance(&b, "WEB", "10.0.0.2", SVC_PASSING, NULL);
	struct zsvc *s[2] = {zone_svc_compile(&zc, &a),
			     zone_svc_compile(&zc, &b)};
	struct zone *z = zone_new(&zc, s, 2, 1, true);
	assert_int_equal(zone_service_count(z), 1);
	assert_true(lookup(z, "web", &hit));
	assert_int_equal(hit.inst[0].addr[3], 1);
	zone_free(z);
	zone_svc_unref(s[0]);
	zone_svc_unref(s[1]);
	catalog_record_fini(&a);
	catalog_record_fini(&b);
}

static void
test_service_ttl_override_applies(void **state)
{
	(void)state;
	struct zone_svc_ttl over = {(char *)"Web", 30};
	struct zone_cfg c = zc;
	struct svc_record rec;
	struct zone_hit hit;
	c.svc_ttls = &over;
	c.svc_ttl_count = 1;
	c.ttl_s = 2;
	one_instance(&rec, "web", "10.0.0.1", SVC_PASSING, NULL);
	struct zsvc *s = zone_svc_compile(&c, &rec);
	catalog_record_fini(&rec);
	struct zone *z = zone_new(&c, &s, 1, 1, true);
	assert_true(lookup(z, "web", &hit));
	assert_int_equal(hit.ttl_s, 30);
	zone_free(z);
	zone_svc_unref(s);
}

static void
test_addr_label_round_trips(void **state)
{
	(void)state;
	uint8_t a4[4] = {127, 0, 0, 11}, a6[16] = {0x20, 1, 0xd, 0xb8};
	uint8_t label[40], out[16];
	size_t n = zone_addr_label(4, a4, label);
	assert_int_equal(n, 9);
	assert_memory_equal(label, "\x08" "7f00000b", 9);
	assert_int_equal(zone_addr_decode(label + 1, 8, out), 4);
	assert_memory_equal(out, a4, 4);
	n = zone_addr_label(6, a6, label);
	assert_int_equal(n, 33);
	assert_int_equal(zone_addr_decode(label + 1, 32, out), 6);
	assert_memory_equal(out, a6, 16);
	assert_int_equal(zone_addr_decode((const uint8_t *)"7f00000", 7, out), 0);
	assert_int_equal(zone_addr_decode((const uint8_t *)"7g00000b", 8, out), 0);
}

static void
test_publish_replaces_current(void **state)
{
	(void)state;
	struct zone *a = zone_new(&zc, NULL, 0, 1, false);
	zone_publish(a);
	assert_ptr_equal(zone_current(), a);
	struct zone *b = zone_new(&zc, NULL, 0, 2, true);
	zone_publish(b); /* frees a: ASan/valgrind would see a leak otherwise */
	assert_ptr_equal(zone_current(), b);
	assert_true(zone_synced(zone_current()));
	zone_shutdown();
	assert_null(zone_current());
}

/* ---- incremental index (zone_new_from) --------------------------------- */

#define INC_SVCS 24
static const char *const inc_tags[] = {"a", "b", "tcp", "udp", "primary"};

/* A service with 1..4 instances, random health and tags; "Svc03"-style
 * names (upper case) collide with their lower-case twin. */
static struct zsvc *
inc_compile(const char *name, unsigned *seed)
{
	struct svc_record rec;
	size_t n = 1 + (size_t)(rand_r(seed) % 4);
	char addr[32], id[32];

	memset(&rec, 0, sizeof(rec));
	rec.name = strdup(name);
	rec.inst = calloc(n, sizeof(*rec.inst));
	rec.count = n;
	for (size_t i = 0; i < n; i++) {
		struct svc_instance *in = &rec.inst[i];
		snprintf(id, sizeof(id), "i%zu", i);
		snprintf(addr, sizeof(addr), "10.0.%d.%d", rand_r(seed) % 4,
			 rand_r(seed) % 4);
		in->id = strdup(id);
		in->address = strdup(addr);
		in->port = (uint16_t)(1000 + i);
		in->weight_passing = in->weight_warning = 1;
		in->health = rand_r(seed) % 5 == 0 ? SVC_CRITICAL : SVC_PASSING;
		in->tags = calloc(ARRAY_SIZE(inc_tags), sizeof(char *));
		for (size_t t = 0; t < ARRAY_SIZE(inc_tags); t++)
			if (rand_r(seed) % 3 == 0)
				in->tags[in->tag_count++] = strdup(inc_tags[t]);
	}
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	return s;
}

static void
hits_equal(const struct zone *a, const struct zone *b, const char *name)
{
	struct zone_hit ha, hb;
	bool fa = lookup(a, name, &ha), fb = lookup(b, name, &hb);
	if (fa != fb)
		fail_msg("%s: %s in one snapshot only", name,
			 fa ? "found" : "not found");
	if (!fa)
		return;
	assert_int_equal(ha.kind, hb.kind);
	assert_ptr_equal(ha.set, hb.set);
	assert_ptr_equal(ha.inst, hb.inst);
	assert_ptr_equal(ha.txt, hb.txt);
	assert_int_equal(ha.txt_len, hb.txt_len);
	assert_int_equal(ha.ttl_s, hb.ttl_s);
	assert_int_equal(ha.addr_count, hb.addr_count);
}

/* Every name either snapshot could hold answers the same in both. */
static void
zones_equal(const struct zone *a, const struct zone *b)
{
	char n[128];
	assert_int_equal(zone_service_count(a), zone_service_count(b));
	assert_int_equal(zone_instance_count(a), zone_instance_count(b));
	hits_equal(a, b, "addr");
	hits_equal(a, b, "_tcp");
	hits_equal(a, b, "_udp");
	for (size_t t = 0; t < ARRAY_SIZE(inc_tags); t++) {
		snprintf(n, sizeof(n), "_%s", inc_tags[t]);
		hits_equal(a, b, n);
	}
	for (int i = 0; i < INC_SVCS; i++) {
		snprintf(n, sizeof(n), "svc%02d", i);
		hits_equal(a, b, n);
		snprintf(n, sizeof(n), "_svc%02d._tcp", i);
		hits_equal(a, b, n);
		snprintf(n, sizeof(n), "_svc%02d._udp", i);
		hits_equal(a, b, n);
		for (size_t t = 0; t < ARRAY_SIZE(inc_tags); t++) {
			snprintf(n, sizeof(n), "%s.svc%02d", inc_tags[t], i);
			hits_equal(a, b, n);
			snprintf(n, sizeof(n), "_svc%02d._%s", i, inc_tags[t]);
			hits_equal(a, b, n);
		}
	}
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(zone_svc_name(*(struct zsvc *const *)a),
		      zone_svc_name(*(struct zsvc *const *)b));
}

static void
test_incremental_index_matches_full_build(void **state)
{
	(void)state;
	unsigned seed = 42;
	struct zsvc *cur[2 * INC_SVCS];
	size_t count = 0;
	char name[16];

	for (int i = 0; i < INC_SVCS; i += 2) { /* every other one, to add */
		snprintf(name, sizeof(name), "svc%02d", i);
		cur[count++] = inc_compile(name, &seed);
	}
	struct zone *z = zone_new(&zc, cur, count, 1, true);
	enum log_level saved = log_current_level;
	log_set_level(LOG_LVL_ERROR); /* the collisions' warnings, hundreds */
	for (int step = 0; step < 400; step++) {
		int op = rand_r(&seed) % 20;
		int i = rand_r(&seed) % INC_SVCS;
		size_t at = count;
		if (op == 19)
			i %= 2; /* so the collision comes and goes often */
		/* op 19: a name colliding in case comes or goes */
		snprintf(name, sizeof(name), op == 19 ? "Svc%02d" : "svc%02d", i);
		for (size_t k = 0; k < count; k++)
			if (strcmp(zone_svc_name(cur[k]), name) == 0)
				at = k;
		if (at < count && (op < 6 || op == 19)) { /* removed */
			zone_svc_unref(cur[at]);
			cur[at] = cur[--count];
		} else if (at < count) { /* changed: a new compiled form */
			zone_svc_unref(cur[at]);
			cur[at] = inc_compile(name, &seed);
		} else { /* added */
			cur[count++] = inc_compile(name, &seed);
		}
		qsort(cur, count, sizeof(*cur), by_name);
		struct zone *next = zone_new_from(z, &zc, cur, count,
						  (uint32_t)step + 2, true);
		struct zone *full = zone_new(&zc, cur, count, 1, true);
		zones_equal(next, full);
		zone_free(full);
		zone_free(z); /* next must not depend on it */
		z = next;
	}
	log_set_level(saved);
	zone_free(z);
	for (size_t k = 0; k < count; k++)
		zone_svc_unref(cur[k]);
}

static void
test_incremental_removal_keeps_shared_empty_names(void **state)
{
	(void)state;
	struct svc_record r1, r2;
	struct zone_hit hit;
	one_instance(&r1, "one", "10.0.0.1", SVC_PASSING, "blue");
	one_instance(&r2, "two", "10.0.0.2", SVC_PASSING, "blue");
	struct zsvc *s[2] = {zone_svc_compile(&zc, &r1),
			     zone_svc_compile(&zc, &r2)};
	catalog_record_fini(&r1);
	catalog_record_fini(&r2);
	struct zone *a = zone_new(&zc, s, 2, 1, true);
	struct zone *b = zone_new_from(a, &zc, s + 1, 1, 2, true);
	assert_true(lookup(b, "_blue", &hit)); /* "two" still has the tag */
	assert_int_equal(hit.kind, ZK_EMPTY);
	assert_false(lookup(b, "one", &hit));
	assert_true(lookup(a, "one", &hit)); /* a is unchanged */
	struct zone *c = zone_new_from(b, &zc, NULL, 0, 3, true);
	assert_false(lookup(c, "_blue", &hit));
	assert_false(lookup(c, "_tcp", &hit)); /* no service left */
	assert_true(lookup(c, "addr", &hit));
	assert_true(lookup(b, "_blue", &hit));
	zone_free(a);
	zone_free(b);
	zone_free(c);
	zone_svc_unref(s[0]);
	zone_svc_unref(s[1]);
}

/* ---- large services: distinct addresses ------------------------------- */

/* Seven addresses, four IPv4 and three IPv6; the last one in two
 * spellings, which are one address. */
static const char *const shared_addr[][2] = {
    {"10.0.0.1", "10.0.0.1"},	  {"10.0.0.2", "10.0.0.2"},
    {"10.0.0.3", "10.0.0.3"},	  {"192.0.2.4", "192.0.2.4"},
    {"2001:db8::5", "2001:db8::5"}, {"2001:db8::6", "2001:db8::6"},
    {"2001:db8::7", "2001:DB8:0:0::7"},
};
#define SHARED_N 3000

static char **
strv(size_t n, ...)
{
	char **v = calloc(n ? n : 1, sizeof(char *));
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		v[i] = strdup(va_arg(ap, const char *));
	va_end(ap);
	return v;
}

/* SHARED_N passing instances; instance i has address (3i + 5) mod 7, so
 * the first seven are the seven addresses, in an order unlike the list's,
 * and addr_id numbers them by first appearance: instance i gets i mod 7.
 * Tags: "even" on even instances; "odd" on odd ones, spelled "Odd" on
 * some and twice ("odd", "ODD") on others, one tag either way; "rare" on
 * instances 7, 14 (the same address as 7) and 1000. Then five critical
 * instances on an eighth address, the only ones tagged "down". */
static void
shared_record(struct svc_record *rec)
{
	char id[32];
	memset(rec, 0, sizeof(*rec));
	rec->name = strdup("big");
	rec->count = SHARED_N + 5;
	rec->inst = calloc(rec->count, sizeof(*rec->inst));
	for (size_t i = 0; i < rec->count; i++) {
		struct svc_instance *in = &rec->inst[i];
		snprintf(id, sizeof(id), "i%zu", i);
		in->id = strdup(id);
		in->port = (uint16_t)(1000 + i);
		in->weight_passing = in->weight_warning = 1;
		if (i >= SHARED_N) {
			in->address = strdup("10.9.9.9");
			in->health = SVC_CRITICAL;
			in->tags = strv(1, "down");
			in->tag_count = 1;
			continue;
		}
		in->address = strdup(shared_addr[(3 * i + 5) % 7][i % 2]);
		in->health = SVC_PASSING;
		if (i == 7 || i == 14 || i == 1000) {
			in->tags = strv(2, i % 2 ? "odd" : "even", "rare");
			in->tag_count = 2;
		} else if (i % 2 == 0) {
			in->tags = strv(1, "even");
			in->tag_count = 1;
		} else if (i % 10 == 3) {
			in->tags = strv(2, "odd", "ODD");
			in->tag_count = 2;
		} else {
			in->tags = strv(1, i % 10 == 5 ? "Odd" : "odd");
			in->tag_count = 1;
		}
	}
}

/* A set's A and AAAA lists must be the first instance of each address of
 * the set, in the set's order: checked against a plain scan (the set has
 * few addresses). */
static void
assert_first_of_each_address(const struct zone_hit *h)
{
	const struct zinst *kept[16];
	uint32_t nk = 0, n4 = 0, n6 = 0;
	for (uint32_t k = 0; k < h->set->count; k++) {
		const struct zinst *zi = &h->inst[h->set->inst[k]];
		bool first = true;
		for (uint32_t j = 0; j < nk && first; j++)
			first = kept[j]->family != zi->family ||
				memcmp(kept[j]->addr, zi->addr, 16) != 0;
		if (!first)
			continue;
		assert_true(nk < ARRAY_SIZE(kept));
		kept[nk++] = zi;
		if (zi->family == 4) {
			assert_true(n4 < h->set->v4_count);
			assert_int_equal(h->set->v4[n4++], h->set->inst[k]);
		} else {
			assert_true(n6 < h->set->v6_count);
			assert_int_equal(h->set->v6[n6++], h->set->inst[k]);
		}
	}
	assert_int_equal(n4, h->set->v4_count);
	assert_int_equal(n6, h->set->v6_count);
}

static void
test_shared_addresses_are_listed_once_per_set(void **state)
{
	(void)state;
	struct svc_record rec;
	struct zone_hit hit;
	shared_record(&rec);
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	assert_int_equal(zone_svc_instance_count(s), SHARED_N);
	struct zone *z = zone_new(&zc, &s, 1, 1, true);
	zone_svc_unref(s);

	assert_true(lookup(z, "big", &hit));
	assert_int_equal(hit.addr_count, 7);
	assert_int_equal(hit.set->count, SHARED_N);
	for (uint32_t i = 0; i < SHARED_N; i++) {
		assert_int_equal(hit.set->inst[i], i);
		assert_int_equal(hit.inst[i].addr_id, i % 7);
	}
	/* the first seven instances are the seven addresses (list entries
	 * 5 1 4 0 3 6 2): the IPv4 ones, 0..3, at instances 1 3 4 6 */
	assert_int_equal(hit.set->v4_count, 4);
	assert_int_equal(hit.set->v6_count, 3);
	static const uint32_t v4[] = {1, 3, 4, 6}, v6[] = {0, 2, 5};
	assert_memory_equal(hit.set->v4, v4, sizeof(v4));
	assert_memory_equal(hit.set->v6, v6, sizeof(v6));
	assert_int_equal(hit.set->srv_hex_len, 0); /* shared, mixed */
	assert_first_of_each_address(&hit);

	assert_true(lookup(z, "even.big", &hit));
	assert_int_equal(hit.set->count, SHARED_N / 2);
	for (uint32_t k = 0; k < hit.set->count; k++)
		assert_int_equal(hit.set->inst[k], 2 * k);
	assert_int_equal(hit.set->v4_count, 4);
	assert_int_equal(hit.set->v6_count, 3);
	assert_first_of_each_address(&hit);

	/* "odd", "Odd" and "ODD" are one tag, each instance in it once */
	assert_true(lookup(z, "odd.big", &hit));
	assert_int_equal(hit.set->count, SHARED_N / 2);
	for (uint32_t k = 0; k < hit.set->count; k++)
		assert_int_equal(hit.set->inst[k], 2 * k + 1);
	assert_int_equal(hit.set->v4_count + hit.set->v6_count, 7);
	assert_first_of_each_address(&hit);

	/* 7 and 14 share 2001:db8::6, 1000 has 10.0.0.3 */
	assert_true(lookup(z, "rare.big", &hit));
	assert_int_equal(hit.set->count, 3);
	assert_int_equal(hit.set->v4_count, 1);
	assert_int_equal(hit.set->v4[0], 1000);
	assert_int_equal(hit.set->v6_count, 1);
	assert_int_equal(hit.set->v6[0], 7);
	assert_first_of_each_address(&hit);
	assert_true(lookup(z, "_big._rare", &hit));
	assert_int_equal(hit.kind, ZK_RFC2782);
	assert_int_equal(hit.set->count, 3);

	/* tagged only on instances that are down: the name exists, empty */
	assert_true(lookup(z, "down.big", &hit));
	assert_int_equal(hit.set->count, 0);
	assert_int_equal(hit.set->v4_count, 0);
	assert_int_equal(hit.set->v6_count, 0);
	zone_free(z);
}

#define DISTINCT_N 20000

/* DISTINCT_N instances, each its own address: IPv4 on even instances,
 * IPv6 on odd ones; all tagged "all", every third also "third". */
static void
test_distinct_addresses_are_each_listed_once(void **state)
{
	(void)state;
	struct svc_record rec;
	struct zone_hit hit;
	char a[64];

	memset(&rec, 0, sizeof(rec));
	rec.name = strdup("wide");
	rec.count = DISTINCT_N;
	rec.inst = calloc(rec.count, sizeof(*rec.inst));
	for (size_t i = 0; i < rec.count; i++) {
		struct svc_instance *in = &rec.inst[i];
		if (i % 2 == 0)
			snprintf(a, sizeof(a), "10.%zu.%zu.%zu", i >> 16,
				 i >> 8 & 255, i & 255);
		else
			snprintf(a, sizeof(a), "2001:db8::%zx:%zx", i >> 16,
				 i & 0xffff);
		in->id = strdup("i");
		in->address = strdup(a);
		in->port = 80;
		in->weight_passing = in->weight_warning = 1;
		in->health = SVC_PASSING;
		in->tag_count = i % 3 == 0 ? 2 : 1;
		in->tags = i % 3 == 0 ? strv(2, "all", "third") : strv(1, "all");
	}
	struct zsvc *s = zone_svc_compile(&zc, &rec);
	catalog_record_fini(&rec);
	assert_int_equal(zone_svc_instance_count(s), DISTINCT_N);
	struct zone *z = zone_new(&zc, &s, 1, 1, true);
	zone_svc_unref(s);

	static const char *const names[] = {"wide", "all.wide", "third.wide"};
	uint8_t *listed = calloc(DISTINCT_N, 1);
	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		uint32_t step = n == 2 ? 3 : 1;
		assert_true(lookup(z, names[n], &hit));
		assert_int_equal(hit.addr_count, DISTINCT_N);
		assert_int_equal(hit.set->count, (DISTINCT_N + step - 1) / step);
		/* every instance of the set in exactly one list, in order */
		memset(listed, 0, DISTINCT_N);
		for (uint32_t k = 0; k < hit.set->v4_count; k++) {
			uint32_t i = hit.set->v4[k];
			assert_int_equal(hit.inst[i].family, 4);
			assert_true(k == 0 || i > hit.set->v4[k - 1]);
			listed[i]++;
		}
		for (uint32_t k = 0; k < hit.set->v6_count; k++) {
			uint32_t i = hit.set->v6[k];
			assert_int_equal(hit.inst[i].family, 6);
			assert_true(k == 0 || i > hit.set->v6[k - 1]);
			listed[i]++;
		}
		assert_int_equal(hit.set->v4_count + hit.set->v6_count,
				 hit.set->count);
		for (uint32_t k = 0; k < hit.set->count; k++) {
			uint32_t i = hit.set->inst[k];
			assert_int_equal(i, k * step);
			assert_int_equal(listed[i], 1);
			assert_int_equal(hit.inst[i].addr_id, i);
		}
	}
	free(listed);
	zone_free(z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cfg_normalises_apex),
	    cmocka_unit_test(test_compile_indexes_every_name_form),
	    cmocka_unit_test(test_critical_instance_is_not_served),
	    cmocka_unit_test(test_invalid_and_reserved_names_are_skipped),
	    cmocka_unit_test(test_unparseable_address_is_skipped),
	    cmocka_unit_test(test_colliding_names_keep_the_first),
	    cmocka_unit_test(test_service_ttl_override_applies),
	    cmocka_unit_test(test_addr_label_round_trips),
	    cmocka_unit_test(test_publish_replaces_current),
	    cmocka_unit_test(test_incremental_index_matches_full_build),
	    cmocka_unit_test(test_incremental_removal_keeps_shared_empty_names),
	    cmocka_unit_test(test_shared_addresses_are_listed_once_per_set),
	    cmocka_unit_test(test_distinct_addresses_are_each_listed_once),
	};
	return cmocka_run_group_tests_name("zone", tests, setup, NULL);
}
