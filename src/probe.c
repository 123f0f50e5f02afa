/* SPDX-License-Identifier: MIT
 * probe.c -- --check-http and --check-tcp: tries the wrapped service every
 *            interval from a thread of its own, keeps the last result.
 * Owns:    the probe thread, its struct http (HTTP probes), its sockets
 *          (TCP probes), the last result under a mutex.
 * Never:   Consul, DNS, libcurl directly (http.c), processes.
 * Start reading at loop().
 *
 * An HTTP probe reuses http.c, which talks to a base URL plus a path: the
 * probe's URL is split into the two, and its struct consul_cfg carries no
 * token and no client certificate, so nothing meant for Consul ever goes
 * to the probed service. */
#include "config_feat.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "probe.h"
#include "util.h"

#define TEXT_MAX 512
#define BODY_EXCERPT 120

struct probe {
	enum probe_kind kind;
	char *target;		  /* as given, for the result text */
	uint64_t interval_ms, timeout_ms;
	struct consul_cfg base;	  /* HTTP: scheme://authority only */
	char *path;		  /* HTTP: the rest, starting with '/' */
	char host[256], port[8];  /* TCP */
	struct http *h;		  /* HTTP; driven by the probe thread */

	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;
	bool stop;
	enum probe_status status;
	char text[TEXT_MAX];

	/* the HTTP request in flight, probe thread only */
	bool done;
	enum probe_status got;
	char got_text[TEXT_MAX];
};

static int
split_url(struct probe *p, const char *url, char *err, size_t errlen)
{
	const char *rest, *slash;
	size_t n;

	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else {
		snprintf(err, errlen, "--check-http %s: use an http:// or "
			 "https:// URL", url);
		return -1;
	}
	n = strcspn(rest, "/?#");
	if (n == 0) {
		snprintf(err, errlen, "--check-http %s: no host", url);
		return -1;
	}
	slash = rest + n;
	memset(&p->base, 0, sizeof(p->base));
	p->base.base_url = xstrndup(url, (size_t)(slash - url));
	p->base.addr_text = xstrdup(url);
	p->base.ssl_verify = true;
	if (*slash == '/') {
		p->path = xstrdup(slash);
	} else {
		size_t len = strlen(slash) + 2;
		p->path = xmalloc(len);
		snprintf(p->path, len, "/%s", slash);
	}
	/* A fragment is the client's business, never sent. */
	p->path[strcspn(p->path, "#")] = '\0';
	return 0;
}

static int
split_hostport(struct probe *p, const char *s, char *err, size_t errlen)
{
	const char *colon, *host = s;
	size_t hlen;
	uint64_t port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(p->host) ||
	    parse_uint(colon + 1, 1, 65535, &port) != 0)
		goto bad;
	memcpy(p->host, host, hlen);
	p->host[hlen] = '\0';
	snprintf(p->port, sizeof(p->port), "%u", (unsigned)port);
	return 0;
bad:
	snprintf(err, errlen, "--check-tcp %s: use HOST:PORT or [V6]:PORT "
		 "with a port in 1..65535", s);
	return -1;
}

struct probe *
probe_new(enum probe_kind kind, const char *target, uint64_t interval_ms,
	  uint64_t timeout_ms, char *err, size_t errlen)
{
	struct probe *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int rc;

	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->kind = kind;
	p->target = xstrdup(target);
	p->interval_ms = MAX(interval_ms, 100);
	p->timeout_ms = MAX(timeout_ms, 100);
	rc = kind == PROBE_HTTP ? split_url(p, target, err, errlen)
				: split_hostport(p, target, err, errlen);
	if (rc != 0) {
		probe_free(p);
		return NULL;
	}
	p->status = PROBE_PENDING;
	snprintf(p->text, sizeof(p->text), "waiting for the first probe of %s",
		 target);
	return p;
}

/* ---- HTTP ------------------------------------------------------------- */

static void
on_http(void *arg, const struct http_reply *rep)
{
	struct probe *p = arg;
	char body[BODY_EXCERPT + 1];
	size_t i, n = 0;

	p->done = true;
	if (rep->err != 0) {
		p->got = PROBE_FAIL;
		snprintf(p->got_text, sizeof(p->got_text), "HTTP GET %s: %s",
			 p->target, rep->errtext);
		return;
	}
	for (i = 0; i < rep->body_len && n < BODY_EXCERPT; i++) {
		char c = rep->body[i];
		body[n++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
	}
	while (n > 0 && body[n - 1] == ' ')
		n--;
	body[n] = '\0';
	/* As Consul's own HTTP check: 2xx passes, 429 warns, all else fails. */
	if (rep->status >= 200 && rep->status <= 299)
		p->got = PROBE_PASS;
	else if (rep->status == 429)
		p->got = PROBE_WARN;
	else
		p->got = PROBE_FAIL;
	snprintf(p->got_text, sizeof(p->got_text), "HTTP GET %s: %ld%s%s%s",
		 p->target, rep->status, n ? " (" : "", body, n ? ")" : "");
}

static enum probe_status
try_http(struct probe *p, char *text, size_t len)
{
	p->done = false;
	if (http_get(p->h, p->path, p->timeout_ms, on_http, p, NULL) != 0) {
		snprintf(text, len, "HTTP GET %s: request not started",
			 p->target);
		return PROBE_FAIL;
	}
	while (!p->done)
		http_run(p->h, 1000);
	snprintf(text, len, "%s", p->got_text);
	return p->got;
}

/* ---- TCP -------------------------------------------------------------- */

static int
connect_one(const struct addrinfo *ai, uint64_t timeout_ms)
{
	struct pollfd pfd;
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
					   SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return errno;
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc != 0 && errno != EINPROGRESS) {
		soerr = errno;
		close(fd);
		return soerr;
	}
	if (rc != 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, (int)MIN(timeout_ms, 60000));
		if (rc == 0)
			soerr = ETIMEDOUT;
		else if (rc < 0)
			soerr = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
	}
	close(fd);
	return soerr;
}

static enum probe_status
try_tcp(struct probe *p, char *text, size_t len)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	int rc, soerr = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(p->host, p->port, &hints, &res);
	if (rc != 0) {
		snprintf(text, len, "TCP connect %s: %s", p->target,
			 gai_strerror(rc));
		return PROBE_FAIL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		soerr = connect_one(ai, p->timeout_ms);
		if (soerr == 0)
			break;
	}
	freeaddrinfo(res);
	if (soerr != 0) {
		snprintf(text, len, "TCP connect %s: %s", p->target,
			 strerror(soerr));
		return PROBE_FAIL;
	}
	snprintf(text, len, "TCP connect %s: success", p->target);
	return PROBE_PASS;
}

/* ---- the thread ------------------------------------------------------- */

static void *
loop(void *arg)
{
	struct probe *p = arg;
	char text[TEXT_MAX];

	for (;;) {
		enum probe_status st;
		uint64_t next = now_ms() + p->interval_ms;
		struct timespec ts;

		st = p->kind == PROBE_HTTP ? try_http(p, text, sizeof(text))
					   : try_tcp(p, text, sizeof(text));
		pthread_mutex_lock(&p->lock);
		if (st != p->status)
			log_info("probe: %s%s", text,
				 st == PROBE_PASS ? ", passing" : "");
		p->status = st;
		snprintf(p->text, sizeof(p->text), "%s", text);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(p->interval_ms / 1000);
		ts.tv_nsec += (long)(p->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!p->stop && now_ms() < next)
			if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) != 0)
				break;
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
}

int
probe_start(struct probe *p)
{
	if (p->kind == PROBE_HTTP)
		p->h = http_new(&p->base, 1);
	if (pthread_create(&p->thread, NULL, loop, p) != 0) {
		log_warn("probe: %s, cannot start thread", p->target);
		return -SRV_EIO;
	}
	p->started = true;
	return 0;
}

enum probe_status
probe_result(struct probe *p, char *text, size_t len)
{
	enum probe_status st;

	pthread_mutex_lock(&p->lock);
	st = p->status;
	snprintf(text, len, "%s", p->text);
	pthread_mutex_unlock(&p->lock);
	return st;
}

void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		/* A probe in flight ends by its own timeout at the latest. */
		pthread_join(p->thread, NULL);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	http_free(p->h);
	consul_cfg_fini(&p->base);
	free(p->path);
	free(p->target);
	free(p);
}
