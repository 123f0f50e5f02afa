/* SPDX-License-Identifier: MIT
 * replay.c -- a main() for a fuzz target without libFuzzer: runs every file
 *             of the seed corpus through LLVMFuzzerTestOneInput() once.
 * Owns:    reading corpus files (each input in its own exactly-sized heap
 *          buffer, so ASan and valgrind see any read past the end).
 * Never:   mutation; that is libFuzzer's job (--enable-fuzzing, scripts/fuzz).
 * Usage:   replay_<target> [FILE|DIR]...; without arguments, the corpus
 *          directory compiled in (CORPUS_DIR). Exits 1 if no input was run:
 *          an empty or missing corpus fails, it never passes silently.
 * Start reading at main(). */
#include "config_feat.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#ifndef CORPUS_DIR
#error "CORPUS_DIR must be defined by the build"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	/* malloc(n) itself, not xmalloc(): an empty input must be a valid
	 * pointer to zero bytes, as libFuzzer passes it, so that reading even
	 * its first byte is caught. */
	uint8_t *buf = malloc(n);
	if (buf == NULL && n > 0)
		abort();
	size_t got = fread(buf, 1, n, f);
	fclose(f);
	if (got != n) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int
only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Runs path (a file, or every file in a directory, in name order).
 * Returns the number of inputs run, or -1 on an unreadable input. */
static long
run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) == 0 ? 1 : -1;
	struct dirent **names;
	int n = scandir(path, &names, only_files, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	long count = 0;
	for (int i = 0; i < n; i++) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (count >= 0) {
			if (run_file(file) == 0)
				count++;
			else
				count = -1;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	long total = 0;
	const char *dflt[] = {CORPUS_DIR};
	const char *const *paths = argc > 1 ? (const char *const *)argv + 1
					    : dflt;
	int count = argc > 1 ? argc - 1 : 1;

	for (int i = 0; i < count; i++) {
		long n = run_path(paths[i]);
		if (n < 0)
			return 1;
		printf("replay: %s: %ld inputs\n", paths[i], n);
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs run: failing\n");
		return 1;
	}
	printf("replay: %ld inputs, no invariant broken\n", total);
	return 0;
}
