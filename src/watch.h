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
/* A consistent copy of the status; safe from any thread. */
void watch_get_status(struct watch *w, struct watch_status *st);

#endif
