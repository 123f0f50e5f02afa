/* SPDX-License-Identifier: MIT
 * cache.h -- the forward cache: upstream replies by question, for their TTL.
 * Owns:    entries (key bytes + message bytes), a hash index, LRU eviction,
 *          expiry by a caller-supplied clock.
 * Never:   DNS meaning (relay.c computes keys and lifetimes), locks: one
 *          thread (forward.c's) owns a cache.
 *
 * Bounded: at most max_entries entries of at most CACHE_MSG_MAX bytes. */
#ifndef SRVSHIM_CACHE_H
#define SRVSHIM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define CACHE_MSG_MAX 16384

struct cache;

struct cache_stats {
	uint64_t hits, misses, inserts, evictions, expired;
	size_t entries;
};

/* Returns new (free with cache_free()), or NULL when max_entries is 0
 * (caching off; every function takes NULL and does nothing). */
struct cache *cache_new(size_t max_entries);
void cache_free(struct cache *c); /* takes NULL */

/* Looks key up at now_ms. Returns the stored message (borrowed: valid until
 * the next cache_put() or cache_free()) with its length in *len and the
 * whole seconds since it was stored in *age_s, or NULL when absent or
 * expired (an expired entry is dropped). A hit makes the entry the most
 * recently used. */
const uint8_t *cache_get(struct cache *c, const uint8_t *key, size_t keylen,
			 uint64_t now_ms, size_t *len, uint32_t *age_s);

/* Stores a copy of msg under key for ttl_s seconds from now_ms, replacing
 * an entry with the same key; when full the least recently used entry
 * goes. ttl_s 0 and messages over CACHE_MSG_MAX are not stored. */
void cache_put(struct cache *c, const uint8_t *key, size_t keylen,
	       const uint8_t *msg, size_t len, uint32_t ttl_s,
	       uint64_t now_ms);

void cache_get_stats(const struct cache *c, struct cache_stats *st);

#endif
