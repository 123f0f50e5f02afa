/* SPDX-License-Identifier: MIT
 * conffile.c -- the JSON configuration file, read into option/value pairs.
 * Owns:    cJSON for the config file; the "world-readable token" warning.
 * Never:   option meaning (config.c), sockets, Consul.
 * Start reading at conffile_parse(). */
#include "config_feat.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conffile.h"
#include "log.h"
#include "util.h"

#define CONFFILE_MAX (1u << 20) /* a config file is small; refuse more */

static int
scalar(const cJSON *v, char *out, size_t outlen)
{
	if (cJSON_IsString(v)) {
		if (strlen(v->valuestring) >= outlen)
			return -1;
		snprintf(out, outlen, "%s", v->valuestring);
		return 0;
	}
	if (cJSON_IsBool(v)) {
		snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "true" : "false");
		return 0;
	}
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d < 0 || d > 9007199254740992.0 || d != (double)(uint64_t)d)
			return -1;
		snprintf(out, outlen, "%.0f", d);
		return 0;
	}
	return -1;
}

int
conffile_parse(const char *text, size_t len, const char *what,
	       conffile_fn *fn, void *arg, bool *has_token, char *err,
	       size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	const cJSON *item;
	char val[1024], why[512];
	int rc = -1;

	*has_token = false;
	/* cJSON stops after the first value; anything but white space after it
	 * would be silently ignored settings (found by fuzz_conffile). */
	while (root != NULL && end < text + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (root != NULL && end != text + len) {
		snprintf(err, errlen, "%s: text after the JSON object (at byte "
			 "%zu)", what, (size_t)(end - text));
		goto out;
	}
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: not a JSON object (expected "
			 "{\"option\": value, ...})", what);
		goto out;
	}
	cJSON_ArrayForEach(item, root) {
		const char *key = item->string;
		if (strcmp(key, "token") == 0)
			*has_token = true;
		if (cJSON_IsArray(item)) {
			const cJSON *el;
			cJSON_ArrayForEach(el, item) {
				if (scalar(el, val, sizeof(val)) != 0)
					goto bad;
				if (fn(arg, key, val, why, sizeof(why)) != 0)
					goto fail;
			}
		} else if (cJSON_IsObject(item)) {
			const cJSON *m;
			cJSON_ArrayForEach(m, item) {
				char mv[900];
				if (scalar(m, mv, sizeof(mv)) != 0)
					goto bad;
				snprintf(val, sizeof(val), "%s=%s", m->string, mv);
				if (fn(arg, key, val, why, sizeof(why)) != 0)
					goto fail;
			}
		} else {
			if (scalar(item, val, sizeof(val)) != 0)
				goto bad;
			if (fn(arg, key, val, why, sizeof(why)) != 0)
				goto fail;
		}
		continue;
bad:
		snprintf(err, errlen, "%s: \"%s\": expected a string, number, "
			 "boolean, or a list or object of those", what, key);
		goto out;
fail:
		snprintf(err, errlen, "%s: %s", what, why);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int
conffile_load(const char *path, conffile_fn *fn, void *arg, bool *has_token,
	      char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	*has_token = false;
	if (f == NULL) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > CONFFILE_MAX) {
		snprintf(err, errlen, "config file %s: not a regular file of "
			 "at most %u bytes", path, CONFFILE_MAX);
		fclose(f);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = '\0';
	rc = conffile_parse(buf, n, path, fn, arg, has_token, err, errlen);
	explicit_bzero(buf, n);
	free(buf);
	if (rc == 0 && *has_token && (st.st_mode & S_IROTH))
		log_warnx("config: file %s holds a token but others can read "
			  "it (mode %03o); chmod 600 it", path,
			  (unsigned)(st.st_mode & 0777));
	return rc;
}
