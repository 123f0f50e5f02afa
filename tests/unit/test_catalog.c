/* SPDX-License-Identifier: MIT
 * test_catalog.c -- catalog.c against real Consul 1.8.7 replies
 *                   (tests/data/consul/, see its README) and hostile bodies.
 * Owns:    nothing but its test cases.
 * Never:   HTTP; bodies come from files or string literals.
 * Start reading at main(): one group per parser. */
#include "testutil.h"

#include "catalog.h"
#include "err.h"
#include "util.h"

/* ---- helpers ----------------------------------------------------------- */

static char *
fixture(const char *name, size_t *len)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "consul/%s", name);
	return test_read_file(rel, len);
}

/* Parses a fixture file as the health reply of service svc; asserts 0. */
static void
health_fixture(const char *file, const char *svc, struct svc_record *rec,
	       size_t *skipped)
{
	size_t len;
	char *body = fixture(file, &len);

	memset(rec, 0, sizeof(*rec));
	assert_int_equal(catalog_parse_health(body, len, svc, rec, skipped), 0);
	free(body);
}

/* Parses a literal as a health reply of "s"; returns the parser's result. */
static int
health_str(const char *json, struct svc_record *rec, size_t *skipped)
{
	memset(rec, 0, sizeof(*rec));
	return catalog_parse_health(json, strlen(json), "s", rec, skipped);
}

static const struct svc_instance *
inst_by_id(const struct svc_record *rec, const char *id)
{
	size_t i;

	for (i = 0; i < rec->count; i++)
		if (strcmp(rec->inst[i].id, id) == 0)
			return &rec->inst[i];
	fail_msg("instance %s not found", id);
	return NULL;
}

/* A one-instance body whose Service object is svc_fields (without braces)
 * and whose Checks value is checks. */
static char *
one_entry(const char *svc_fields, const char *checks)
{
	static const char fmt[] =
	    "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"192.0.2.1\"},"
	    "\"Service\":{%s},\"Checks\":%s}]";
	size_t n = sizeof(fmt) + strlen(svc_fields) + strlen(checks);
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, fmt, svc_fields, checks);
	return s;
}

/* Health of a single instance with port 80 and the given Checks value. */
static enum svc_health
health_of_checks(const char *checks, char **output)
{
	struct svc_record rec;
	char *body = one_entry("\"ID\":\"i\",\"Port\":80", checks);
	enum svc_health h;

	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.count, 1);
	h = rec.inst[0].health;
	if (output != NULL)
		*output = xstrdup(rec.inst[0].check_output);
	catalog_record_fini(&rec);
	free(body);
	return h;
}

/* Number of instances kept from a single-entry body with these fields. */
static size_t
kept_with_service(const char *svc_fields, size_t *skipped)
{
	struct svc_record rec;
	char *body = one_entry(svc_fields, "[]");
	size_t n;

	assert_int_equal(health_str(body, &rec, skipped), 0);
	n = rec.count;
	catalog_record_fini(&rec);
	free(body);
	return n;
}

static void
assert_record_empty(const struct svc_record *rec)
{
	assert_null(rec->name);
	assert_null(rec->inst);
	assert_int_equal(rec->count, 0);
}

/* ---- health/service: real fixtures -------------------------------------- */

static void
test_health_all_passing_keeps_three_instances(void **state)
{
	struct svc_record rec;
	size_t skipped = 99;
	size_t i;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       &skipped);
	assert_string_equal(rec.name, "web");
	assert_int_equal(rec.count, 3);
	assert_int_equal(skipped, 0);
	for (i = 0; i < rec.count; i++)
		assert_int_equal(rec.inst[i].health, SVC_PASSING);
	catalog_record_fini(&rec);
}

static void
test_health_instance_fields_match_fixture(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	in = inst_by_id(&rec, "web-2");
	assert_string_equal(in->node, "srvshim-dev");
	assert_string_equal(in->address, "10.0.0.2");
	assert_int_equal(in->port, 8082);
	catalog_record_fini(&rec);
}

static void
test_health_instances_keep_reply_order(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	assert_string_equal(rec.inst[0].id, "web-1");
	assert_string_equal(rec.inst[1].id, "web-2");
	assert_string_equal(rec.inst[2].id, "web-3");
	catalog_record_fini(&rec);
}

static void
test_health_tags_parsed_in_order(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	in = inst_by_id(&rec, "web-3");
	assert_int_equal(in->tag_count, 2);
	assert_string_equal(in->tags[0], "http");
	assert_string_equal(in->tags[1], "v3");
	catalog_record_fini(&rec);
}

static void
test_health_meta_parsed_in_order(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	in = inst_by_id(&rec, "web-1");
	assert_int_equal(in->meta_count, 2);
	assert_string_equal(in->meta_keys[0], "version");
	assert_string_equal(in->meta_values[0], "1.1");
	assert_string_equal(in->meta_keys[1], "zone");
	assert_string_equal(in->meta_values[1], "eu-1");
	catalog_record_fini(&rec);
}

static void
test_health_weights_read_from_fixture(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	assert_int_equal(inst_by_id(&rec, "web-1")->weight_passing, 10);
	assert_int_equal(inst_by_id(&rec, "web-2")->weight_passing, 20);
	assert_int_equal(inst_by_id(&rec, "web-3")->weight_passing, 30);
	assert_int_equal(inst_by_id(&rec, "web-3")->weight_warning, 1);
	catalog_record_fini(&rec);
}

static void
test_health_passing_output_is_first_checks(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       NULL);
	/* all passing: the first check (serfHealth) is "the worst" */
	assert_int_equal(inst_by_id(&rec, "api-1")->health, SVC_PASSING);
	assert_string_equal(inst_by_id(&rec, "api-1")->check_output,
			    "Agent alive and reachable");
	catalog_record_fini(&rec);
}

static void
test_health_warning_check_gives_warning(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       NULL);
	in = inst_by_id(&rec, "api-2");
	assert_int_equal(in->health, SVC_WARNING);
	assert_string_equal(in->check_output, "disk 85% full");
	assert_int_equal(in->weight_passing, 5);
	assert_int_equal(in->weight_warning, 3);
	catalog_record_fini(&rec);
}

static void
test_health_critical_check_gives_critical(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       NULL);
	assert_int_equal(inst_by_id(&rec, "api-3")->health, SVC_CRITICAL);
	catalog_record_fini(&rec);
}

static void
test_health_maintenance_gives_critical(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       NULL);
	in = inst_by_id(&rec, "api-4");
	/* its own TTL check passes; the maintenance check decides */
	assert_int_equal(in->health, SVC_CRITICAL);
	assert_string_equal(in->check_output, "");
	catalog_record_fini(&rec);
}

static void
test_health_mixed_keeps_unhealthy_instances(void **state)
{
	struct svc_record rec;
	size_t skipped = 99;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       &skipped);
	/* health does not filter: zone.c decides what is served */
	assert_int_equal(rec.count, 4);
	assert_int_equal(skipped, 0);
	catalog_record_fini(&rec);
}

static void
test_health_null_meta_gives_none(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_api_mixed_health.json", "api", &rec,
		       NULL);
	in = inst_by_id(&rec, "api-1");
	assert_int_equal(in->meta_count, 0);
	assert_int_equal(in->tag_count, 1);
	assert_string_equal(in->tags[0], "grpc");
	catalog_record_fini(&rec);
}

static void
test_health_empty_tags_give_none(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_batch_node_critical.json", "batch",
		       &rec, NULL);
	assert_int_equal(rec.count, 1);
	assert_int_equal(rec.inst[0].tag_count, 0);
	catalog_record_fini(&rec);
}

static void
test_health_empty_service_address_falls_back_to_node(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_db_node_address.json", "db", &rec,
		       NULL);
	assert_int_equal(rec.count, 1);
	assert_string_equal(rec.inst[0].address, "127.0.0.1");
	assert_int_equal(rec.inst[0].port, 5432);
	catalog_record_fini(&rec);
}

static void
test_health_ipv6_service_address_kept(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_v6_ipv6_address.json", "v6", &rec, NULL);
	assert_int_equal(rec.count, 1);
	assert_string_equal(rec.inst[0].address, "2001:db8::10");
	assert_int_equal(rec.inst[0].port, 443);
	catalog_record_fini(&rec);
}

static void
test_health_node_check_only_is_passing(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_nochk_node_check_only.json", "nochk",
		       &rec, NULL);
	assert_int_equal(rec.count, 1);
	assert_int_equal(rec.inst[0].health, SVC_PASSING);
	assert_string_equal(rec.inst[0].address, "10.0.3.1");
	catalog_record_fini(&rec);
}

static void
test_health_no_checks_is_passing_with_empty_output(void **state)
{
	struct svc_record rec;
	const struct svc_instance *in;

	(void)state;
	health_fixture("health_service_legacy_no_checks.json", "legacy", &rec,
		       NULL);
	assert_int_equal(rec.count, 1);
	in = &rec.inst[0];
	assert_int_equal(in->health, SVC_PASSING);
	assert_string_equal(in->check_output, "");
	assert_string_equal(in->node, "ext-1");
	assert_string_equal(in->address, "192.0.2.10");
	catalog_record_fini(&rec);
}

static void
test_health_critical_node_check_makes_instance_critical(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_batch_node_critical.json", "batch",
		       &rec, NULL);
	assert_int_equal(rec.inst[0].health, SVC_CRITICAL);
	assert_string_equal(rec.inst[0].check_output, "disk full");
	assert_string_equal(rec.inst[0].address, "192.0.2.21");
	catalog_record_fini(&rec);
}

static void
test_health_empty_array_gives_no_instances(void **state)
{
	struct svc_record rec;
	size_t skipped = 99;

	(void)state;
	health_fixture("health_service_nosuch_empty.json", "nosuch", &rec,
		       &skipped);
	assert_int_equal(rec.count, 0);
	assert_int_equal(skipped, 0);
	assert_string_equal(rec.name, "nosuch");
	catalog_record_fini(&rec);
}

static void
test_health_body_without_nul_parses(void **state)
{
	struct svc_record rec;
	size_t len;
	char *text = fixture("health_service_web_all_passing.json", &len);
	char *exact = malloc(len); /* no terminator: ASan sees over-reads */

	(void)state;
	assert_non_null(exact);
	memcpy(exact, text, len);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(catalog_parse_health(exact, len, "web", &rec, NULL),
			 0);
	assert_int_equal(rec.count, 3);
	catalog_record_fini(&rec);
	free(exact);
	free(text);
}

static void
test_health_len_bounds_the_body(void **state)
{
	struct svc_record rec;

	(void)state;
	/* only the first two bytes are the body */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(catalog_parse_health("[]{garbage", 2, "s", &rec, NULL),
			 0);
	assert_int_equal(rec.count, 0);
	catalog_record_fini(&rec);
}

/* ---- health/service: hostile bodies ------------------------------------- */

static void
test_health_not_array_is_eformat(void **state)
{
	static const char *const bodies[] = {
	    "{}", "{\"Service\":{\"ID\":\"a\",\"Port\":1}}", "\"[]\"", "42",
	    "null", "true",
	};
	struct svc_record rec;
	size_t i, skipped;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		skipped = 99;
		assert_int_equal(health_str(bodies[i], &rec, &skipped),
				 -SRV_EFORMAT);
		assert_record_empty(&rec);
		assert_int_equal(skipped, 0);
		catalog_record_fini(&rec); /* safe on an empty record */
	}
}

static void
test_health_truncated_json_is_eformat(void **state)
{
	struct svc_record rec;
	size_t len, cut;
	char *body = fixture("health_service_web_all_passing.json", &len);

	(void)state;
	for (cut = 1; cut < len - 2; cut += 97) {
		memset(&rec, 0, sizeof(rec));
		assert_int_equal(catalog_parse_health(body, cut, "web", &rec,
						      NULL),
				 -SRV_EFORMAT);
		assert_record_empty(&rec);
	}
	free(body);
}

static void
test_health_invalid_json_is_eformat(void **state)
{
	static const char *const bodies[] = {
	    "[", "]", "[1,]", "[{]", "[{\"Service\":}]", "[\"\\x\"]",
	    "[] garbage", "[][]", "", " ", "[\"unterminated]",
	};
	struct svc_record rec;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		assert_int_equal(health_str(bodies[i], &rec, NULL),
				 -SRV_EFORMAT);
		assert_record_empty(&rec);
	}
}

static void
test_health_null_body_is_eformat(void **state)
{
	struct svc_record rec;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(catalog_parse_health(NULL, 0, "s", &rec, NULL),
			 -SRV_EFORMAT);
	assert_record_empty(&rec);
}

static void
test_health_trailing_whitespace_accepted(void **state)
{
	struct svc_record rec;

	(void)state;
	assert_int_equal(health_str(" \n[]\r\n\t ", &rec, NULL), 0);
	assert_int_equal(rec.count, 0);
	catalog_record_fini(&rec);
}

static void
test_health_non_object_entries_skipped(void **state)
{
	struct svc_record rec;
	size_t skipped = 0;

	(void)state;
	assert_int_equal(
	    health_str("[1, \"x\", null, [], true, {\"Service\":{\"ID\":\"ok\","
		       "\"Port\":1}}, [{\"Service\":{\"ID\":\"in\",\"Port\":1}}]]",
		       &rec, &skipped),
	    0);
	assert_int_equal(rec.count, 1);
	assert_string_equal(rec.inst[0].id, "ok");
	assert_int_equal(skipped, 6);
	catalog_record_fini(&rec);
}

static void
test_health_missing_service_skipped(void **state)
{
	struct svc_record rec;
	size_t skipped = 0;

	(void)state;
	assert_int_equal(health_str("[{\"Node\":{\"Node\":\"n\"}},"
				    "{\"Service\":null},{\"Service\":[]},"
				    "{\"Service\":\"web\"},{}]",
				    &rec, &skipped),
			 0);
	assert_int_equal(rec.count, 0);
	assert_int_equal(skipped, 5);
	catalog_record_fini(&rec);
}

static void
test_health_unusable_id_skipped(void **state)
{
	static const char *const svcs[] = {
	    "\"Port\":80",
	    "\"ID\":\"\",\"Port\":80",
	    "\"ID\":42,\"Port\":80",
	    "\"ID\":null,\"Port\":80",
	    "\"ID\":[\"a\"],\"Port\":80",
	    "\"id\":\"lowercase-key\",\"Port\":80",
	};
	size_t i, skipped;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(svcs); i++) {
		skipped = 0;
		assert_int_equal(kept_with_service(svcs[i], &skipped), 0);
		assert_int_equal(skipped, 1);
	}
}

static void
test_health_negative_port_skipped(void **state)
{
	size_t skipped = 0;

	(void)state;
	assert_int_equal(kept_with_service("\"ID\":\"i\",\"Port\":-1", &skipped),
			 0);
	assert_int_equal(skipped, 1);
}

static void
test_health_port_above_65535_skipped(void **state)
{
	size_t skipped = 0;

	(void)state;
	assert_int_equal(
	    kept_with_service("\"ID\":\"i\",\"Port\":65536", &skipped), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(
	    kept_with_service("\"ID\":\"i\",\"Port\":1e300", &skipped), 0);
	assert_int_equal(
	    kept_with_service("\"ID\":\"i\",\"Port\":1e999", &skipped), 0);
	assert_int_equal(
	    kept_with_service("\"ID\":\"i\",\"Port\":-1e999", &skipped), 0);
	assert_int_equal(kept_with_service(
			     "\"ID\":\"i\",\"Port\":18446744073709551697",
			     &skipped),
			 0);
}

static void
test_health_fractional_port_skipped(void **state)
{
	(void)state;
	assert_int_equal(kept_with_service("\"ID\":\"i\",\"Port\":80.5", NULL),
			 0);
	assert_int_equal(kept_with_service("\"ID\":\"i\",\"Port\":1e-3", NULL),
			 0);
}

static void
test_health_port_wrong_type_skipped(void **state)
{
	static const char *const svcs[] = {
	    "\"ID\":\"i\"",
	    "\"ID\":\"i\",\"Port\":\"80\"",
	    "\"ID\":\"i\",\"Port\":null",
	    "\"ID\":\"i\",\"Port\":true",
	    "\"ID\":\"i\",\"Port\":{\"v\":80}",
	    "\"ID\":\"i\",\"Port\":[80]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(svcs); i++)
		assert_int_equal(kept_with_service(svcs[i], NULL), 0);
}

static void
test_health_port_bounds_accepted(void **state)
{
	struct svc_record rec;

	(void)state;
	assert_int_equal(
	    health_str("[{\"Service\":{\"ID\":\"a\",\"Port\":0}},"
		       "{\"Service\":{\"ID\":\"b\",\"Port\":65535}},"
		       "{\"Service\":{\"ID\":\"c\",\"Port\":8.0e1}}]",
		       &rec, NULL),
	    0);
	assert_int_equal(rec.count, 3);
	assert_int_equal(rec.inst[0].port, 0);
	assert_int_equal(rec.inst[1].port, 65535);
	assert_int_equal(rec.inst[2].port, 80);
	catalog_record_fini(&rec);
}

/* Weights of a single instance whose Service has these extra fields. */
static void
weights_of(const char *weights_field, uint32_t *passing, uint32_t *warning)
{
	struct svc_record rec;
	char svc[512];
	char *body;

	snprintf(svc, sizeof(svc), "\"ID\":\"i\",\"Port\":1%s%s",
		 *weights_field ? "," : "", weights_field);
	body = one_entry(svc, "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.count, 1);
	*passing = rec.inst[0].weight_passing;
	*warning = rec.inst[0].weight_warning;
	catalog_record_fini(&rec);
	free(body);
}

static void
test_health_weights_default_to_one(void **state)
{
	static const char *const fields[] = {
	    "",
	    "\"Weights\":null",
	    "\"Weights\":{}",
	    "\"Weights\":\"heavy\"",
	    "\"Weights\":[5,5]",
	    "\"Weights\":{\"Passing\":null,\"Warning\":null}",
	    "\"Weights\":{\"Passing\":\"5\",\"Warning\":true}",
	    "\"Weights\":{\"passing\":5,\"warning\":5}",
	};
	uint32_t p, w;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		p = w = 77;
		weights_of(fields[i], &p, &w);
		assert_int_equal(p, 1);
		assert_int_equal(w, 1);
	}
}

static void
test_health_weights_clamped(void **state)
{
	uint32_t p, w;

	(void)state;
	weights_of("\"Weights\":{\"Passing\":1e300,\"Warning\":-5}", &p, &w);
	assert_int_equal(p, 65535);
	assert_int_equal(w, 0);
	weights_of("\"Weights\":{\"Passing\":65536,\"Warning\":1e999}", &p, &w);
	assert_int_equal(p, 65535);
	assert_int_equal(w, 65535);
	weights_of("\"Weights\":{\"Passing\":-1e999,\"Warning\":0}", &p, &w);
	assert_int_equal(p, 0);
	assert_int_equal(w, 0);
}

static void
test_health_weights_in_range_kept(void **state)
{
	uint32_t p, w;

	(void)state;
	weights_of("\"Weights\":{\"Passing\":65535,\"Warning\":7}", &p, &w);
	assert_int_equal(p, 65535);
	assert_int_equal(w, 7);
	/* only one given: the other defaults */
	weights_of("\"Weights\":{\"Warning\":0}", &p, &w);
	assert_int_equal(p, 1);
	assert_int_equal(w, 0);
}

static void
test_health_status_strings_mapped(void **state)
{
	static const struct {
		const char *checks;
		enum svc_health want;
	} cases[] = {
	    {"[{\"Status\":\"passing\"}]", SVC_PASSING},
	    {"[{\"Status\":\"warning\"}]", SVC_WARNING},
	    {"[{\"Status\":\"critical\"}]", SVC_CRITICAL},
	    {"[{\"Status\":\"maintenance\"}]", SVC_CRITICAL},
	    {"[{\"Status\":\"Passing\"}]", SVC_CRITICAL},
	    {"[{\"Status\":\"\"}]", SVC_CRITICAL},
	    {"[{\"Status\":\"unknown\"}]", SVC_CRITICAL},
	    {"[{\"Status\":7}]", SVC_CRITICAL},
	    {"[{\"Status\":null}]", SVC_CRITICAL},
	    {"[{}]", SVC_CRITICAL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(health_of_checks(cases[i].checks, NULL),
				 cases[i].want);
}

static void
test_health_worst_check_wins_in_any_order(void **state)
{
	static const char *const orders[] = {
	    "[{\"Status\":\"passing\",\"Output\":\"p\"},"
	    "{\"Status\":\"warning\",\"Output\":\"w\"}]",
	    "[{\"Status\":\"warning\",\"Output\":\"w\"},"
	    "{\"Status\":\"passing\",\"Output\":\"p\"}]",
	    "[{\"Status\":\"passing\",\"Output\":\"p\"},"
	    "{\"Status\":\"warning\",\"Output\":\"w\"},"
	    "{\"Status\":\"passing\",\"Output\":\"q\"}]",
	};
	char *out;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(orders); i++) {
		assert_int_equal(health_of_checks(orders[i], &out),
				 SVC_WARNING);
		assert_string_equal(out, "w");
		free(out);
	}
}

static void
test_health_output_of_first_worst_check(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(
	    health_of_checks("[{\"Status\":\"warning\",\"Output\":\"w\"},"
			     "{\"Status\":\"critical\",\"Output\":\"c1\"},"
			     "{\"Status\":\"maintenance\",\"Output\":\"c2\"}]",
			     &out),
	    SVC_CRITICAL);
	assert_string_equal(out, "c1");
	free(out);
}

static void
test_health_output_wrong_type_is_empty(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(
	    health_of_checks("[{\"Status\":\"critical\",\"Output\":{\"a\":1}}]",
			     &out),
	    SVC_CRITICAL);
	assert_string_equal(out, "");
	free(out);
}

static void
test_health_checks_null_or_empty_is_passing(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(health_of_checks("null", &out), SVC_PASSING);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(health_of_checks("[]", NULL), SVC_PASSING);
}

static void
test_health_checks_wrong_type_is_critical(void **state)
{
	static const char *const checks[] = {
	    "\"passing\"",
	    "{\"Status\":\"passing\"}",
	    "42",
	    "[\"passing\"]",
	    "[{\"Status\":\"passing\"}, null]",
	    "[[{\"Status\":\"passing\"}]]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(checks); i++)
		assert_int_equal(health_of_checks(checks[i], NULL),
				 SVC_CRITICAL);
}

static void
test_health_wrong_typed_tags_ignored(void **state)
{
	struct svc_record rec;
	char *body;

	(void)state;
	body = one_entry("\"ID\":\"i\",\"Port\":1,"
			 "\"Tags\":[1,\"a\",null,[\"b\"],{\"c\":1},\"d\"]",
			 "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.inst[0].tag_count, 2);
	assert_string_equal(rec.inst[0].tags[0], "a");
	assert_string_equal(rec.inst[0].tags[1], "d");
	catalog_record_fini(&rec);
	free(body);

	body = one_entry("\"ID\":\"i\",\"Port\":1,\"Tags\":\"a,b\"", "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.inst[0].tag_count, 0);
	catalog_record_fini(&rec);
	free(body);
}

static void
test_health_wrong_typed_meta_ignored(void **state)
{
	struct svc_record rec;
	char *body;

	(void)state;
	body = one_entry("\"ID\":\"i\",\"Port\":1,"
			 "\"Meta\":{\"a\":1,\"b\":\"x\",\"c\":null,"
			 "\"d\":{\"e\":\"f\"},\"\":\"empty-key\"}",
			 "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.inst[0].meta_count, 2);
	assert_string_equal(rec.inst[0].meta_keys[0], "b");
	assert_string_equal(rec.inst[0].meta_values[0], "x");
	assert_string_equal(rec.inst[0].meta_keys[1], "");
	assert_string_equal(rec.inst[0].meta_values[1], "empty-key");
	catalog_record_fini(&rec);
	free(body);

	body = one_entry("\"ID\":\"i\",\"Port\":1,\"Meta\":[\"a\",\"b\"]", "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.inst[0].meta_count, 0);
	catalog_record_fini(&rec);
	free(body);
}

static void
test_health_missing_node_gives_empty_strings(void **state)
{
	struct svc_record rec;

	(void)state;
	assert_int_equal(
	    health_str("[{\"Service\":{\"ID\":\"a\",\"Port\":1}},"
		       "{\"Node\":\"n\",\"Service\":{\"ID\":\"b\",\"Port\":1,"
		       "\"Address\":7}}]",
		       &rec, NULL),
	    0);
	assert_int_equal(rec.count, 2);
	assert_string_equal(rec.inst[0].node, "");
	assert_string_equal(rec.inst[0].address, "");
	assert_string_equal(rec.inst[1].node, "");
	assert_string_equal(rec.inst[1].address, "");
	catalog_record_fini(&rec);
}

static void
test_health_wrong_typed_service_address_falls_back(void **state)
{
	struct svc_record rec;
	char *body = one_entry("\"ID\":\"i\",\"Port\":1,\"Address\":[1]", "[]");

	(void)state;
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_string_equal(rec.inst[0].address, "192.0.2.1");
	assert_string_equal(rec.inst[0].node, "n1");
	catalog_record_fini(&rec);
	free(body);
}

/* A JSON string literal (with quotes) of n copies of c. */
static char *
long_json_string(size_t n, char c)
{
	char *s = malloc(n + 3);

	assert_non_null(s);
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

static void
test_health_overlong_strings_ignored(void **state)
{
	struct svc_record rec;
	char *big = long_json_string(65537, 'x');
	char *fits = long_json_string(65536, 'y');
	size_t n = 3 * 65600 + 512, skipped = 0;
	char *svc = malloc(n);
	char *body;

	(void)state;
	assert_non_null(svc);
	/* over-long address: treated as absent, node address used; an
	 * over-long tag is dropped, one of exactly the limit is kept */
	snprintf(svc, n, "\"ID\":\"i\",\"Port\":1,\"Address\":%s,"
		 "\"Tags\":[%s,\"t\",%s]", big, big, fits);
	body = one_entry(svc, "[]");
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_int_equal(rec.count, 1);
	assert_string_equal(rec.inst[0].address, "192.0.2.1");
	assert_int_equal(rec.inst[0].tag_count, 2);
	assert_string_equal(rec.inst[0].tags[0], "t");
	assert_int_equal(strlen(rec.inst[0].tags[1]), 65536);
	catalog_record_fini(&rec);
	free(body);

	/* over-long ID: the instance is skipped */
	snprintf(svc, n, "\"ID\":%s,\"Port\":1", big);
	assert_int_equal(kept_with_service(svc, &skipped), 0);
	assert_int_equal(skipped, 1);
	free(svc);
	free(fits);
	free(big);
}

static void
test_health_deep_nesting_is_eformat(void **state)
{
	size_t depth = 5000, i;
	char *body = malloc(2 * depth + 1);
	struct svc_record rec;

	(void)state;
	assert_non_null(body);
	for (i = 0; i < depth; i++) {
		body[i] = '[';
		body[depth + i] = ']';
	}
	body[2 * depth] = '\0';
	/* cJSON refuses nesting beyond CJSON_NESTING_LIMIT (1000) */
	assert_int_equal(health_str(body, &rec, NULL), -SRV_EFORMAT);
	assert_record_empty(&rec);
	free(body);
}

static void
test_health_nested_garbage_skipped(void **state)
{
	struct svc_record rec;
	size_t skipped = 0;

	(void)state;
	assert_int_equal(
	    health_str("[{\"Service\":{\"Service\":{\"ID\":\"x\",\"Port\":1}}},"
		       "{\"Service\":{\"ID\":{\"ID\":\"y\"},\"Port\":[[[[1]]]]}},"
		       "{\"Node\":[[{}]],\"Checks\":{\"Checks\":[]},"
		       "\"Service\":{\"ID\":\"z\",\"Port\":2,\"Weights\":"
		       "{\"Passing\":{\"Passing\":3}},\"Meta\":{\"k\":[\"v\"]}}}]",
		       &rec, &skipped),
	    0);
	assert_int_equal(skipped, 2);
	assert_int_equal(rec.count, 1);
	assert_string_equal(rec.inst[0].id, "z");
	assert_int_equal(rec.inst[0].weight_passing, 1);
	assert_int_equal(rec.inst[0].meta_count, 0);
	assert_int_equal(rec.inst[0].health, SVC_CRITICAL);
	catalog_record_fini(&rec);
}

static void
test_health_nul_escape_ends_string(void **state)
{
	struct svc_record rec;
	char *body = one_entry("\"ID\":\"web\\u0000evil\",\"Port\":1", "[]");

	(void)state;
	assert_int_equal(health_str(body, &rec, NULL), 0);
	assert_string_equal(rec.inst[0].id, "web");
	catalog_record_fini(&rec);
	free(body);
}

static void
test_health_skipped_may_be_null(void **state)
{
	struct svc_record rec;

	(void)state;
	assert_int_equal(health_str("[1,{\"Service\":{\"ID\":\"a\",\"Port\":1}}]",
				    &rec, NULL),
			 0);
	assert_int_equal(rec.count, 1);
	catalog_record_fini(&rec);
}

static void
test_record_fini_zeroes_record(void **state)
{
	struct svc_record rec;

	(void)state;
	health_fixture("health_service_web_all_passing.json", "web", &rec,
		       NULL);
	catalog_record_fini(&rec);
	assert_record_empty(&rec);
	catalog_record_fini(&rec); /* twice is harmless */
	catalog_record_fini(NULL);
}

/* ---- catalog/services ----------------------------------------------------- */

static int
services_str(const char *json, char ***names, size_t *count)
{
	return catalog_parse_services(json, strlen(json), names, count);
}

static void
test_services_fixture_gives_sorted_names(void **state)
{
	static const char *const want[] = {"api",    "batch", "consul", "db",
					   "legacy", "nochk", "v6",	"web"};
	char **names;
	size_t count, len, i;
	char *body = fixture("catalog_services.json", &len);

	(void)state;
	assert_int_equal(catalog_parse_services(body, len, &names, &count), 0);
	assert_int_equal(count, ARRAY_SIZE(want));
	for (i = 0; i < count; i++)
		assert_string_equal(names[i], want[i]);
	catalog_names_free(names, count);
	free(body);
}

static void
test_services_sorted_by_strcmp(void **state)
{
	char **names;
	size_t count;

	(void)state;
	assert_int_equal(services_str("{\"b\":[],\"web\":[],\"B\":[],\"a\":[],"
				      "\"_x\":[],\"a-b\":[],\"aa\":[]}",
				      &names, &count),
			 0);
	assert_int_equal(count, 7);
	assert_string_equal(names[0], "B");
	assert_string_equal(names[1], "_x");
	assert_string_equal(names[2], "a");
	assert_string_equal(names[3], "a-b");
	assert_string_equal(names[4], "aa");
	assert_string_equal(names[5], "b");
	assert_string_equal(names[6], "web");
	catalog_names_free(names, count);
}

static void
test_services_not_object_is_eformat(void **state)
{
	static const char *const bodies[] = {
	    "[]", "[\"web\"]", "\"web\"", "null", "1", "{", "{\"a\":[]",
	    "{\"a\" []}", "{} {}", "",
	};
	char **names;
	size_t count, i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		names = (char **)1;
		count = 99;
		assert_int_equal(services_str(bodies[i], &names, &count),
				 -SRV_EFORMAT);
		assert_null(names);
		assert_int_equal(count, 0);
	}
}

static void
test_services_empty_object_gives_none(void **state)
{
	char **names;
	size_t count = 99;

	(void)state;
	assert_int_equal(services_str("{}", &names, &count), 0);
	assert_int_equal(count, 0);
	catalog_names_free(names, count);
}

static void
test_services_duplicate_and_empty_names_dropped(void **state)
{
	char **names;
	size_t count;

	(void)state;
	assert_int_equal(
	    services_str("{\"web\":[],\"\":[],\"api\":[],\"web\":[\"x\"]}",
			 &names, &count),
	    0);
	assert_int_equal(count, 2);
	assert_string_equal(names[0], "api");
	assert_string_equal(names[1], "web");
	catalog_names_free(names, count);
}

static void
test_services_tag_values_of_any_type_accepted(void **state)
{
	char **names;
	size_t count;

	(void)state;
	assert_int_equal(services_str("{\"a\":null,\"b\":5,\"c\":{\"d\":[]},"
				      "\"e\":[1,[2]]}",
				      &names, &count),
			 0);
	assert_int_equal(count, 4);
	assert_string_equal(names[3], "e");
	catalog_names_free(names, count);
	catalog_names_free(NULL, 0);
}

/* ---- health/state/any ------------------------------------------------------ */

static void
states_fixture(const char *file, struct svc_state **st, size_t *count)
{
	size_t len;
	char *body = fixture(file, &len);

	assert_int_equal(catalog_parse_states(body, len, st, count), 0);
	free(body);
}

static int
states_str(const char *json, struct svc_state **st, size_t *count)
{
	return catalog_parse_states(json, strlen(json), st, count);
}

static const struct svc_state *
state_find(const struct svc_state *st, size_t count, enum svc_state_kind kind,
	   const char *name)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (st[i].kind == kind && strcmp(st[i].name, name) == 0)
			return &st[i];
	fail_msg("state %d/%s not found", (int)kind, name);
	return NULL;
}

/* Asserts a and b list the same entries and returns how many of them have
 * a different fingerprint; *diff gets the last such one's index. */
static size_t
states_changed(const struct svc_state *a, size_t na, const struct svc_state *b,
	       size_t nb, size_t *diff)
{
	size_t i, changed = 0;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_int_equal(a[i].kind, b[i].kind);
		assert_string_equal(a[i].name, b[i].name);
		if (a[i].fingerprint != b[i].fingerprint) {
			changed++;
			*diff = i;
		}
	}
	return changed;
}

static void
test_states_fixture_lists_services_then_nodes(void **state)
{
	static const struct {
		enum svc_state_kind kind;
		const char *name;
	} want[] = {
	    {SVC_STATE_SERVICE, "api"},	  {SVC_STATE_SERVICE, "batch"},
	    {SVC_STATE_SERVICE, "db"},	  {SVC_STATE_SERVICE, "v6"},
	    {SVC_STATE_SERVICE, "web"},	  {SVC_STATE_NODE, "ext-2"},
	    {SVC_STATE_NODE, "srvshim-dev"},
	};
	struct svc_state *st;
	size_t count, i;

	(void)state;
	states_fixture("health_state_any.json", &st, &count);
	assert_int_equal(count, ARRAY_SIZE(want));
	for (i = 0; i < count; i++) {
		assert_int_equal(st[i].kind, want[i].kind);
		assert_string_equal(st[i].name, want[i].name);
	}
	catalog_states_free(st, count);
}

static void
test_states_service_check_change_changes_only_that_service(void **state)
{
	struct svc_state *a, *b;
	size_t na, nb, diff = 0;

	(void)state;
	states_fixture("health_state_any.json", &a, &na);
	states_fixture("health_state_any_after_web2_warning.json", &b, &nb);
	assert_int_equal(states_changed(a, na, b, nb, &diff), 1);
	assert_int_equal(b[diff].kind, SVC_STATE_SERVICE);
	assert_string_equal(b[diff].name, "web");
	catalog_states_free(a, na);
	catalog_states_free(b, nb);
}

static void
test_states_node_check_change_changes_only_that_node(void **state)
{
	struct svc_state *a, *b;
	size_t na, nb, diff = 0;

	(void)state;
	states_fixture("health_state_any_after_web2_warning.json", &a, &na);
	states_fixture("health_state_any_after_ext2_disk_passing.json", &b,
		       &nb);
	assert_int_equal(states_changed(a, na, b, nb, &diff), 1);
	assert_int_equal(b[diff].kind, SVC_STATE_NODE);
	assert_string_equal(b[diff].name, "ext-2");
	catalog_states_free(a, na);
	catalog_states_free(b, nb);
}

static void
test_states_same_body_same_fingerprints(void **state)
{
	struct svc_state *a, *b;
	size_t na, nb, diff = 0;

	(void)state;
	states_fixture("health_state_any.json", &a, &na);
	states_fixture("health_state_any.json", &b, &nb);
	assert_int_equal(states_changed(a, na, b, nb, &diff), 0);
	catalog_states_free(a, na);
	catalog_states_free(b, nb);
}

#define CHK(node, id, sid, sname, status, mi)                                \
	"{\"Node\":\"" node "\",\"CheckID\":\"" id "\",\"ServiceID\":\"" sid  \
	"\",\"ServiceName\":\"" sname "\",\"Status\":\"" status               \
	"\",\"ModifyIndex\":" #mi "}"

/* Fingerprint of service "web" in a body; fails when it is not listed. */
static uint64_t
web_fingerprint(const char *json)
{
	struct svc_state *st;
	size_t count;
	const struct svc_state *web;
	uint64_t fp;

	assert_int_equal(states_str(json, &st, &count), 0);
	web = state_find(st, count, SVC_STATE_SERVICE, "web");
	assert_non_null(web);
	fp = web->fingerprint;
	catalog_states_free(st, count);
	return fp;
}

static void
test_states_fingerprint_ignores_check_order(void **state)
{
	(void)state;
	assert_true(web_fingerprint("[" CHK("n1", "c1", "w1", "web", "passing", 5)
				    "," CHK("n2", "c2", "w2", "web", "passing", 6)
				    "]") ==
		    web_fingerprint("[" CHK("n2", "c2", "w2", "web", "passing", 6)
				    "," CHK("n1", "c1", "w1", "web", "passing", 5)
				    "]"));
}

static void
test_states_fingerprint_follows_each_field(void **state)
{
	uint64_t base = web_fingerprint(
	    "[" CHK("n1", "c1", "w1", "web", "passing", 5) "]");

	(void)state;
	assert_true(base != web_fingerprint("[" CHK("n1", "c1", "w1", "web",
						    "warning", 5) "]"));
	assert_true(base != web_fingerprint("[" CHK("n1", "c1", "w1", "web",
						    "passing", 6) "]"));
	assert_true(base != web_fingerprint("[" CHK("n2", "c1", "w1", "web",
						    "passing", 5) "]"));
	assert_true(base != web_fingerprint("[" CHK("n1", "c2", "w1", "web",
						    "passing", 5) "]"));
	assert_true(base != web_fingerprint("[" CHK("n1", "c1", "w2", "web",
						    "passing", 5) "]"));
}

static void
test_states_added_or_removed_check_changes_fingerprint(void **state)
{
	uint64_t one = web_fingerprint(
	    "[" CHK("n2", "c9", "w2", "web", "critical", 9) "]");
	uint64_t three = web_fingerprint(
	    "[" CHK("n1", "c1", "w1", "web", "passing", 5) "," CHK(
		"n1", "c1", "w1", "web", "passing", 5) "," CHK(
		"n2", "c9", "w2", "web", "critical", 9) "]");
	uint64_t two = web_fingerprint(
	    "[" CHK("n1", "c1", "w1", "web", "passing", 5) "," CHK(
		"n2", "c9", "w2", "web", "critical", 9) "]");

	(void)state;
	assert_true(one != two);
	assert_true(two != three);
	assert_true(one != three); /* a sum, not an xor: pairs do not cancel */
}

static void
test_states_node_checks_keyed_by_node(void **state)
{
	struct svc_state *st;
	size_t count;

	(void)state;
	assert_int_equal(
	    states_str("[" CHK("n2", "serfHealth", "", "", "passing", 1) "," CHK(
			   "n1", "serfHealth", "", "", "passing", 1) ","
			   "{\"Node\":\"n1\",\"CheckID\":\"_node_maintenance\","
			   "\"Status\":\"critical\",\"ModifyIndex\":3}]",
		       &st, &count),
	    0);
	assert_int_equal(count, 2);
	assert_int_equal(st[0].kind, SVC_STATE_NODE);
	assert_string_equal(st[0].name, "n1");
	assert_int_equal(st[1].kind, SVC_STATE_NODE);
	assert_string_equal(st[1].name, "n2");
	assert_true(st[0].fingerprint != st[1].fingerprint);
	catalog_states_free(st, count);
}

static void
test_states_sorted_by_strcmp(void **state)
{
	struct svc_state *st;
	size_t count;

	(void)state;
	assert_int_equal(
	    states_str("[" CHK("n", "c", "1", "b", "passing", 1) "," CHK(
			   "n", "c", "2", "a", "passing", 1) "," CHK(
			   "n", "c", "3", "B", "passing", 1) "," CHK(
			   "n", "c", "4", "a", "passing", 1) "]",
		       &st, &count),
	    0);
	assert_int_equal(count, 3);
	assert_string_equal(st[0].name, "B");
	assert_string_equal(st[1].name, "a");
	assert_string_equal(st[2].name, "b");
	catalog_states_free(st, count);
}

static void
test_states_service_and_node_of_same_name_kept_apart(void **state)
{
	struct svc_state *st;
	size_t count;

	(void)state;
	assert_int_equal(
	    states_str("[" CHK("web", "serfHealth", "", "", "passing", 1) "," CHK(
			   "n1", "c1", "w1", "web", "passing", 1) "]",
		       &st, &count),
	    0);
	assert_int_equal(count, 2);
	assert_int_equal(st[0].kind, SVC_STATE_SERVICE);
	assert_string_equal(st[0].name, "web");
	assert_int_equal(st[1].kind, SVC_STATE_NODE);
	assert_string_equal(st[1].name, "web");
	catalog_states_free(st, count);
}

static void
test_states_not_array_is_eformat(void **state)
{
	static const char *const bodies[] = {
	    "{}", "\"x\"", "null", "[", "[{]", "[] x", "",
	};
	struct svc_state *st;
	size_t count, i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		st = (struct svc_state *)1;
		count = 99;
		assert_int_equal(states_str(bodies[i], &st, &count),
				 -SRV_EFORMAT);
		assert_null(st);
		assert_int_equal(count, 0);
	}
}

static void
test_states_empty_array_gives_none(void **state)
{
	struct svc_state *st;
	size_t count = 99;

	(void)state;
	assert_int_equal(states_str("[]", &st, &count), 0);
	assert_int_equal(count, 0);
	assert_null(st);
	catalog_states_free(st, count);
	catalog_states_free(NULL, 0);
}

static void
test_states_unattributable_checks_ignored(void **state)
{
	struct svc_state *st;
	size_t count;

	(void)state;
	assert_int_equal(
	    states_str("[1,null,\"x\",[],"
		       "{\"ServiceID\":\"w1\",\"Node\":\"n1\"},"
		       "{\"ServiceID\":\"w1\",\"ServiceName\":\"\"},"
		       "{\"ServiceID\":\"w1\",\"ServiceName\":5},"
		       "{\"ServiceID\":\"\",\"Node\":\"\"},"
		       "{\"Node\":{\"Node\":\"n1\"}},"
		       "{\"ServiceID\":7,\"Node\":\"n3\",\"ModifyIndex\":\"9\"},"
		       "{\"ServiceID\":\"w1\",\"ServiceName\":\"web\","
		       "\"Status\":[],\"ModifyIndex\":1e999}]",
		       &st, &count),
	    0);
	/* a wrong-typed ServiceID counts as empty: a node check of n3 */
	assert_int_equal(count, 2);
	assert_int_equal(st[0].kind, SVC_STATE_SERVICE);
	assert_string_equal(st[0].name, "web");
	assert_int_equal(st[1].kind, SVC_STATE_NODE);
	assert_string_equal(st[1].name, "n3");
	catalog_states_free(st, count);
}


/* ---- agent/service/register bodies -------------------------------------- */

static void
test_register_body_full_has_every_field_in_order(void **state)
{
	static const char *const tags[] = {"primary", "v2"};
	static const char *const keys[] = {"version", "zone"};
	static const char *const values[] = {"1.2", "eu-1"};
	struct catalog_reg r = {
	    .id = "data-6f1c",
	    .name = "data",
	    .address = "127.0.0.11",
	    .port = 8080,
	    .tags = tags,
	    .tag_count = 2,
	    .meta_keys = keys,
	    .meta_values = values,
	    .meta_count = 2,
	    .weight_passing = 10,
	    .weight_warning = 1,
	    .check_id = "service:data-6f1c",
	    .check_name = "srvshim register",
	    .check_status = "passing",
	    .ttl_ms = 10000,
	    .deregister_after_ms = 60000,
	};
	char *body = catalog_register_body(&r);

	(void)state;
	assert_string_equal(
	    body, "{\"ID\":\"data-6f1c\",\"Name\":\"data\",\"Address\":"
		  "\"127.0.0.11\",\"Port\":8080,\"Tags\":[\"primary\",\"v2\"],"
		  "\"Meta\":{\"version\":\"1.2\",\"zone\":\"eu-1\"},"
		  "\"Weights\":{\"Passing\":10,\"Warning\":1},\"Check\":{"
		  "\"CheckID\":\"service:data-6f1c\",\"Name\":\"srvshim "
		  "register\",\"TTL\":\"10s\",\"Status\":\"passing\","
		  "\"DeregisterCriticalServiceAfter\":\"60s\"}}");
	free(body);
}

static void
test_register_body_minimal_leaves_optional_fields_out(void **state)
{
	struct catalog_reg r = {
	    .id = "x-1",
	    .name = "x",
	    .address = "",
	    .port = 1,
	    .check_id = "service:x-1",
	    .check_name = "c",
	    .ttl_ms = 1500,
	};
	char *body = catalog_register_body(&r);

	(void)state;
	assert_string_equal(body,
			    "{\"ID\":\"x-1\",\"Name\":\"x\",\"Port\":1,"
			    "\"Check\":{\"CheckID\":\"service:x-1\",\"Name\":"
			    "\"c\",\"TTL\":\"1500ms\"}}");
	free(body);
}

static void
test_register_body_escapes_strings(void **state)
{
	static const char *const tags[] = {"a\"b\\c\n"};
	struct catalog_reg r = {
	    .id = "i",
	    .name = "n",
	    .port = 2,
	    .tags = tags,
	    .tag_count = 1,
	    .check_id = "c",
	    .check_name = "c",
	    .ttl_ms = 2000,
	};
	char *body = catalog_register_body(&r);
	struct svc_record rec;

	(void)state;
	assert_non_null(strstr(body, "\"Tags\":[\"a\\\"b\\\\c\\n\"]"));
	/* and it is JSON our own parser reads back (as a one-entry array) */
	{
		size_t n = strlen(body) + 32;
		char *arr = malloc(n);
		snprintf(arr, n, "[{\"Service\":%s}]", body);
		memset(&rec, 0, sizeof(rec));
		assert_int_equal(catalog_parse_health(arr, strlen(arr), "n",
						      &rec, NULL),
				 0);
		free(arr);
	}
	free(body);
	catalog_record_fini(&rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    /* health/service, real fixtures */
	    cmocka_unit_test(test_health_all_passing_keeps_three_instances),
	    cmocka_unit_test(test_health_instance_fields_match_fixture),
	    cmocka_unit_test(test_health_instances_keep_reply_order),
	    cmocka_unit_test(test_health_tags_parsed_in_order),
	    cmocka_unit_test(test_health_meta_parsed_in_order),
	    cmocka_unit_test(test_health_weights_read_from_fixture),
	    cmocka_unit_test(test_health_passing_output_is_first_checks),
	    cmocka_unit_test(test_health_warning_check_gives_warning),
	    cmocka_unit_test(test_health_critical_check_gives_critical),
	    cmocka_unit_test(test_health_maintenance_gives_critical),
	    cmocka_unit_test(test_health_mixed_keeps_unhealthy_instances),
	    cmocka_unit_test(test_health_null_meta_gives_none),
	    cmocka_unit_test(test_health_empty_tags_give_none),
	    cmocka_unit_test(test_health_empty_service_address_falls_back_to_node),
	    cmocka_unit_test(test_health_ipv6_service_address_kept),
	    cmocka_unit_test(test_health_node_check_only_is_passing),
	    cmocka_unit_test(test_health_no_checks_is_passing_with_empty_output),
	    cmocka_unit_test(
		test_health_critical_node_check_makes_instance_critical),
	    cmocka_unit_test(test_health_empty_array_gives_no_instances),
	    cmocka_unit_test(test_health_body_without_nul_parses),
	    cmocka_unit_test(test_health_len_bounds_the_body),
	    /* health/service, hostile bodies */
	    cmocka_unit_test(test_health_not_array_is_eformat),
	    cmocka_unit_test(test_health_truncated_json_is_eformat),
	    cmocka_unit_test(test_health_invalid_json_is_eformat),
	    cmocka_unit_test(test_health_null_body_is_eformat),
	    cmocka_unit_test(test_health_trailing_whitespace_accepted),
	    cmocka_unit_test(test_health_non_object_entries_skipped),
	    cmocka_unit_test(test_health_missing_service_skipped),
	    cmocka_unit_test(test_health_unusable_id_skipped),
	    cmocka_unit_test(test_health_negative_port_skipped),
	    cmocka_unit_test(test_health_port_above_65535_skipped),
	    cmocka_unit_test(test_health_fractional_port_skipped),
	    cmocka_unit_test(test_health_port_wrong_type_skipped),
	    cmocka_unit_test(test_health_port_bounds_accepted),
	    cmocka_unit_test(test_health_weights_default_to_one),
	    cmocka_unit_test(test_health_weights_clamped),
	    cmocka_unit_test(test_health_weights_in_range_kept),
	    cmocka_unit_test(test_health_status_strings_mapped),
	    cmocka_unit_test(test_health_worst_check_wins_in_any_order),
	    cmocka_unit_test(test_health_output_of_first_worst_check),
	    cmocka_unit_test(test_health_output_wrong_type_is_empty),
	    cmocka_unit_test(test_health_checks_null_or_empty_is_passing),
	    cmocka_unit_test(test_health_checks_wrong_type_is_critical),
	    cmocka_unit_test(test_health_wrong_typed_tags_ignored),
	    cmocka_unit_test(test_health_wrong_typed_meta_ignored),
	    cmocka_unit_test(test_health_missing_node_gives_empty_strings),
	    cmocka_unit_test(test_health_wrong_typed_service_address_falls_back),
	    cmocka_unit_test(test_health_overlong_strings_ignored),
	    cmocka_unit_test(test_health_deep_nesting_is_eformat),
	    cmocka_unit_test(test_health_nested_garbage_skipped),
	    cmocka_unit_test(test_health_nul_escape_ends_string),
	    cmocka_unit_test(test_health_skipped_may_be_null),
	    cmocka_unit_test(test_record_fini_zeroes_record),
	    /* catalog/services */
	    cmocka_unit_test(test_services_fixture_gives_sorted_names),
	    cmocka_unit_test(test_services_sorted_by_strcmp),
	    cmocka_unit_test(test_services_not_object_is_eformat),
	    cmocka_unit_test(test_services_empty_object_gives_none),
	    cmocka_unit_test(test_services_duplicate_and_empty_names_dropped),
	    cmocka_unit_test(test_services_tag_values_of_any_type_accepted),
	    /* health/state/any */
	    cmocka_unit_test(test_states_fixture_lists_services_then_nodes),
	    cmocka_unit_test(
		test_states_service_check_change_changes_only_that_service),
	    cmocka_unit_test(test_states_node_check_change_changes_only_that_node),
	    cmocka_unit_test(test_states_same_body_same_fingerprints),
	    cmocka_unit_test(test_states_fingerprint_ignores_check_order),
	    cmocka_unit_test(test_states_fingerprint_follows_each_field),
	    cmocka_unit_test(test_states_added_or_removed_check_changes_fingerprint),
	    cmocka_unit_test(test_states_node_checks_keyed_by_node),
	    cmocka_unit_test(test_states_sorted_by_strcmp),
	    cmocka_unit_test(test_states_service_and_node_of_same_name_kept_apart),
	    cmocka_unit_test(test_states_not_array_is_eformat),
	    cmocka_unit_test(test_states_empty_array_gives_none),
	    cmocka_unit_test(test_states_unattributable_checks_ignored),
	    /* agent/service/register */
	    cmocka_unit_test(test_register_body_full_has_every_field_in_order),
	    cmocka_unit_test(
		test_register_body_minimal_leaves_optional_fields_out),
	    cmocka_unit_test(test_register_body_escapes_strings),
	};

	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
