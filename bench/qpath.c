/* SPDX-License-Identifier: MIT
 * qpath.c -- the query path alone, for instruction counts (callgrind).
 * Owns:    a snapshot of the benchmark catalog (data: 3 instances, web: 2)
 *          built with zone_svc_compile() + zone_new(), and a loop that
 *          answers the benchmark's queries with answer_query().
 * Never:   sockets, Consul. Built and run by bench/callgrind, not by make.
 *
 * Usage: qpath KIND COUNT   KIND: a (data A), srv (data SRV), rfc
 * (_data._tcp SRV), mix (the bench/run query file's six names, in turn),
 * none (build the zone only: the baseline callgrind subtracts).
 * Prints the reply sizes once, so a change that alters replies shows. */
#include "config_feat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "catalog.h"
#include "zone.h"

static void
add(struct svc_record *r, const char *node, const char *id, const char *addr,
    uint16_t port)
{
	struct svc_instance *in = &r->inst[r->count++];
	memset(in, 0, sizeof(*in));
	in->id = (char *)id;
	in->node = (char *)node;
	in->address = (char *)addr;
	in->port = port;
	in->weight_passing = in->weight_warning = 1;
	in->health = SVC_PASSING;
	in->check_output = (char *)"";
}

static size_t
mkquery(uint8_t *q, const char *name, uint16_t type)
{
	size_t n = 12;
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD, as dnsperf sends */
	q[5] = 1;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

int
main(int argc, char **argv)
{
	static struct svc_instance di[3], wi[2];
	struct svc_record data = {.name = (char *)"data", .inst = di};
	struct svc_record web = {.name = (char *)"web", .inst = wi};
	struct zone_cfg zc;
	struct answer_cfg acfg = {.edns_size = 1232, .recursion = false};
	static struct answer_scratch scratch;
	static const struct {
		const char *name;
		uint16_t type;
	} mix[] = {
	    {"data.service.local", 1},	  {"data.service.local", 33},
	    {"_data._tcp.service.local", 33}, {"web.service.local", 1},
	    {"web.service.local", 33},	  {"_web._tcp.service.local", 33},
	};
	uint8_t q[6][512], out[4096];
	size_t qlen[6];
	const char *kind = argc > 1 ? argv[1] : "mix";
	long count = argc > 2 ? atol(argv[2]) : 100000;
	size_t first = 0, step = 1, sum = 0;

	add(&data, "n1", "data-1", "127.0.0.11", 8081);
	add(&data, "n1", "data-2", "127.0.0.12", 8082);
	add(&data, "n1", "data-3", "127.0.0.13", 8083);
	add(&web, "n1", "web-1", "127.0.0.21", 8091);
	add(&web, "n1", "web-2", "127.0.0.22", 8092);
	if (zone_cfg_init(&zc, "service.local") != 0)
		return 1;
	struct zsvc *svcs[2] = {zone_svc_compile(&zc, &data),
				zone_svc_compile(&zc, &web)};
	struct zone *z = zone_new(&zc, svcs, 2, 1, true);
	answer_scratch_init(&scratch);
	for (size_t i = 0; i < 6; i++)
		qlen[i] = mkquery(q[i], mix[i].name, mix[i].type);

	if (strcmp(kind, "a") == 0) {
		first = 0, step = 0;
	} else if (strcmp(kind, "srv") == 0) {
		first = 1, step = 0;
	} else if (strcmp(kind, "rfc") == 0) {
		first = 2, step = 0;
	} else if (strcmp(kind, "none") == 0) {
		count = 0;
	} else if (strcmp(kind, "mix") != 0) {
		fprintf(stderr, "usage: qpath a|srv|rfc|mix|none COUNT\n");
		return 2;
	}
	for (size_t i = 0; i < 6; i++) {
		struct answer_info info;
		size_t n = answer_query(z, zone_config(z), &acfg, q[i],
					qlen[i], out, sizeof(out), false,
					&scratch, &info);
		if (count > 0)
			printf("%s type %u: %zu bytes\n", mix[i].name,
			       mix[i].type, n);
	}
	size_t k = first;
	for (long i = 0; i < count; i++) {
		struct answer_info info;
		sum += answer_query(z, zone_config(z), &acfg, q[k], qlen[k],
				    out, sizeof(out), false, &scratch, &info);
		k = step ? (k + 1) % 6 : first;
	}
	printf("%ld queries, %zu reply bytes\n", count, sum);
	zone_free(z);
	zone_svc_unref(svcs[0]);
	zone_svc_unref(svcs[1]);
	return 0;
}
