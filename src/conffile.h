/* SPDX-License-Identifier: MIT
 * conffile.h -- the JSON configuration file, read into option/value pairs.
 * Owns:    parsing the file (cJSON, for the config file only; Consul's JSON
 *          stays in catalog.c) and the permission check for files that
 *          hold a token.
 * Never:   the meaning of options: every pair goes through config.c's one
 *          option table, exactly as a command-line flag would. */
#ifndef SRVSHIM_CONFFILE_H
#define SRVSHIM_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Called once per value: name is the option's long name (the JSON key),
 * value its text. Arrays call it once per element; an object value calls
 * it once per member as "member=value" (e.g. service-ttl {"web": "30s"} ->
 * "web=30s"); booleans give "true"/"false"; whole numbers their decimal
 * text. Returns 0, or -1 with a message in err. */
typedef int conffile_fn(void *arg, const char *name, const char *value,
			char *err, size_t errlen);

/* Reads path and calls fn for every key in file order. Returns 0, or -1
 * with a message naming the file (and the key) in err. *has_token is set
 * when the file has a "token" key. */
int conffile_load(const char *path, conffile_fn *fn, void *arg,
		  bool *has_token, char *err, size_t errlen);

/* Same, from a buffer (tests, fuzzing). */
int conffile_parse(const char *text, size_t len, const char *what,
		   conffile_fn *fn, void *arg, bool *has_token, char *err,
		   size_t errlen);

#endif
