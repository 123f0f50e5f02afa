/* SPDX-License-Identifier: MIT
 * test_acl.c -- client networks: parsing --allow prefixes (host bits,
 * bounds, bare addresses) and matching IPv4, IPv6 and mapped addresses. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "acl.h"

static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static bool
allows(const struct acl *a, const char *text)
{
	struct sockaddr_storage ss = sa(text);
	return acl_allows(a, (const struct sockaddr *)&ss);
}

static struct acl
acl_of(const char *const *prefixes)
{
	struct acl a;
	char err[256];
	memset(&a, 0, sizeof(a));
	for (; *prefixes; prefixes++) {
		struct acl_prefix p;
		assert_int_equal(acl_parse(*prefixes, &p, err, sizeof(err)), 0);
		assert_int_equal(acl_add(&a, &p), 0);
	}
	return a;
}

static void
test_parse_accepts_prefixes_and_hosts(void **state)
{
	(void)state;
	struct acl_prefix p;
	char err[256], text[64];
	assert_int_equal(acl_parse("10.1.0.0/16", &p, err, sizeof(err)), 0);
	assert_int_equal(p.family, 4);
	assert_int_equal(p.bits, 16);
	assert_string_equal(acl_prefix_text(&p, text, sizeof(text)),
			    "10.1.0.0/16");
	assert_int_equal(acl_parse("192.0.2.9", &p, err, sizeof(err)), 0);
	assert_int_equal(p.bits, 32);
	assert_int_equal(acl_parse("2001:db8::/32", &p, err, sizeof(err)), 0);
	assert_int_equal(p.family, 6);
	assert_int_equal(acl_parse("::/0", &p, err, sizeof(err)), 0);
	assert_int_equal(p.bits, 0);
}

static void
test_parse_rejects_bad_prefixes(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "10.0.0.1/8", "10.0.0.0/33", "::1/129", "host.example",
	    "/8", "", "10.0.0.0/", "10.0.0.0/8x", "10.16.0.0/11"};
	struct acl_prefix p;
	char err[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(acl_parse(bad[i], &p, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "--allow"));
	}
}

static void
test_match_ipv4_ipv6_and_mapped(void **state)
{
	(void)state;
	static const char *const prefixes[] = {"10.16.0.0/12", "192.0.2.7",
					       "2001:db8:80::/41", NULL};
	struct acl a = acl_of(prefixes);
	assert_true(allows(&a, "10.16.0.1"));
	assert_true(allows(&a, "10.31.255.255"));
	assert_false(allows(&a, "10.32.0.0"));
	assert_false(allows(&a, "10.15.255.255"));
	assert_true(allows(&a, "192.0.2.7"));
	assert_false(allows(&a, "192.0.2.8"));
	assert_true(allows(&a, "2001:db8:80::1"));
	assert_true(allows(&a, "2001:db8:ff:ffff::1"));
	assert_false(allows(&a, "2001:db8:7f::1"));
	assert_true(allows(&a, "::ffff:192.0.2.7")); /* mapped: as IPv4 */
	assert_false(allows(&a, "::ffff:192.0.2.8"));
	struct sockaddr sa_unix = {.sa_family = AF_UNIX};
	assert_false(acl_allows(&a, &sa_unix));
}

static void
test_default_is_loopback_only(void **state)
{
	(void)state;
	struct acl a;
	acl_default(&a);
	assert_true(allows(&a, "127.0.0.1"));
	assert_true(allows(&a, "127.255.0.9"));
	assert_true(allows(&a, "::1"));
	assert_false(allows(&a, "128.0.0.1"));
	assert_false(allows(&a, "10.0.0.1"));
	assert_false(allows(&a, "::2"));
	struct acl none;
	memset(&none, 0, sizeof(none));
	assert_false(allows(&none, "127.0.0.1"));
}

static void
test_list_is_bounded(void **state)
{
	(void)state;
	struct acl a;
	struct acl_prefix p;
	char err[256];
	memset(&a, 0, sizeof(a));
	assert_int_equal(acl_parse("10.0.0.0/8", &p, err, sizeof(err)), 0);
	for (int i = 0; i < ACL_MAX; i++)
		assert_int_equal(acl_add(&a, &p), 0);
	assert_int_equal(acl_add(&a, &p), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_accepts_prefixes_and_hosts),
	    cmocka_unit_test(test_parse_rejects_bad_prefixes),
	    cmocka_unit_test(test_match_ipv4_ipv6_and_mapped),
	    cmocka_unit_test(test_default_is_loopback_only),
	    cmocka_unit_test(test_list_is_bounded),
	};
	return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
