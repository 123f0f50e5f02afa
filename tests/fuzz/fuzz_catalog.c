/* SPDX-License-Identifier: MIT
 * fuzz_catalog.c -- Consul JSON from anywhere into all three catalog.c
 *                   parsers: health/service, catalog/services and
 *                   health/state/any.
 * Owns:    nothing; each input is parsed, checked against the contracts in
 *          catalog.h and freed.
 * Never:   I/O. Seeds: tests/fuzz/corpus/catalog/ (real Consul replies).
 * Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "catalog.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of s, so a dangling or unterminated string shows. */
static size_t
touch(const char *s)
{
	assert(s != NULL);
	return strlen(s);
}

static void
fuzz_health(const char *body, size_t len)
{
	struct svc_record rec = {0};
	size_t skipped = 0, i, j, sum = 0;
	int rc = catalog_parse_health(body, len, "fuzz", &rec, &skipped);

	if (rc != 0) {
		assert(rc == -SRV_EFORMAT);
		assert(rec.name == NULL && rec.inst == NULL && rec.count == 0);
		catalog_record_fini(&rec);
		return;
	}
	assert(strcmp(rec.name, "fuzz") == 0);
	for (i = 0; i < rec.count; i++) {
		const struct svc_instance *in = &rec.inst[i];

		assert(touch(in->id) > 0);
		sum += touch(in->node) + touch(in->address);
		sum += touch(in->check_output);
		assert(in->health <= SVC_CRITICAL);
		assert(in->weight_passing <= 65535);
		assert(in->weight_warning <= 65535);
		for (j = 0; j < in->tag_count; j++)
			sum += touch(in->tags[j]);
		for (j = 0; j < in->meta_count; j++)
			sum += touch(in->meta_keys[j]) +
			       touch(in->meta_values[j]);
	}
	(void)sum;
	catalog_record_fini(&rec);
}

static void
fuzz_services(const char *body, size_t len)
{
	char **names = NULL;
	size_t count = 0, i;
	int rc = catalog_parse_services(body, len, &names, &count);

	if (rc != 0) {
		assert(rc == -SRV_EFORMAT);
		assert(names == NULL && count == 0);
		return;
	}
	for (i = 0; i < count; i++) {
		assert(touch(names[i]) > 0);
		/* sorted and without duplicates */
		assert(i == 0 || strcmp(names[i - 1], names[i]) < 0);
	}
	catalog_names_free(names, count);
}

static void
fuzz_states(const char *body, size_t len)
{
	struct svc_state *st = NULL;
	size_t count = 0, i;
	int rc = catalog_parse_states(body, len, &st, &count);

	if (rc != 0) {
		assert(rc == -SRV_EFORMAT);
		assert(st == NULL && count == 0);
		return;
	}
	for (i = 0; i < count; i++) {
		assert(touch(st[i].name) > 0);
		assert(st[i].kind == SVC_STATE_SERVICE ||
		       st[i].kind == SVC_STATE_NODE);
		/* sorted by kind, then name, without duplicates */
		assert(i == 0 || st[i - 1].kind < st[i].kind ||
		       (st[i - 1].kind == st[i].kind &&
			strcmp(st[i - 1].name, st[i].name) < 0));
	}
	catalog_states_free(st, count);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data; /* not NUL-terminated */

	fuzz_health(body, size);
	fuzz_services(body, size);
	fuzz_states(body, size);
	return 0;
}
