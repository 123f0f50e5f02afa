/* SPDX-License-Identifier: MIT
 * httpd.h -- metrics and health over HTTP (--http-listen).
 * Owns:    the HTTP listener and its thread (libmicrohttpd, only here),
 *          /metrics (Prometheus text format 0.0.4), /health, /ready.
 * Borrows: the configuration and the watch (for its lock-free status),
 *          from httpd_start() to httpd_stop().
 * Never:   DNS, Consul traffic, counting (metrics.c sums, httpd serves). */
#ifndef SRVSHIM_HTTPD_H
#define SRVSHIM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "watch.h"

struct httpd;

/* Opens and binds cfg->http_listen (so a bind error surfaces before any
 * thread runs). Returns new, or NULL after logging what to do. */
struct httpd *httpd_open(const struct config *cfg);
/* Starts serving (libmicrohttpd's own thread). Returns 0 or -SRV_EIO. */
int httpd_start(struct httpd *h, struct watch *w);
/* Stops the thread, closes the socket and frees h. Takes NULL. */
void httpd_stop(struct httpd *h);

/* The /ready rule: the first complete sync is done and, when max_stale_ms
 * is not 0, the data is not older than that at now. Writes the reply body
 * (one line: "ready", or "not ready: <why>") into why. */
bool httpd_ready(const struct watch_status *st, uint64_t max_stale_ms,
		 uint64_t now, const char *consul, char *why, size_t len);

/* The gauges /metrics shows from a watch status, as of now. */
void httpd_gauges(const struct watch_status *st, uint64_t now,
		  double gauges[]);

#endif
