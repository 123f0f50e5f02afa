/* SPDX-License-Identifier: MIT
 * testutil.h -- what every cmocka unit test includes: cmocka's prerequisite
 * headers in the right order, and reading fixture files from tests/data. */
#ifndef SRVSHIM_TESTUTIL_H
#define SRVSHIM_TESTUTIL_H

#include "config_feat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must be defined by the build"
#endif

/* Reads TEST_DATA_DIR/rel into a new NUL-terminated buffer (free() it);
 * *len gets its length. Fails the test when the file cannot be read. */
static inline char *
test_read_file(const char *rel, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open fixture %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

#endif
