/* SPDX-License-Identifier: MIT
 * test_metrics.c -- per-thread counter blocks summed on read, the
 * Prometheus text rendering (HELP/TYPE, labels, cumulative histogram,
 * gauges), and the /ready rule and gauges httpd.c derives from the watch
 * status. */
#include "testutil.h"

#include "httpd.h"
#include "metrics.h"
#include "util.h"
#include "watch.h"
#include "wire.h"

static char *
render(const struct metrics_sum *sum, const double g[MG_COUNT])
{
	size_t need = metrics_render(NULL, 0, sum, g);
	char *buf = malloc(need + 1);
	assert_non_null(buf);
	assert_int_equal(metrics_render(buf, need + 1, sum, g), need);
	assert_int_equal(strlen(buf), need);
	return buf;
}

/* Counts lines equal to line. */
static int
count_lines(const char *text, const char *line)
{
	size_t n = strlen(line);
	int hits = 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			hits++;
	return hits;
}

static void
test_every_family_has_one_help_and_type(void **state)
{
	struct metrics_sum sum;
	double g[MG_COUNT] = {0};
	static const char *const types[] = {
	    "# TYPE srvshim_queries_total counter",
	    "# TYPE srvshim_responses_total counter",
	    "# TYPE srvshim_truncated_total counter",
	    "# TYPE srvshim_dropped_total counter",
	    "# TYPE srvshim_forwarded_queries_total counter",
	    "# TYPE srvshim_upstream_errors_total counter",
	    "# TYPE srvshim_tcp_connections_accepted_total counter",
	    "# TYPE srvshim_tcp_connections_closed_total counter",
	    "# TYPE srvshim_tcp_connections_open gauge",
	    "# TYPE srvshim_consul_requests_total counter",
	    "# TYPE srvshim_snapshot_publishes_total counter",
	    "# TYPE srvshim_answer_duration_seconds histogram",
	    "# TYPE srvshim_last_sync_age_seconds gauge",
	    "# TYPE srvshim_data_age_seconds gauge",
	    "# TYPE srvshim_services gauge",
	    "# TYPE srvshim_instances gauge",
	    "# TYPE srvshim_watches_open gauge",
	    "# TYPE srvshim_watches_max gauge",
	};
	(void)state;
	memset(&sum, 0, sizeof(sum));
	char *text = render(&sum, g);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		char help[128];
		assert_int_equal(count_lines(text, types[i]), 1);
		/* the HELP line comes right before, for the same family */
		const char *fam = types[i] + strlen("# TYPE ");
		snprintf(help, sizeof(help), "# HELP %.*s ",
			 (int)(strchr(fam, ' ') - fam), fam);
		assert_non_null(strstr(text, help));
	}
	/* every sample line is "name[{labels}] value" */
	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		if (*p == '#')
			continue;
		assert_memory_equal(p, "srvshim_", 8);
		const char *sp = strchr(p, ' ');
		assert_non_null(sp);
		assert_true(sp[1] == '-' || (sp[1] >= '0' && sp[1] <= '9'));
	}
	free(text);
}

static void
test_blocks_are_summed_and_keep_counts_when_unregistered(void **state)
{
	struct metrics_block *a = calloc(1, sizeof(*a));
	struct metrics_block *b = calloc(1, sizeof(*b));
	struct metrics_sum before, after;
	(void)state;

	metrics_read(&before);
	metrics_register(a);
	metrics_register(b);
	metrics_inc(a, M_Q_AAAA);
	metrics_add(b, M_Q_AAAA, 6);
	metrics_inc(b, M_CONSUL_HTTP_429);
	metrics_set(a, M_TCP_OPEN, 3);
	metrics_set(b, M_TCP_OPEN, 2);
	metrics_read(&after);
	assert_int_equal(after.c[M_Q_AAAA] - before.c[M_Q_AAAA], 7);
	assert_int_equal(after.c[M_CONSUL_HTTP_429] -
			     before.c[M_CONSUL_HTTP_429], 1);
	assert_int_equal(after.c[M_TCP_OPEN] - before.c[M_TCP_OPEN], 5);

	/* A stopped thread's counts stay; its gauge goes. */
	metrics_unregister(b);
	free(b);
	metrics_read(&after);
	assert_int_equal(after.c[M_Q_AAAA] - before.c[M_Q_AAAA], 7);
	assert_int_equal(after.c[M_TCP_OPEN] - before.c[M_TCP_OPEN], 3);
	metrics_unregister(a);
	free(a);
	metrics_read(&after);
	assert_int_equal(after.c[M_TCP_OPEN], before.c[M_TCP_OPEN]);
}

static void
test_labels_and_values_render(void **state)
{
	struct metrics_sum sum;
	double g[MG_COUNT] = {0};
	(void)state;
	memset(&sum, 0, sizeof(sum));
	sum.c[M_Q_AAAA] = 7;
	sum.c[M_RCODE_NXDOMAIN] = 12345678901234ull;
	sum.c[M_CONSUL_MALFORMED] = 2;
	sum.c[M_TCP_CLOSED_IDLE] = 4;
	g[MG_LAST_SYNC_AGE] = 3.25;
	g[MG_DATA_AGE] = -1;
	g[MG_SERIAL] = 4294967295.0;
	char *text = render(&sum, g);
	assert_int_equal(count_lines(text, "srvshim_queries_total{qtype=\"AAAA\"} 7"), 1);
	assert_int_equal(count_lines(text, "srvshim_queries_total{qtype=\"A\"} 0"), 1);
	assert_int_equal(count_lines(text, "srvshim_responses_total{rcode=\"NXDOMAIN\"} 12345678901234"), 1);
	assert_int_equal(count_lines(text, "srvshim_consul_requests_total{outcome=\"malformed\"} 2"), 1);
	assert_int_equal(count_lines(text, "srvshim_tcp_connections_closed_total{reason=\"idle\"} 4"), 1);
	assert_int_equal(count_lines(text, "srvshim_forwarded_queries_total 0"), 1);
	assert_int_equal(count_lines(text, "srvshim_last_sync_age_seconds 3.25"), 1);
	assert_int_equal(count_lines(text, "srvshim_data_age_seconds -1"), 1);
	assert_int_equal(count_lines(text, "srvshim_soa_serial 4294967295"), 1);
	free(text);
}

static void
test_histogram_is_cumulative_with_sum_and_count(void **state)
{
	struct metrics_block *b = calloc(1, sizeof(*b));
	struct metrics_sum sum;
	double g[MG_COUNT] = {0};
	(void)state;

	metrics_register(b);
	metrics_observe(b, 30, 3);	/* le 0.00005 */
	metrics_observe(b, 1000, 2);	/* le 0.001 (bounds are inclusive) */
	metrics_observe(b, 2000000, 1); /* beyond every bound: +Inf only */
	metrics_observe(b, 5, 0);	/* nothing */
	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++)
		sum.hist[i] = atomic_load(&b->hist[i]);
	sum.hist_sum_us = atomic_load(&b->hist_sum_us);
	metrics_unregister(b);
	free(b);

	char *text = render(&sum, g);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.00001\"} 0"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.000025\"} 0"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.00005\"} 3"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.0005\"} 3"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.001\"} 5"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"0.25\"} 5"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_bucket{le=\"+Inf\"} 6"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_count 6"), 1);
	assert_int_equal(count_lines(text, "srvshim_answer_duration_seconds_sum 2.00209"), 1);
	free(text);
}

static void
test_render_into_a_short_buffer_reports_the_length_needed(void **state)
{
	struct metrics_sum sum;
	double g[MG_COUNT] = {0};
	char small[100];
	(void)state;
	memset(&sum, 0, sizeof(sum));
	size_t need = metrics_render(NULL, 0, &sum, g);
	assert_true(need > sizeof(small));
	assert_int_equal(metrics_render(small, sizeof(small), &sum, g), need);
	assert_int_equal(strlen(small), sizeof(small) - 1); /* cut, terminated */
}

static void
test_qtype_and_rcode_slots(void **state)
{
	(void)state;
	assert_int_equal(metrics_qtype_slot(WIRE_TYPE_A), M_Q_A);
	assert_int_equal(metrics_qtype_slot(WIRE_TYPE_SRV), M_Q_SRV);
	assert_int_equal(metrics_qtype_slot(12), M_Q_PTR);
	assert_int_equal(metrics_qtype_slot(65), M_Q_HTTPS);
	assert_int_equal(metrics_qtype_slot(WIRE_TYPE_AXFR), M_Q_OTHER);
	assert_int_equal(metrics_qtype_slot(0), M_Q_OTHER);
	assert_int_equal(metrics_rcode_slot(WIRE_RCODE_NOERROR), M_RCODE_NOERROR);
	assert_int_equal(metrics_rcode_slot(WIRE_RCODE_REFUSED), M_RCODE_REFUSED);
	assert_int_equal(metrics_rcode_slot(WIRE_RCODE_BADVERS), M_RCODE_BADVERS);
	assert_int_equal(metrics_rcode_slot(9), M_RCODE_OTHER);
}

/* ---- httpd.c's rules over a watch status ----------------------------------- */

static void
test_ready_needs_the_first_sync(void **state)
{
	struct watch_status st = {0};
	char why[256];
	(void)state;
	assert_false(httpd_ready(&st, 0, 5000, "127.0.0.1:1", why, sizeof(why)));
	assert_non_null(strstr(why, "not ready: no complete sync"));
	assert_non_null(strstr(why, "127.0.0.1:1"));
	assert_non_null(strstr(why, "not reachable"));
	st.synced = st.current = true;
	st.current_ms = 4000;
	assert_true(httpd_ready(&st, 0, 5000, "c", why, sizeof(why)));
	assert_string_equal(why, "ready\n");
}

static void
test_ready_fails_once_data_is_older_than_max_stale(void **state)
{
	struct watch_status st = {.synced = true, .current = false,
				  .current_ms = 10000};
	char why[256];
	(void)state;
	/* exactly max_stale old: still ready */
	assert_true(httpd_ready(&st, 2000, 12000, "c", why, sizeof(why)));
	assert_false(httpd_ready(&st, 2000, 12001, "c", why, sizeof(why)));
	assert_non_null(strstr(why, "data is 2.001s old"));
	assert_non_null(strstr(why, "--max-stale 2.000s"));
	/* without --max-stale, old data stays ready */
	assert_true(httpd_ready(&st, 0, 99999999, "c", why, sizeof(why)));
	/* current data has no age, however long ago current_ms was */
	st.current = true;
	assert_true(httpd_ready(&st, 2000, 99999999, "c", why, sizeof(why)));
}

static void
test_gauges_from_status(void **state)
{
	struct watch_status st = {.synced = true, .connected = true,
				  .last_sync_ms = 1500, .catalog_index = 77,
				  .services = 3, .instances = 9, .watches = 4,
				  .max_watches = 64, .serial = 12,
				  .current = false, .current_ms = 1000};
	double g[MG_COUNT];
	(void)state;
	httpd_gauges(&st, 4000, g);
	assert_true(g[MG_SYNCED] == 1.0);
	assert_true(g[MG_LAST_SYNC_AGE] == 2.5);
	assert_true(g[MG_DATA_AGE] == 3.0);
	assert_true(g[MG_CONSUL_INDEX] == 77.0);
	assert_true(g[MG_INSTANCES] == 9.0);
	assert_true(g[MG_WATCHES_MAX] == 64.0);
	memset(&st, 0, sizeof(st));
	httpd_gauges(&st, 4000, g);
	assert_true(g[MG_LAST_SYNC_AGE] == -1.0);
	assert_true(g[MG_DATA_AGE] == -1.0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_family_has_one_help_and_type),
	    cmocka_unit_test(test_blocks_are_summed_and_keep_counts_when_unregistered),
	    cmocka_unit_test(test_labels_and_values_render),
	    cmocka_unit_test(test_histogram_is_cumulative_with_sum_and_count),
	    cmocka_unit_test(test_render_into_a_short_buffer_reports_the_length_needed),
	    cmocka_unit_test(test_qtype_and_rcode_slots),
	    cmocka_unit_test(test_ready_needs_the_first_sync),
	    cmocka_unit_test(test_ready_fails_once_data_is_older_than_max_stale),
	    cmocka_unit_test(test_gauges_from_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
