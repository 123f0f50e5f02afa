/* SPDX-License-Identifier: MIT
 * selfreg.h -- srvshimd registering itself in Consul (--register-self).
 * Owns:    the daemon's own instance: a sidecar (sidecar.c) whose TTL check
 *          passes only while the Consul watch is connected and synced.
 * Never:   DNS, the watch's internals (it reads watch_get_status() only). */
#ifndef SRVSHIM_SELFREG_H
#define SRVSHIM_SELFREG_H

#include "config.h"
#include "watch.h"

struct selfreg;

/* Starts registering srvshimd as service cfg->register_self, with the
 * address and port of the first --listen (a wildcard address leaves the
 * address to Consul: the node's). Returns new, or NULL when
 * --register-self is not set. Borrows cfg and w until selfreg_stop(). */
struct selfreg *selfreg_start(const struct config *cfg, struct watch *w);
/* Deregisters (waiting a few seconds at most) and frees. Takes NULL. Call
 * before watch_free(). */
void selfreg_stop(struct selfreg *r);

#endif
