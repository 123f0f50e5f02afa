/* SPDX-License-Identifier: MIT
 * scale.c -- memory per instance, single-service republish time, and the
 *          compile time of one large service.
 * Owns:    synthetic catalogs compiled and indexed with the daemon's own
 *          zone.c: SERVICES services x INSTANCES instances (each tagged
 *          "http", the first also "primary", one meta key), or one service
 *          of many instances (--compile).
 * Never:   sockets, Consul. Built and run by bench/scale, not by make.
 *
 * Usage: scale SERVICES INSTANCES [CHANGES]
 *        scale --compile INSTANCES ADDRESSES [RUNS]
 * Prints one line of key=value pairs. The first form:
 *   heap_bytes     malloc'd bytes held by the compiled services + snapshot
 *   per_instance   heap_bytes / instances
 *   full_ms        zone_new() over everything (what a publish cost before
 *                  the index became incremental)
 *   republish_*    one service changes (an instance goes critical, or back):
 *                  compile it, zone_new_from() the current snapshot, and
 *                  zone_publish() (which frees the previous snapshot); the
 *                  same steps watch.c's publish() takes. Median, p99, max.
 */
#include "config_feat.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "catalog.h"
#include "zone.h"

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t
heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static char *tags_first[] = {"http", "primary"}, *tags_other[] = {"http"};
static char *meta_key = "version", *meta_val = "1.2.3";

static void
make_record(struct svc_record *r, size_t svc, size_t count, size_t critical)
{
	static char names[1][32];
	r->name = names[0];
	snprintf(names[0], sizeof(names[0]), "svc%05zu", svc);
	r->count = count;
	for (size_t i = 0; i < count; i++) {
		struct svc_instance *in = &r->inst[i];
		static char ids[256][16], addrs[256][20];
		snprintf(ids[i % 256], 16, "i%zu", i);
		snprintf(addrs[i % 256], 20, "10.%zu.%zu.%zu", svc / 256,
			 svc % 256, i + 1);
		memset(in, 0, sizeof(*in));
		in->id = ids[i % 256];
		in->node = "node1";
		in->address = addrs[i % 256];
		in->port = (uint16_t)(8000 + i);
		in->weight_passing = in->weight_warning = 1;
		in->health = i == critical ? SVC_CRITICAL : SVC_PASSING;
		in->tags = i == 0 ? tags_first : tags_other;
		in->tag_count = i == 0 ? 2 : 1;
		in->meta_keys = &meta_key;
		in->meta_values = &meta_val;
		in->meta_count = 1;
		in->check_output = "";
	}
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* --compile: one service "big" of n instances over naddr distinct IPv4
 * addresses (0: each its own), every instance tagged "http", one of
 * "zone-a".."zone-d" in turn and every tenth "canary", one meta key; the
 * shape a large Consul service has, compiled RUNS times: the watch
 * thread's cost for one changed service (zone_svc_compile() alone:
 * indexing its few names is cheap). Prints
 *   compile_median_ms, compile_min_ms, compile_max_ms  over the runs
 *   svc_heap_bytes  malloc'd bytes held by one compiled service */
static char *zone_tags[4][3] = {{"http", "zone-a", "canary"},
				{"http", "zone-b", "canary"},
				{"http", "zone-c", "canary"},
				{"http", "zone-d", "canary"}};

static int
compile_bench(size_t n, size_t naddr, size_t runs)
{
	struct zone_cfg zc;
	struct svc_record rec;
	char (*addrs)[20] = calloc(n ? n : 1, sizeof(*addrs));
	double *t = calloc(runs ? runs : 1, sizeof(*t));
	size_t heap = 0;

	if (addrs == NULL || t == NULL || runs == 0)
		return 2;
	memset(&rec, 0, sizeof(rec));
	rec.name = "big";
	rec.count = n;
	rec.inst = calloc(n ? n : 1, sizeof(*rec.inst));
	if (rec.inst == NULL)
		return 2;
	for (size_t i = 0; i < n; i++) {
		struct svc_instance *in = &rec.inst[i];
		size_t a = naddr ? i % naddr : i;
		snprintf(addrs[i], sizeof(addrs[i]), "10.%zu.%zu.%zu",
			 a >> 16 & 255, a >> 8 & 255, a & 255);
		in->id = "i";
		in->node = "node1";
		in->address = addrs[i];
		in->port = (uint16_t)(8000 + i % 1000);
		in->weight_passing = in->weight_warning = 1;
		in->health = SVC_PASSING;
		in->tags = zone_tags[i % 4];
		in->tag_count = i % 10 == 0 ? 3 : 2;
		in->meta_keys = &meta_key;
		in->meta_values = &meta_val;
		in->meta_count = 1;
		in->check_output = "";
	}
	zone_cfg_init(&zc, "service.local");
	for (size_t r = 0; r < runs; r++) {
		size_t before = heap_used();
		double a = now_ms();
		struct zsvc *s = zone_svc_compile(&zc, &rec);
		t[r] = now_ms() - a;
		heap = heap_used() - before;
		zone_svc_unref(s);
	}
	qsort(t, runs, sizeof(*t), cmp_d);
	printf("instances=%zu addresses=%zu runs=%zu compile_median_ms=%.3f "
	       "compile_min_ms=%.3f compile_max_ms=%.3f svc_heap_bytes=%zu\n",
	       n, naddr && naddr < n ? naddr : n, runs, t[runs / 2], t[0],
	       t[runs - 1], heap);
	free(rec.inst);
	free(addrs);
	free(t);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--compile") == 0)
		return compile_bench(
		    argc > 2 ? strtoul(argv[2], NULL, 10) : 10000,
		    argc > 3 ? strtoul(argv[3], NULL, 10) : 0,
		    argc > 4 ? strtoul(argv[4], NULL, 10) : 5);

	size_t nsvc = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t ninst = argc > 2 ? strtoul(argv[2], NULL, 10) : 10;
	size_t changes = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
	struct zone_cfg zc;
	struct svc_record rec;
	struct zsvc **svcs = calloc(nsvc, sizeof(*svcs));
	struct zsvc **arr = calloc(nsvc, sizeof(*arr));
	double *t = calloc(changes ? changes : 1, sizeof(*t));

	if (ninst > 256 || svcs == NULL || arr == NULL || t == NULL)
		return 2;
	rec.inst = calloc(ninst, sizeof(*rec.inst));
	zone_cfg_init(&zc, "service.local");
	rcu_register_thread(); /* as the watch thread's zone_current() */

	size_t before = heap_used();
	for (size_t s = 0; s < nsvc; s++) {
		make_record(&rec, s, ninst, (size_t)-1);
		svcs[s] = zone_svc_compile(&zc, &rec);
	}
	size_t compiled = heap_used();
	struct zone *z = zone_new(&zc, svcs, nsvc, 1, true);
	size_t after = heap_used();
	double t0 = now_ms();
	struct zone *full = zone_new(&zc, svcs, nsvc, 2, true);
	double full_ms = now_ms() - t0;
	zone_free(full);
	zone_publish(z);

	srand(7);
	for (size_t c = 0; c < changes; c++) {
		size_t s = (size_t)rand() % nsvc;
		make_record(&rec, s, ninst, c % 2 ? (size_t)-1 : c % ninst);
		double a = now_ms();
		struct zsvc *nz = zone_svc_compile(&zc, &rec);
		zone_svc_unref(svcs[s]);
		svcs[s] = nz;
		memcpy(arr, svcs, nsvc * sizeof(*arr)); /* watch.c's gather */
		zone_publish(zone_new_from(zone_current(), &zc, arr, nsvc,
					   (uint32_t)c + 3, true));
		t[c] = now_ms() - a;
	}
	qsort(t, changes, sizeof(*t), cmp_d);
	printf("services=%zu instances=%zu heap_bytes=%zu per_instance=%.0f "
	       "compiled_per_instance=%.0f index_bytes=%zu full_ms=%.3f "
	       "republish_median_ms=%.4f republish_p99_ms=%.4f "
	       "republish_max_ms=%.4f\n",
	       nsvc, nsvc * ninst, after - before,
	       (double)(after - before) / (double)(nsvc * ninst),
	       (double)(compiled - before) / (double)(nsvc * ninst),
	       after - compiled, full_ms, changes ? t[changes / 2] : 0.0,
	       changes ? t[changes * 99 / 100] : 0.0,
	       changes ? t[changes - 1] : 0.0);
	zone_shutdown();
	for (size_t s = 0; s < nsvc; s++)
		zone_svc_unref(svcs[s]);
	rcu_unregister_thread();
	free(svcs);
	free(arr);
	free(t);
	free(rec.inst);
	return 0;
}
