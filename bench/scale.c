/* SPDX-License-Identifier: MIT
 * scale.c -- memory per instance and single-service republish time.
 * Owns:    a synthetic catalog (SERVICES services x INSTANCES instances,
 *          each instance tagged "http", the first also "primary", one meta
 *          key), compiled and indexed with the daemon's own zone.c.
 * Never:   sockets, Consul. Built and run by bench/scale, not by make.
 *
 * Usage: scale SERVICES INSTANCES [CHANGES]
 * Prints one line of key=value pairs:
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

int
main(int argc, char **argv)
{
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
