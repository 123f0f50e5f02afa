/* SPDX-License-Identifier: MIT
 * util.c -- allocation that cannot fail, clocks, parsing of numbers and
 *           durations, error strings, a seeded per-thread random generator.
 * Owns:    nothing stateful.
 * Never:   domain logic. */
#include "config_feat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "util.h"

static void
oom(size_t len)
{
	fprintf(stderr, "srvshim: out of memory allocating %zu bytes\n", len);
	abort();
}

void *
xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);
	if (p == NULL)
		oom(len);
	return p;
}

void *
xcalloc(size_t count, size_t len)
{
	void *p = calloc(count ? count : 1, len ? len : 1);
	if (p == NULL)
		oom(count * len);
	return p;
}

void *
xrealloc(void *p, size_t len)
{
	void *q = realloc(p, len ? len : 1);
	if (q == NULL)
		oom(len);
	return q;
}

void *
xreallocarray(void *p, size_t count, size_t len)
{
	if (len != 0 && count > SIZE_MAX / len)
		oom(SIZE_MAX);
	return xrealloc(p, count * len);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t len)
{
	size_t n = strnlen(s, len);
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
now_ms(void)
{
	return now_us() / 1000u;
}

uint64_t
wall_s(void)
{
	return (uint64_t)time(NULL);
}

int
parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -SRV_EFORMAT;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -SRV_EFORMAT;
	if (errno == ERANGE || v < lo || v > hi)
		return -SRV_ERANGE;
	*out = v;
	return 0;
}

int
parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000},
		     {"h", 3600000}};
	char *end;
	unsigned long long v;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return -SRV_EFORMAT;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -SRV_ERANGE;
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -SRV_ERANGE;
			*out_ms = v * units[i].ms;
			return 0;
		}
	}
	return -SRV_EFORMAT;
}

void
rng_seed(struct rng *r)
{
	if (getrandom(r->s, sizeof(r->s), 0) != (ssize_t)sizeof(r->s)) {
		r->s[0] = now_us() ^ (uint64_t)(uintptr_t)r;
		r->s[1] = 0x9e3779b97f4a7c15ull ^ (r->s[0] << 7);
	}
	if (r->s[0] == 0 && r->s[1] == 0)
		r->s[1] = 1;
}

const char *
srv_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case SRV_OK: return "success";
	case SRV_ETRUNC: return "input truncated";
	case SRV_EFORMAT: return "malformed input";
	case SRV_ERANGE: return "value out of range";
	case SRV_ENOSPC: return "no space left in buffer";
	case SRV_ENOENT: return "not found";
	case SRV_EIO: return "system call failed";
	case SRV_EPROTO: return "protocol error from peer";
	case SRV_ETIMEOUT: return "timed out";
	case SRV_EEXIST: return "already exists";
	}
	return "unknown error";
}
