/* SPDX-License-Identifier: MIT
 * test_sidecar.c -- sidecar.c without Consul: instance IDs and the backoff.
 * Owns:    nothing but its test cases.
 * Never:   HTTP (register, heartbeat, re-register and deregister run
 *          against a real agent in tests/system/test_register.py). */
#include "testutil.h"

#include <ctype.h>

#include "config.h"
#include "sidecar.h"
#include "util.h"

static void
test_id_is_name_dash_uuid_v4(void **state)
{
	struct consul_cfg consul = {0};
	struct sidecar_cfg cfg = {.name = "data", .port = 80, .ttl_ms = 10000};
	struct sidecar *a = sidecar_new(&consul, &cfg);
	struct sidecar *b = sidecar_new(&consul, &cfg);
	const char *id = sidecar_id(a), *u;

	(void)state;
	assert_int_equal(strncmp(id, "data-", 5), 0);
	u = id + 5;
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_true(isxdigit((unsigned char)u[i]) &&
				    !isupper((unsigned char)u[i]));
	}
	assert_int_equal(u[14], '4');		      /* version 4 */
	assert_non_null(strchr("89ab", u[19]));	      /* RFC 4122 variant */
	assert_string_not_equal(id, sidecar_id(b)); /* fresh each time */
	sidecar_free(a);
	sidecar_free(b);
}

static void
test_backoff_doubles_to_cap_with_equal_jitter(void **state)
{
	struct rng r = {{7, 11}};
	uint64_t expect = SIDECAR_BACKOFF_MIN_MS;

	(void)state;
	for (unsigned attempt = 0; attempt < 12; attempt++) {
		for (int k = 0; k < 200; k++) {
			uint64_t d = sidecar_backoff_ms(attempt, 5000, &r);
			assert_in_range(d, expect / 2, expect);
		}
		expect = MIN(expect * 2, 5000);
	}
}

static void
test_backoff_huge_attempt_stays_at_cap(void **state)
{
	struct rng r = {{1, 2}};

	(void)state;
	assert_in_range(sidecar_backoff_ms(100000, 10000, &r), 5000, 10000);
	/* a cap below the minimum is raised to it */
	assert_in_range(sidecar_backoff_ms(3, 1, &r),
			SIDECAR_BACKOFF_MIN_MS / 2, SIDECAR_BACKOFF_MIN_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_is_name_dash_uuid_v4),
	    cmocka_unit_test(test_backoff_doubles_to_cap_with_equal_jitter),
	    cmocka_unit_test(test_backoff_huge_attempt_stays_at_cap),
	};

	return cmocka_run_group_tests_name("sidecar", tests, NULL, NULL);
}
