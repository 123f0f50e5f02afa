/* SPDX-License-Identifier: MIT
 * util.h -- small helpers every room may use.
 * Owns:    the xmalloc family (abort on out-of-memory), the monotonic clock,
 *          duration parsing and a per-thread fast random generator.
 * Never:   domain logic. */
#ifndef SRVSHIM_UTIL_H
#define SRVSHIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Out of memory aborts with a message: callers never check for NULL. */
void *xmalloc(size_t len);
void *xcalloc(size_t count, size_t len);
void *xrealloc(void *p, size_t len);
void *xreallocarray(void *p, size_t count, size_t len);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);

/* Monotonic and wall clocks. */
uint64_t now_ms(void);
uint64_t now_us(void);
uint64_t wall_s(void);

/* Parses a duration: a number with an optional unit (ms, s, m, h; bare
 * numbers are seconds), e.g. "250ms", "10s", "5m". Returns 0 or -SRV_EFORMAT
 * / -SRV_ERANGE. */
int parse_duration_ms(const char *s, uint64_t *out_ms);

/* Parses an unsigned decimal in [lo, hi]. Returns 0 or -SRV_E*. */
int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* xorshift128+ generator: one per thread, never shared. */
struct rng {
	uint64_t s[2];
};
void rng_seed(struct rng *r);
static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t x = r->s[0];
	uint64_t const y = r->s[1];
	r->s[0] = y;
	x ^= x << 23;
	r->s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return r->s[1] + y;
}
/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias is < n/2^32). */
static inline uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* FNV-1a over len bytes: small keys (names), not adversarial-proof. */
static inline uint64_t
hash_fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Case-insensitive ASCII helpers (DNS names compare this way, RFC 4343). */
static inline uint8_t
ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

#endif
