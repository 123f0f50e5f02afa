/* SPDX-License-Identifier: MIT
 * probe.h -- is the wrapped service answering? --check-http, --check-tcp.
 * Owns:    one probe thread that tries the service every interval and keeps
 *          the last result: an HTTP GET through its own struct http (http.c
 *          does libcurl) or a TCP connect with a timeout.
 * Never:   Consul (sidecar.c reports the result), DNS, processes. */
#ifndef SRVSHIM_PROBE_H
#define SRVSHIM_PROBE_H

#include <stddef.h>
#include <stdint.h>

enum probe_kind { PROBE_HTTP, PROBE_TCP };

enum probe_status {
	PROBE_PENDING = 0, /* no result yet */
	PROBE_PASS,	   /* HTTP 2xx; TCP connected */
	PROBE_WARN,	   /* HTTP 429 Too Many Requests */
	PROBE_FAIL,	   /* anything else; the text says what */
};

struct probe;

/* Checks target (a http:// or https:// URL; HOST:PORT or [V6]:PORT) and
 * returns new, or NULL with a message in err. Nothing runs before
 * probe_start(). */
struct probe *probe_new(enum probe_kind kind, const char *target,
			uint64_t interval_ms, uint64_t timeout_ms, char *err,
			size_t errlen);
/* Starts the thread; the first try is immediate. Returns 0 or -SRV_EIO. */
int probe_start(struct probe *p);
/* The last result, and its one-line description in text (at most len
 * bytes), e.g. "HTTP GET http://127.0.0.1:8080/health: 500 (boom)".
 * Safe from any thread. */
enum probe_status probe_result(struct probe *p, char *text, size_t len);
/* Stops and joins the thread, then frees p. Takes NULL. */
void probe_free(struct probe *p);

#endif
