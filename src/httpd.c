/* SPDX-License-Identifier: MIT
 * httpd.c -- /metrics, /health and /ready over HTTP, with libmicrohttpd.
 * Owns:    the listening socket (bound by httpd_open(), before any thread
 *          exists, like the DNS sockets), the MHD daemon and its internal
 *          polling thread, and the three replies.
 * Borrows: cfg and the watch, until httpd_stop().
 * Never:   DNS, Consul traffic. libmicrohttpd never leaves this file.
 * Start reading at handle().
 *
 * Every reply is built on the HTTP thread from lock-free reads: metrics_read()
 * (the registry's mutex, never taken by counting threads) and
 * watch_get_status() (a seqlock). Nothing here can slow a DNS answer. */
#include "config_feat.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "err.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define HTTPD_CONN_MAX 64u	/* scrapers and probes are few */
#define HTTPD_TIMEOUT_S 10u	/* an idle or slow client is dropped */
#define RENDER_FIRST 16384u	/* /metrics is ~8 KB; grown when needed */

struct httpd {
	const struct config *cfg; /* borrowed */
	struct watch *w;	  /* borrowed */
	int fd;			  /* owned until MHD takes it */
	struct MHD_Daemon *d;
	struct log_ratelimit rl; /* MHD's own messages */
};

/* ---- the rules ----------------------------------------------------------- */

bool
httpd_ready(const struct watch_status *st, uint64_t max_stale_ms, uint64_t now,
	    const char *consul, char *why, size_t len)
{
	if (!st->synced) {
		snprintf(why, len, "not ready: no complete sync with Consul at "
			 "%s yet (%s)\n", consul ? consul : "?",
			 st->connected ? "fetching" : "not reachable");
		return false;
	}
	uint64_t age = watch_status_data_age_ms(st, now);
	if (max_stale_ms != 0 && age > max_stale_ms) {
		snprintf(why, len, "not ready: data is %" PRIu64 ".%03" PRIu64
			 "s old, older than --max-stale %" PRIu64 ".%03" PRIu64
			 "s (Consul at %s %s)\n", age / 1000, age % 1000,
			 max_stale_ms / 1000, max_stale_ms % 1000,
			 consul ? consul : "?",
			 st->connected ? "failing" : "not reachable");
		return false;
	}
	snprintf(why, len, "ready\n");
	return true;
}

void
httpd_gauges(const struct watch_status *st, uint64_t now, double g[])
{
	uint64_t age = watch_status_data_age_ms(st, now);

	g[MG_SYNCED] = st->synced;
	g[MG_CONSUL_CONNECTED] = st->connected;
	g[MG_LAST_SYNC_AGE] =
	    st->last_sync_ms == 0
		? -1.0
		: (double)(now > st->last_sync_ms ? now - st->last_sync_ms : 0) /
		      1000.0;
	g[MG_DATA_AGE] = age == UINT64_MAX ? -1.0 : (double)age / 1000.0;
	g[MG_CONSUL_INDEX] = (double)st->catalog_index;
	g[MG_SERVICES] = st->services;
	g[MG_INSTANCES] = st->instances;
	g[MG_WATCHES_OPEN] = st->watches;
	g[MG_WATCHES_MAX] = st->max_watches;
	g[MG_SERIAL] = st->serial;
}

/* ---- replies ------------------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
      const char *type)
{
	/* body: new, freed by MHD after sending. */
	struct MHD_Response *rsp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (rsp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return rc;
}

static enum MHD_Result
text(struct MHD_Connection *conn, unsigned status, const char *s)
{
	return reply(conn, status, xstrdup(s), strlen(s),
		     "text/plain; charset=utf-8");
}

static enum MHD_Result
metrics_page(struct httpd *h, struct MHD_Connection *conn)
{
	struct metrics_sum sum;
	struct watch_status st;
	double g[MG_COUNT];
	size_t cap = RENDER_FIRST, len;
	char *buf;

	metrics_read(&sum);
	watch_get_status(h->w, &st);
	httpd_gauges(&st, now_ms(), g);
	buf = xmalloc(cap);
	len = metrics_render(buf, cap, &sum, g);
	if (len >= cap) {
		cap = len + 1;
		buf = xrealloc(buf, cap);
		len = metrics_render(buf, cap, &sum, g);
	}
	return reply(conn, MHD_HTTP_OK, buf, len,
		     "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	char why[512];

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method not allowed: use GET\n");
	if (strcmp(url, "/metrics") == 0)
		return metrics_page(h, conn);
	if (strcmp(url, "/health") == 0)
		return text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/ready") == 0) {
		struct watch_status st;
		watch_get_status(h->w, &st);
		bool ok = httpd_ready(&st, h->cfg->max_stale_ms, now_ms(),
				      h->cfg->consul.addr_text, why,
				      sizeof(why));
		return text(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			    why);
	}
	return text(conn, MHD_HTTP_NOT_FOUND,
		    "not found: try /metrics, /health or /ready\n");
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* MHD's own messages (a client that broke the protocol, out of sockets),
 * into our log, rate-limited: a client must not be able to flood it. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (log_ratelimit_ok(&h->rl, NULL))
		log_warnx("httpd: libmicrohttpd, %s", msg);
}
#pragma GCC diagnostic pop

/* ---- life cycle ------------------------------------------------------------ */

struct httpd *
httpd_open(const struct config *cfg)
{
	const struct listen_addr *la = &cfg->http_listen;
	struct httpd *h;
	int one = 1, fd;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("httpd: socket for %s", la->text);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (la->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) != 0) {
		int err = errno;
		log_msg(LOG_LVL_ERROR, "httpd: cannot bind TCP %s (%s): %s; "
			"choose another address with --http-listen",
			la->text, strerror(err),
			err == EADDRINUSE ? "another server listens there"
			: err == EACCES	  ? "ports below 1024 need root or "
					    "CAP_NET_BIND_SERVICE"
					  : "check the address");
		close(fd);
		return NULL;
	}
	if (listen(fd, 64) != 0) {
		log_warn("httpd: listen on %s", la->text);
		close(fd);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->cfg = cfg;
	h->fd = fd;
	h->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
	return h;
}

int
httpd_start(struct httpd *h, struct watch *w)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	h->w = w;
	if (h->cfg->http_listen.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_log, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
	    MHD_OPTION_CONNECTION_LIMIT, HTTPD_CONN_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_TIMEOUT_S, MHD_OPTION_END);
	if (h->d == NULL) {
		log_warnx("httpd: %s, libmicrohttpd did not start",
			  h->cfg->http_listen.text);
		return -SRV_EIO;
	}
	h->fd = -1; /* MHD owns it now and closes it on stop */
	log_info("httpd: listening on %s, /metrics /health /ready",
		 h->cfg->http_listen.text);
	return 0;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}
