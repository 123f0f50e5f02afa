/* SPDX-License-Identifier: MIT
 * http.h -- HTTP requests to Consul, as bytes in and bytes out.
 * Owns:    one libcurl multi handle per struct http, the connection settings
 *          from struct consul_cfg (address, unix socket, token, TLS), the
 *          connection cap, request timeouts and the body size cap.
 * Never:   Consul meaning (paths and bodies are the caller's), JSON, DNS.
 *          curl handles never leave http.c.
 *
 * Threads: one struct http is driven by one thread, which calls everything
 * here except http_wakeup(). Completion callbacks run on that thread, from
 * inside http_run(), and may start or cancel requests. */
#ifndef SRVSHIM_HTTP_H
#define SRVSHIM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define HTTP_BODY_MAX (64u << 20) /* larger replies fail with -SRV_ERANGE */

struct http;	 /* a connection pool and its requests */
struct http_req; /* one request in flight */

/* What a finished request returned. Everything is borrowed for the duration
 * of the callback only. */
struct http_reply {
	int err;	  /* 0: an HTTP reply arrived (any status); else
			   * -SRV_EIO (connect or transfer failed),
			   * -SRV_ETIMEOUT, -SRV_ERANGE (body over the cap) */
	long status;	  /* HTTP status code, 0 when err != 0 */
	bool has_index;	  /* an X-Consul-Index header was present and valid */
	uint64_t index;	  /* its value, 0 when !has_index */
	uint32_t retry_after_s; /* Retry-After in delta-seconds (RFC 9110
				 * 10.2.3; capped at a day), 0 when absent
				 * or an HTTP-date */
	const char *body; /* NUL-terminated; "" when empty or err != 0 */
	size_t body_len;
	const char *errtext; /* for logs: curl's reason when err != 0, else "" */
	uint64_t elapsed_ms; /* from start to completion */
};

/* Called once per request that completes (never for a cancelled one). */
typedef void http_done_fn(void *arg, const struct http_reply *reply);

/* Returns new, with at most max_conns connections open at once (requests
 * beyond that wait in libcurl's queue). Borrows consul until http_free().
 * Initialises libcurl on first use. */
struct http *http_new(const struct consul_cfg *consul, unsigned max_conns);
/* Cancels every request in flight (no callbacks) and frees h. Takes NULL. */
void http_free(struct http *h);

/* Starts GET base_url + path. path starts with "/" and is already escaped
 * (see http_escape()). timeout_ms bounds the whole request, connection
 * included. done(arg, reply) runs from a later http_run().
 * Returns 0 and sets *out (when out is not NULL) to a handle valid until
 * done runs or http_cancel(); or -SRV_EIO, and done never runs. */
int http_get(struct http *h, const char *path, uint64_t timeout_ms,
	     http_done_fn *done, void *arg, struct http_req **out);
/* As http_get(), with method PUT and a JSON body (copied; body may be NULL
 * when len is 0). */
int http_put(struct http *h, const char *path, const char *body, size_t len,
	     uint64_t timeout_ms, http_done_fn *done, void *arg,
	     struct http_req **out);
/* Aborts a request in flight; its callback never runs. Takes NULL. */
void http_cancel(struct http *h, struct http_req *req);
/* Requests in flight (started, not yet completed or cancelled). */
unsigned http_active(const struct http *h);

/* Waits up to wait_ms for network activity (or http_wakeup()), moves the
 * transfers along and runs the callbacks of those that completed.
 * Returns 0, or -SRV_EIO when libcurl itself failed (logged). */
int http_run(struct http *h, uint64_t wait_ms);
/* Makes a blocked http_run() return early. Safe from any thread. */
void http_wakeup(struct http *h);

/* Percent-encodes s for use as one path segment or query value (RFC 3986
 * 2.3: everything but unreserved characters). Returns new; free with
 * free(). */
char *http_escape(const char *s);

#endif
