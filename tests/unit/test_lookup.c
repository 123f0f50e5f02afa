/* SPDX-License-Identifier: MIT
 * test_lookup.c -- lookup_order(): the RFC 2782 choice of SRV targets, with
 *                  a scripted random source and with a seeded generator.
 * Owns:    nothing but its test cases.
 * Never:   DNS traffic (the c-ares side is covered by
 *          tests/system/test_lookup.py against a real srvshimd). */
#include "testutil.h"

#include "lookup.h"
#include "util.h"

/* A random source that replays a script and records each bound asked. */
struct script {
	uint32_t values[16];
	uint32_t bounds[16];
	size_t next, count;
};

static uint32_t
scripted(void *arg, uint32_t n)
{
	struct script *s = arg;
	uint32_t v;

	assert_true(s->next < s->count);
	v = s->values[s->next];
	s->bounds[s->next++] = n;
	assert_true(v < n);
	return v;
}

static uint32_t
seeded(void *arg, uint32_t n)
{
	return rng_below(arg, n);
}

static void
set(struct lookup_target *t, const char *host, uint16_t prio, uint16_t weight)
{
	memset(t, 0, sizeof(*t));
	t->host = (char *)host; /* borrowed: never freed in these tests */
	t->priority = prio;
	t->weight = weight;
	t->port = 80;
}

static void
test_order_lowest_priority_first(void **state)
{
	struct lookup_target t[3];
	struct script s = {.values = {0}, .count = 1};

	(void)state;
	set(&t[0], "c", 20, 1);
	set(&t[1], "a", 10, 0);
	set(&t[2], "b", 30, 5);
	lookup_order(t, 3, scripted, &s);
	assert_string_equal(t[0].host, "a");
	assert_string_equal(t[1].host, "c");
	assert_string_equal(t[2].host, "b");
	/* one group of one needs no draw */
	assert_int_equal(s.next, 0);
}

static void
test_order_weighted_draw_from_1_to_sum(void **state)
{
	struct lookup_target t[3];
	/* weights 1, 3, 6: running sums 1, 4, 10. A draw of 4 (value 3 + 1)
	 * picks the second; then between 1 and 6 a draw of 2 (value 1 + 1)
	 * picks the one of weight 6 (running sums 1, 7). */
	struct script s = {.values = {3, 1}, .count = 2};

	(void)state;
	set(&t[0], "w1", 1, 1);
	set(&t[1], "w3", 1, 3);
	set(&t[2], "w6", 1, 6);
	lookup_order(t, 3, scripted, &s);
	assert_int_equal(s.bounds[0], 10);
	assert_int_equal(s.bounds[1], 7);
	assert_string_equal(t[0].host, "w3");
	assert_string_equal(t[1].host, "w6");
	assert_string_equal(t[2].host, "w1");
}

static void
test_order_edges_of_the_running_sum(void **state)
{
	struct lookup_target t[2];
	struct script lo = {.values = {0}, .count = 1};
	struct script hi = {.values = {4}, .count = 1};

	(void)state;
	set(&t[0], "a", 0, 1);
	set(&t[1], "b", 0, 4);
	lookup_order(t, 2, scripted, &lo); /* draw 1: a (sum 1 >= 1) */
	assert_string_equal(t[0].host, "a");
	set(&t[0], "a", 0, 1);
	set(&t[1], "b", 0, 4);
	lookup_order(t, 2, scripted, &hi); /* draw 5: b */
	assert_string_equal(t[0].host, "b");
}

static void
test_order_zero_weight_first_in_running_sum(void **state)
{
	struct lookup_target t[2];
	struct script s = {.values = {0}, .count = 1};

	(void)state;
	/* RFC 2782: with a zero-weight RR present the draw is 0..sum and a
	 * 0 selects the zero-weight RR, which sits first in the sum. */
	set(&t[0], "heavy", 0, 5);
	set(&t[1], "zero", 0, 0);
	lookup_order(t, 2, scripted, &s);
	assert_int_equal(s.bounds[0], 6);
	assert_string_equal(t[0].host, "zero");
}

static void
test_order_all_zero_weights_uniform(void **state)
{
	struct lookup_target t[3];
	struct script s = {.values = {2, 0}, .count = 2};

	(void)state;
	set(&t[0], "a", 0, 0);
	set(&t[1], "b", 0, 0);
	set(&t[2], "c", 0, 0);
	lookup_order(t, 3, scripted, &s);
	assert_int_equal(s.bounds[0], 3);
	assert_string_equal(t[0].host, "c");
}

static void
test_order_is_a_permutation(void **state)
{
	struct lookup_target t[6];
	const char *names[6] = {"a", "b", "c", "d", "e", "f"};
	struct rng r = {{42, 4242}};
	int seen[6] = {0};

	(void)state;
	for (int i = 0; i < 6; i++)
		set(&t[i], names[i], (uint16_t)(i % 2), (uint16_t)i);
	lookup_order(t, 6, seeded, &r);
	for (int i = 0; i < 6; i++) {
		seen[t[i].host[0] - 'a']++;
		if (i > 0)
			assert_true(t[i - 1].priority <= t[i].priority);
	}
	for (int i = 0; i < 6; i++)
		assert_int_equal(seen[i], 1);
}

static void
test_pick_frequency_follows_weights(void **state)
{
	/* weights 1, 2, 7 over 100000 picks with a fixed seed: within 1.5
	 * percentage points of 10 %, 20 %, 70 % (the standard deviation is
	 * under 0.15 points, so this is ten of them). */
	const int n = 100000;
	int hits[3] = {0};
	struct rng r = {{0x1234567, 0x89abcdef}};

	(void)state;
	for (int i = 0; i < n; i++) {
		struct lookup_target t[3];
		set(&t[0], "0", 1, 1);
		set(&t[1], "1", 1, 2);
		set(&t[2], "2", 1, 7);
		lookup_order(t, 3, seeded, &r);
		hits[t[0].host[0] - '0']++;
	}
	assert_in_range(hits[0], n * 85 / 1000, n * 115 / 1000);
	assert_in_range(hits[1], n * 185 / 1000, n * 215 / 1000);
	assert_in_range(hits[2], n * 685 / 1000, n * 715 / 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_lowest_priority_first),
	    cmocka_unit_test(test_order_weighted_draw_from_1_to_sum),
	    cmocka_unit_test(test_order_edges_of_the_running_sum),
	    cmocka_unit_test(test_order_zero_weight_first_in_running_sum),
	    cmocka_unit_test(test_order_all_zero_weights_uniform),
	    cmocka_unit_test(test_order_is_a_permutation),
	    cmocka_unit_test(test_pick_frequency_follows_weights),
	};

	return cmocka_run_group_tests_name("lookup", tests, NULL, NULL);
}
