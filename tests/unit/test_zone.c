/* SPDX-License-Identifier: MIT
 * test_zone.c -- compiling services and building snapshots: names, health
 * filtering, tags, reserved and invalid names, the addr form, publishing. */
#include "testutil.h"

#include "catalog.h"
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
	};
	return cmocka_run_group_tests_name("zone", tests, setup, NULL);
}
