/* SPDX-License-Identifier: MIT
 * fuzzcheck.h -- CHECK(): the fuzz targets' invariant check. It aborts, so
 * libFuzzer (and the seed replay in make check) report the input. */
#ifndef SRVSHIM_FUZZCHECK_H
#define SRVSHIM_FUZZCHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",   \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

#endif
