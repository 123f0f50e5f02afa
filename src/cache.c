/* SPDX-License-Identifier: MIT
 * cache.c -- a bounded LRU of forwarded replies with per-entry expiry.
 * Owns:    every entry (one allocation each: header, key, message).
 * Never:   DNS meaning, locks, clocks of its own (callers pass now_ms, so
 *          tests can move time).
 * Start reading at cache_get(). */
#include "config_feat.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

struct entry {
	struct entry *hnext;	     /* hash chain */
	struct entry *prev, *next;   /* LRU: head is the most recent */
	uint64_t hash;
	uint64_t stored_ms, expires_ms;
	size_t keylen, len;
	uint8_t data[];		     /* key, then message */
};

struct cache {
	struct entry **buckets;
	size_t mask;		     /* bucket count - 1 (a power of two) */
	struct entry *head, *tail;
	size_t count, max;
	struct cache_stats st;
};

static uint64_t
hash_key(const uint8_t *key, size_t len)
{
	return hash_fnv1a(key, len);
}

struct cache *
cache_new(size_t max_entries)
{
	if (max_entries == 0)
		return NULL;
	struct cache *c = xcalloc(1, sizeof(*c));
	size_t n = 16;
	while (n < max_entries * 2)
		n *= 2;
	c->buckets = xcalloc(n, sizeof(*c->buckets));
	c->mask = n - 1;
	c->max = max_entries;
	return c;
}

static void
lru_unlink(struct cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static struct entry **
find(struct cache *c, const uint8_t *key, size_t keylen, uint64_t h)
{
	struct entry **pp = &c->buckets[h & c->mask];
	for (; *pp; pp = &(*pp)->hnext) {
		struct entry *e = *pp;
		if (e->hash == h && e->keylen == keylen &&
		    memcmp(e->data, key, keylen) == 0)
			break;
	}
	return pp;
}

/* Removes the entry *pp points at (a hash-chain link) and frees it. */
static void
drop(struct cache *c, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->hnext;
	lru_unlink(c, e);
	free(e);
	c->count--;
}

const uint8_t *
cache_get(struct cache *c, const uint8_t *key, size_t keylen, uint64_t now_ms,
	  size_t *len, uint32_t *age_s)
{
	if (c == NULL)
		return NULL;
	uint64_t h = hash_key(key, keylen);
	struct entry **pp = find(c, key, keylen, h);
	struct entry *e = *pp;
	if (e == NULL) {
		c->st.misses++;
		return NULL;
	}
	if (now_ms >= e->expires_ms) {
		drop(c, pp);
		c->st.expired++;
		c->st.misses++;
		return NULL;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	c->st.hits++;
	*len = e->len;
	*age_s = (uint32_t)((now_ms - e->stored_ms) / 1000);
	return e->data + e->keylen;
}

void
cache_put(struct cache *c, const uint8_t *key, size_t keylen,
	  const uint8_t *msg, size_t len, uint32_t ttl_s, uint64_t now_ms)
{
	if (c == NULL || ttl_s == 0 || len > CACHE_MSG_MAX)
		return;
	uint64_t h = hash_key(key, keylen);
	struct entry **pp = find(c, key, keylen, h);
	if (*pp)
		drop(c, pp);
	if (c->count >= c->max) {
		struct entry *old = c->tail;
		drop(c, find(c, old->data, old->keylen, old->hash));
		c->st.evictions++;
	}
	struct entry *e = xmalloc(sizeof(*e) + keylen + len);
	e->hash = h;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl_s * 1000;
	e->keylen = keylen;
	e->len = len;
	memcpy(e->data, key, keylen);
	memcpy(e->data + keylen, msg, len);
	pp = &c->buckets[h & c->mask];
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->count++;
	c->st.inserts++;
}

void
cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (c == NULL)
		return;
	*st = c->st;
	st->entries = c->count;
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	while (c->head) {
		struct entry *e = c->head;
		c->head = e->next;
		free(e);
	}
	free(c->buckets);
	free(c);
}
