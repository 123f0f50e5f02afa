/* SPDX-License-Identifier: MIT
 * watch.h -- keeping the zone in step with Consul.
 * Owns:    the watch thread: one blocking query on /v1/catalog/services,
 *          per-service blocking queries on /v1/health/service/<svc> within
 *          a hard connection cap, a change detector for services beyond the
 *          cap, backoff, and building + publishing snapshots (zone.h).
 * Never:   sockets directly (http.c does HTTP), DNS wire, JSON (catalog.c).
 *
 * The first snapshot marked synced is published only after the service list
 * and every service's health have been fetched once (services whose names
 * cannot be served in DNS are never fetched and do not hold it back). A
 * failed or malformed reply never replaces good data. */
#ifndef SRVSHIM_WATCH_H
#define SRVSHIM_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "zone.h"

struct watch;

struct watch_status {
	bool synced;	       /* first complete sync done */
	bool connected;	       /* last request to Consul succeeded */
	uint64_t last_sync_ms; /* now_ms() of the last successful reply, 0 never */
	uint64_t catalog_index;/* X-Consul-Index of the service list */
	unsigned services;     /* services in the current snapshot */
	unsigned instances;    /* served instances in it */
	unsigned watches;      /* blocking queries open now, the catalog and
				* change detector included */
	unsigned max_watches;
	uint64_t errors;       /* failed Consul requests since start */
	uint32_t serial;       /* SOA serial of the current snapshot */
	bool current;	       /* synced, and every endpoint's last request
				* succeeded: the data is as fresh as Consul's */
	uint64_t current_ms;   /* now_ms() when that was last true, 0 never;
				* data age = current ? 0 : now - current_ms */
	uint64_t loop_ms;      /* now_ms() of the watch loop's last turn */
};

/* Returns new; borrows consul and zcfg for its whole life (the caller keeps
 * them alive until watch_free()). */
struct watch *watch_new(const struct consul_cfg *consul,
			const struct zone_cfg *zcfg, unsigned max_watches);
/* --max-stale: once no complete, error-free view of Consul has been had
 * for max_stale_ms, publish the snapshot marked stale (in-zone queries get
 * SERVFAIL) until it is fresh again; 0 (the default) serves the last good
 * data forever. Call before watch_start(). */
void watch_set_max_stale(struct watch *w, uint64_t max_stale_ms);
/* Starts the watch thread. Returns 0 or -SRV_EIO. */
int watch_start(struct watch *w);
/* Stops the thread (wakes any blocking query) and joins it. */
void watch_stop(struct watch *w);
void watch_free(struct watch *w); /* takes NULL */
/* Hands a new zone configuration to the watch (reload): TTLs, negative
 * TTL, only-passing, weight scale, per-service TTLs. Copied (svc_ttls
 * too); the watch thread refetches and recompiles every service under it,
 * the old forms serving until then. The apex must not change. Safe from
 * any thread. */
void watch_set_zone_cfg(struct watch *w, const struct zone_cfg *zc);
/* A consistent copy of the status; safe from any thread, lock-free (a
 * seqlock: the watch thread is the only writer), so the query path may
 * call it. */
void watch_get_status(struct watch *w, struct watch_status *st);
/* Age in ms of the data served, as of now: 0 while current, UINT64_MAX
 * before the first sync. */
uint64_t watch_status_data_age_ms(const struct watch_status *st, uint64_t now);

#endif
