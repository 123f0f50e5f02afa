/* SPDX-License-Identifier: MIT
 * test_cache.c -- the forward cache: hits with their age, expiry at the
 * TTL, LRU eviction at the bound, replacement, size 0 and the size cap. */
#include "testutil.h"

#include "cache.h"

static void
put_str(struct cache *c, const char *key, const char *msg, uint32_t ttl,
	uint64_t now)
{
	cache_put(c, (const uint8_t *)key, strlen(key), (const uint8_t *)msg,
		  strlen(msg) + 1, ttl, now);
}

static const char *
get_str(struct cache *c, const char *key, uint64_t now, uint32_t *age)
{
	size_t len;
	uint32_t a = 0;
	const uint8_t *p = cache_get(c, (const uint8_t *)key, strlen(key), now,
				     &len, &a);
	if (age)
		*age = a;
	return (const char *)p;
}

static void
test_hit_returns_copy_and_age(void **state)
{
	(void)state;
	struct cache *c = cache_new(4);
	char msg[] = "answer";
	uint32_t age;
	put_str(c, "k", msg, 10, 1000);
	msg[0] = 'X'; /* the cache holds its own copy */
	assert_string_equal(get_str(c, "k", 1000, &age), "answer");
	assert_int_equal(age, 0);
	assert_string_equal(get_str(c, "k", 4999, &age), "answer");
	assert_int_equal(age, 3);
	assert_null(get_str(c, "other", 1000, NULL));
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.entries, 1);
	cache_free(c);
}

static void
test_entry_expires_at_its_ttl(void **state)
{
	(void)state;
	struct cache *c = cache_new(4);
	put_str(c, "k", "v", 2, 10000);
	assert_non_null(get_str(c, "k", 11999, NULL));
	assert_null(get_str(c, "k", 12000, NULL));
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	cache_free(c);
}

static void
test_full_cache_evicts_least_recently_used(void **state)
{
	(void)state;
	struct cache *c = cache_new(3);
	put_str(c, "a", "1", 60, 0);
	put_str(c, "b", "2", 60, 0);
	put_str(c, "c", "3", 60, 0);
	assert_non_null(get_str(c, "a", 1, NULL)); /* a is now recent */
	put_str(c, "d", "4", 60, 2);		    /* b goes */
	assert_null(get_str(c, "b", 3, NULL));
	assert_non_null(get_str(c, "a", 3, NULL));
	assert_non_null(get_str(c, "c", 3, NULL));
	assert_non_null(get_str(c, "d", 3, NULL));
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 1);
	/* many more keys: the count never passes the bound */
	char key[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put_str(c, key, "v", 60, 10);
	}
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_non_null(get_str(c, "k999", 11, NULL));
	assert_null(get_str(c, "k996", 11, NULL));
	cache_free(c);
}

static void
test_same_key_is_replaced(void **state)
{
	(void)state;
	struct cache *c = cache_new(2);
	put_str(c, "k", "old", 60, 0);
	put_str(c, "k", "new", 5, 1000);
	uint32_t age;
	assert_string_equal(get_str(c, "k", 2000, &age), "new");
	assert_int_equal(age, 1);
	assert_null(get_str(c, "k", 6000, NULL)); /* the new TTL counts */
	cache_free(c);
}

static void
test_size_zero_ttl_zero_and_big_messages_store_nothing(void **state)
{
	(void)state;
	assert_null(cache_new(0));
	put_str(NULL, "k", "v", 60, 0); /* no-op, no crash */
	assert_null(get_str(NULL, "k", 0, NULL));
	cache_free(NULL);

	struct cache *c = cache_new(2);
	put_str(c, "k", "v", 0, 0);
	assert_null(get_str(c, "k", 0, NULL));
	static uint8_t big[CACHE_MSG_MAX + 1];
	cache_put(c, (const uint8_t *)"b", 1, big, sizeof(big), 60, 0);
	size_t len;
	uint32_t age;
	assert_null(cache_get(c, (const uint8_t *)"b", 1, 0, &len, &age));
	cache_put(c, (const uint8_t *)"b", 1, big, CACHE_MSG_MAX, 60, 0);
	assert_non_null(cache_get(c, (const uint8_t *)"b", 1, 0, &len, &age));
	assert_int_equal(len, CACHE_MSG_MAX);
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_returns_copy_and_age),
	    cmocka_unit_test(test_entry_expires_at_its_ttl),
	    cmocka_unit_test(test_full_cache_evicts_least_recently_used),
	    cmocka_unit_test(test_same_key_is_replaced),
	    cmocka_unit_test(test_size_zero_ttl_zero_and_big_messages_store_nothing),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
