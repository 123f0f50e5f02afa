/* SPDX-License-Identifier: MIT
 * fuzz_conffile.c -- any bytes as the JSON configuration file:
 *                    conffile_parse().
 * Owns:    nothing. Every pair handed to the callback is checked (non-NULL,
 *          NUL-terminated name and value); the callback refuses
 *          every seventh pair, so the error path after a rejected value is
 *          fuzzed too. The meaning of values is config.c's (fuzz_config).
 * Never:   I/O. Seeds: tests/fuzz/corpus/conffile/ (examples/config and
 *          hand-made files). Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"

#include "fuzzcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	unsigned pairs;
	bool token;
};

static int
on_pair(void *arg, const char *name, const char *value, char *err,
	size_t errlen)
{
	struct seen *s = arg;
	CHECK(name != NULL && value != NULL);
	/* terminated (ASan sees a runaway read); "" is config.c's to refuse */
	(void)strlen(name);
	(void)strlen(value);
	if (strcmp(name, "token") == 0)
		s->token = true;
	if (++s->pairs % 7 == 0) {
		snprintf(err, errlen, "fuzz: pair %u refused", s->pairs);
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = {0};
	char err[512];
	bool has_token = true; /* must be set either way */

	memset(err, 'x', sizeof(err));
	int rc = conffile_parse((const char *)data, size, "fuzz.json", on_pair,
				&s, &has_token, err, sizeof(err));
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		CHECK(s.pairs % 7 != 0 || s.pairs == 0);
		/* a "token" key counts even when it yields no pair ({}, []) */
		CHECK(!s.token || has_token);
	} else {
		CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	}
	return 0;
}
