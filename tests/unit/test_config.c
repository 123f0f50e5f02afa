/* SPDX-License-Identifier: MIT
 * test_config.c -- the option table: defaults, every value form, bounds and
 * errors, Consul's environment variables, the zone configuration. */
#include "testutil.h"

#include <arpa/inet.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"

static int
parse(struct config *cfg, const char *const *args)
{
	char *argv[64];
	int argc = 0;
	argv[argc++] = (char *)"srvshimd";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return config_parse_args(cfg, argc, argv);
}

static void
clear_env(void)
{
	static const char *const vars[] = {
	    "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE",
	    "CONSUL_CACERT", "CONSUL_CAPATH", "CONSUL_CLIENT_CERT",
	    "CONSUL_CLIENT_KEY", "CONSUL_HTTP_SSL_VERIFY"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static int
setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static void
test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const args[] = {NULL};
	assert_int_equal(parse(&cfg, args), 0);
	assert_int_equal(cfg.listen_count, 1);
	assert_string_equal(cfg.listen[0].text, "127.0.0.1:53");
	assert_string_equal(cfg.zone_text, "service.local");
	assert_string_equal(cfg.consul.base_url, "http://127.0.0.1:8500");
	assert_null(cfg.consul.token);
	assert_true(cfg.consul.ssl_verify);
	assert_int_equal(cfg.consul.wait_ms, 300000);
	assert_int_equal(cfg.ttl_s, 0);
	assert_int_equal(cfg.neg_ttl_s, 5);
	assert_int_equal(cfg.edns_size, 1232);
	assert_int_equal(cfg.max_watches, 64);
	assert_int_equal(cfg.weight_scale, 1);
	assert_false(cfg.only_passing);
	config_fini(&cfg);
}

static void
test_every_flag_sets_its_field(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const args[] = {
	    "--listen", "127.0.0.2:5300", "--listen", "[::1]:5301",
	    "--zone", "consul.test.", "--consul", "https://10.0.0.1:8501",
	    "--datacenter", "dc2", "--consistency", "stale", "--wait", "90s",
	    "--ttl", "30s", "--negative-ttl", "1m", "--service-ttl", "web=2m",
	    "--only-passing", "--weight-scale", "256", "--edns-size", "4096",
	    "--max-watches", "8", "--workers", "3", "--tcp-max-conns", "10",
	    "--tcp-idle-timeout", "1500ms", "--log-level", "debug", NULL};
	assert_int_equal(parse(&cfg, args), 0);
	assert_int_equal(cfg.listen_count, 2);
	assert_string_equal(cfg.listen[1].text, "[::1]:5301");
	assert_int_equal(cfg.listen[1].ss.ss_family, AF_INET6);
	assert_string_equal(cfg.zone_text, "consul.test.");
	assert_string_equal(cfg.consul.base_url, "https://10.0.0.1:8501");
	assert_string_equal(cfg.consul.datacenter, "dc2");
	assert_true(cfg.consul.stale);
	assert_int_equal(cfg.consul.wait_ms, 90000);
	assert_int_equal(cfg.ttl_s, 30);
	assert_int_equal(cfg.neg_ttl_s, 60);
	assert_int_equal(cfg.svc_ttl_count, 1);
	assert_string_equal(cfg.svc_ttls[0].name, "web");
	assert_int_equal(cfg.svc_ttls[0].ttl_s, 120);
	assert_true(cfg.only_passing);
	assert_int_equal(cfg.weight_scale, 256);
	assert_int_equal(cfg.edns_size, 4096);
	assert_int_equal(cfg.max_watches, 8);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.tcp_max_conns, 10);
	assert_int_equal(cfg.tcp_idle_ms, 1500);
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);

	struct zone_cfg zc;
	assert_int_equal(config_zone_cfg(&cfg, &zc), 0);
	assert_string_equal(zc.apex_text, "consul.test");
	assert_int_equal(zc.ns_count, 2);
	assert_int_equal(zc.ns[0].addr[3], 2);
	assert_int_equal(zc.ns[1].family, 6);
	config_fini(&cfg);
}

static void
test_bad_values_are_rejected(void **state)
{
	(void)state;
	static const char *const bad[][3] = {
	    {"--listen", "127.0.0.1", NULL},   {"--listen", "host:53", NULL},
	    {"--listen", "1.2.3.4:0", NULL},   {"--listen", "[::1]53", NULL},
	    {"--edns-size", "511", NULL},      {"--edns-size", "4097", NULL},
	    {"--ttl", "1.5s", NULL},	       {"--ttl", "-1", NULL},
	    {"--ttl", "250ms", NULL},	       {"--negative-ttl", "0", NULL},
	    {"--service-ttl", "web", NULL},    {"--service-ttl", "=5s", NULL},
	    {"--consistency", "strong", NULL}, {"--log-level", "loud", NULL},
	    {"--max-watches", "0", NULL},      {"--zone", "a..b", NULL},
	    {"--consul", "ftp://x", NULL},     {"--consul", "unix://rel", NULL},
	    {"--no-such-flag", NULL, NULL},    {"stray", NULL, NULL},
	    {"--wait", "0", NULL},	       {"--listen", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		if (parse(&cfg, bad[i]) != -1)
			fail_msg("accepted %s %s", bad[i][0],
				 bad[i][1] ? bad[i][1] : "");
		config_fini(&cfg);
	}
}

static void
test_help_and_version_exit_zero(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const h[] = {"--help", NULL}, *const v[] = {"-V", NULL};
	assert_int_equal(parse(&cfg, h), 1);
	config_fini(&cfg);
	assert_int_equal(parse(&cfg, v), 1);
	config_fini(&cfg);
}

static void
test_consul_env_is_read(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const none[] = {NULL};
	char path[] = "/tmp/srvshim-token-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "file-token\n", 11), 11);
	close(fd);

	setenv("CONSUL_HTTP_ADDR", "unix:///run/consul.sock", 1);
	setenv("CONSUL_HTTP_TOKEN", "env-token", 1);
	setenv("CONSUL_CACERT", "/etc/ca.pem", 1);
	setenv("CONSUL_HTTP_SSL_VERIFY", "false", 1);
	assert_int_equal(parse(&cfg, none), 0);
	assert_string_equal(cfg.consul.unix_path, "/run/consul.sock");
	assert_string_equal(cfg.consul.token, "env-token");
	assert_string_equal(cfg.consul.cacert, "/etc/ca.pem");
	assert_false(cfg.consul.ssl_verify);
	config_fini(&cfg);

	/* the token file wins over the token; --consul wins over the env */
	setenv("CONSUL_HTTP_TOKEN_FILE", path, 1);
	static const char *const over[] = {"--consul", "127.0.0.9:8500", NULL};
	assert_int_equal(parse(&cfg, over), 0);
	assert_string_equal(cfg.consul.token, "file-token");
	assert_string_equal(cfg.consul.base_url, "http://127.0.0.9:8500");
	assert_null(cfg.consul.unix_path);
	config_fini(&cfg);

	setenv("CONSUL_HTTP_SSL_VERIFY", "maybe", 1);
	assert_int_equal(parse(&cfg, none), -1);
	config_fini(&cfg);
	unlink(path);
	clear_env();
}

static void
test_forwarding_acl_and_user_flags(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const none[] = {NULL};
	assert_int_equal(parse(&cfg, none), 0);
	assert_int_equal(cfg.recursor_count, 0);
	assert_int_equal(cfg.recursor_timeout_ms, 1000);
	assert_int_equal(cfg.recursor_tries, 2);
	assert_int_equal(cfg.cache_size, 1000);
	assert_int_equal(cfg.allow.count, 2); /* 127.0.0.0/8, ::1/128 */
	assert_null(cfg.user);
	config_fini(&cfg);

	static const char *const args[] = {
	    "--recursor", "192.0.2.53", "--recursor", "[2001:db8::53]:5353",
	    "--recursor", "2001:db8::54", "--recursor-timeout", "250ms",
	    "--recursor-tries", "3", "--cache-size", "0", "--allow",
	    "10.0.0.0/8", "--user", "nobody", NULL};
	assert_int_equal(parse(&cfg, args), 0);
	assert_int_equal(cfg.recursor_count, 3);
	assert_string_equal(cfg.recursors[0].text, "192.0.2.53:53");
	assert_string_equal(cfg.recursors[1].text, "[2001:db8::53]:5353");
	assert_string_equal(cfg.recursors[2].text, "[2001:db8::54]:53");
	assert_int_equal(cfg.recursor_timeout_ms, 250);
	assert_int_equal(cfg.recursor_tries, 3);
	assert_int_equal(cfg.cache_size, 0);
	assert_int_equal(cfg.allow.count, 1); /* --allow replaces the default */
	assert_string_equal(cfg.user, "nobody");
	config_fini(&cfg);

	static const char *const loop[] = {"--recursor", "127.0.0.1", NULL};
	assert_int_equal(parse(&cfg, loop), -1); /* our own 127.0.0.1:53 */
	config_fini(&cfg);
	static const char *const wild[] = {"--listen", "0.0.0.0:53", NULL};
	assert_int_equal(parse(&cfg, wild), -1);
	config_fini(&cfg);
	static const char *const tries[] = {"--recursor-tries", "0", NULL};
	assert_int_equal(parse(&cfg, tries), -1);
	config_fini(&cfg);
}

/* Found by fuzz_config: after "-Vh" stopped at -V, glibc's getopt kept a
 * pointer to the "h" still to scan; optind = 1 does not reset it, so the
 * next parse read the old (by then freed) argv and printed --help. */
static void
test_parse_after_short_cluster_starts_fresh(void **state)
{
	(void)state;
	struct config cfg;
	char *first = strdup("-Vh");
	const char *args1[] = {first, NULL};
	assert_int_equal(parse(&cfg, args1), 1);
	config_fini(&cfg);
	free(first);
	static const char *const args2[] = {"--ttl", "5s", NULL};
	assert_int_equal(parse(&cfg, args2), 0);
	assert_int_equal(cfg.ttl_s, 5);
	config_fini(&cfg);
}

/* Found by fuzz_config: --zone "" left zone_text NULL and crashed. */
static void
test_empty_zone_is_rejected(void **state)
{
	(void)state;
	struct config cfg;
	static const char *const args[] = {"--zone", "", NULL};
	assert_int_equal(parse(&cfg, args), -1);
	config_fini(&cfg);
}

static int
count_pair(void *arg, const char *name, const char *value, char *err,
	   size_t errlen)
{
	(void)name, (void)value, (void)err, (void)errlen;
	(*(int *)arg)++;
	return 0;
}

/* Found by fuzz_conffile: cJSON stops after the first value, so settings
 * after a closing brace were silently ignored. */
static void
test_conffile_text_after_object_is_rejected(void **state)
{
	(void)state;
	static const char bad[] = "{\"zone\": \"a.b\"}, \"ttl\": \"5s\"}";
	static const char ok[] = "{\"zone\": \"a.b\"}\n \t\r\n";
	char err[256];
	bool tok;
	int pairs = 0;
	assert_int_equal(conffile_parse(bad, sizeof(bad) - 1, "t.json",
					count_pair, &pairs, &tok, err,
					sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "after the JSON object"));
	pairs = 0;
	assert_int_equal(conffile_parse(ok, sizeof(ok) - 1, "t.json",
					count_pair, &pairs, &tok, err,
					sizeof(err)),
			 0);
	assert_int_equal(pairs, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_defaults, setup),
	    cmocka_unit_test_setup(test_every_flag_sets_its_field, setup),
	    cmocka_unit_test_setup(test_bad_values_are_rejected, setup),
	    cmocka_unit_test_setup(test_help_and_version_exit_zero, setup),
	    cmocka_unit_test_setup(test_consul_env_is_read, setup),
	    cmocka_unit_test_setup(test_forwarding_acl_and_user_flags, setup),
	    cmocka_unit_test_setup(test_parse_after_short_cluster_starts_fresh,
				   setup),
	    cmocka_unit_test_setup(test_empty_zone_is_rejected, setup),
	    cmocka_unit_test_setup(test_conffile_text_after_object_is_rejected,
				   setup),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
