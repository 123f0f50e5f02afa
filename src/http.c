/* SPDX-License-Identifier: MIT
 * http.c -- a small wrapper over the libcurl multi interface for Consul.
 * Owns:    the multi handle, one easy handle per request, reply buffers
 *          (capped at HTTP_BODY_MAX), the X-Consul-Index header value.
 * Borrows: struct consul_cfg from the caller, for the life of struct http.
 * Never:   Consul meaning, JSON, DNS; the token is never logged.
 * Start reading at http_get(), then http_run(). */
#include "config_feat.h"

#include <assert.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 10000u /* a Consul agent is local or near */
#define INDEX_HEADER "x-consul-index:"
#define RETRY_HEADER "retry-after:"

struct http_req {
	struct http *h;
	CURL *easy;
	http_done_fn *done;
	void *arg;
	char *buf; /* the body, NUL-terminated once complete; owned */
	size_t len, cap;
	bool too_big;
	bool has_index;
	uint64_t index;
	uint32_t retry_after_s;
	uint64_t started_ms;
	struct http_req *prev, *next; /* h->reqs: every request in flight */
	char errbuf[CURL_ERROR_SIZE];
};

struct http {
	CURLM *multi;
	const struct consul_cfg *consul; /* borrowed */
	struct curl_slist *hdr_get;	 /* token, if any; owned */
	struct curl_slist *hdr_put;	 /* token, content type, no Expect */
	struct http_req *reqs;
	unsigned active;
};

/* curl_global_init() and _cleanup() are process-wide: count the users so the
 * daemon and a test can each create and free struct http freely. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_users;

/* Debian's libcurl is built with libssh2 (scp/sftp), and curl_global_init()
 * calls libssh2_init(0), which initialises all of OpenSSL's algorithms:
 * about 1.5 MiB of libcrypto pages made resident, in a process that never
 * speaks SSH. libssh2 initialises its crypto only on the first of its
 * reference-counted init calls, so a first call with LIBSSH2_INIT_NO_CRYPTO
 * (0x0001) makes curl's call a no-op. Found through the symbol table of the
 * libraries already loaded: a libcurl without libssh2 skips this. Once per
 * process (the reference it takes is never dropped: libssh2 then has nothing
 * to free). */
static void
libssh2_skip_crypto(void)
{
	static bool done;
	int (*ssh2_init)(int);

	if (done)
		return;
	done = true;
	*(void **)&ssh2_init = dlsym(RTLD_DEFAULT, "libssh2_init");
	if (ssh2_init != NULL)
		(void)ssh2_init(0x0001);
}

static void
global_ref(void)
{
	pthread_mutex_lock(&global_lock);
	libssh2_skip_crypto();
	if (global_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("http: libcurl, initialisation failed");
	pthread_mutex_unlock(&global_lock);
}

static void
global_unref(void)
{
	pthread_mutex_lock(&global_lock);
	if (--global_users == 0)
		curl_global_cleanup();
	pthread_mutex_unlock(&global_lock);
}

static struct curl_slist *
slist_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);
	if (l == NULL)
		fatalx("http: header list, out of memory");
	return l;
}

struct http *
http_new(const struct consul_cfg *consul, unsigned max_conns)
{
	struct http *h = xcalloc(1, sizeof(*h));
	long conns = max_conns ? (long)max_conns : 1;

	global_ref();
	h->consul = consul;
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		fatalx("http: libcurl, multi handle creation failed");
	/* The cap keeps this process under Consul's per-client-IP connection
	 * limit (limits.http_max_conns_per_client, 200 by default): requests
	 * beyond it wait in libcurl's queue rather than open a connection.
	 * MAXCONNECTS keeps as many idle connections for reuse. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

	if (consul->token != NULL && consul->token[0] != '\0') {
		char *line;
		size_t n;

		/* A line break would let the token inject headers. */
		if (strpbrk(consul->token, "\r\n") != NULL)
			fatalx("http: consul token, invalid (contains a line "
			       "break)");
		n = strlen("X-Consul-Token: ") + strlen(consul->token) + 1;
		line = xmalloc(n);
		snprintf(line, n, "X-Consul-Token: %s", consul->token);
		h->hdr_get = slist_add(h->hdr_get, line);
		h->hdr_put = slist_add(h->hdr_put, line);
		explicit_bzero(line, n);
		free(line);
	}
	h->hdr_put = slist_add(h->hdr_put, "Content-Type: application/json");
	h->hdr_put = slist_add(h->hdr_put, "Expect:");
	return h;
}

static void
req_free(struct http_req *r)
{
	curl_easy_cleanup(r->easy);
	free(r->buf);
	free(r);
}

static void
req_unlink(struct http *h, struct http_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	curl_multi_remove_handle(h->multi, r->easy);
	h->active--;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->reqs != NULL)
		http_cancel(h, h->reqs);
	curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->hdr_get);
	curl_slist_free_all(h->hdr_put);
	free(h);
	global_unref();
}

/* If the header line data[0..len) is "name: <digits>" (any case, blanks
 * around the value), stores the value in *v and returns true; any other
 * value (a date, trailing text, too many digits) is not a number. */
static bool
header_number(const char *data, size_t len, const char *name, size_t name_len,
	      unsigned long long *v)
{
	char val[24], *end;
	size_t i, n = 0;

	if (len <= name_len || strncasecmp(data, name, name_len) != 0)
		return false;
	for (i = name_len; i < len && (data[i] == ' ' || data[i] == '\t'); i++)
		;
	while (i < len && data[i] >= '0' && data[i] <= '9' &&
	       n < sizeof(val) - 1)
		val[n++] = data[i++];
	val[n] = '\0';
	for (; i < len; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' &&
		    data[i] != '\n')
			return false; /* trailing garbage: not a number */
	if (n == 0)
		return false;
	errno = 0;
	*v = strtoull(val, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Consul's index is a decimal uint64 in X-Consul-Index; anything else there
 * is ignored (has_index stays false) rather than guessed at. Retry-After
 * is read in its delta-seconds form only. */
static size_t
on_header(char *data, size_t size, size_t nitems, void *userdata)
{
	struct http_req *r = userdata;
	size_t len = size * nitems;
	unsigned long long v;

	/* A new status line (after a 100 Continue) starts a new header set. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		r->has_index = false;
		r->index = 0;
		r->retry_after_s = 0;
		return len;
	}
	if (header_number(data, len, INDEX_HEADER, sizeof(INDEX_HEADER) - 1,
			  &v)) {
		r->has_index = true;
		r->index = v;
	} else if (header_number(data, len, RETRY_HEADER,
				 sizeof(RETRY_HEADER) - 1, &v)) {
		r->retry_after_s = (uint32_t)MIN(v, 86400ull);
	}
	return len;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_req *r = userdata;
	size_t len = size * nmemb;

	if (len > HTTP_BODY_MAX - r->len) {
		r->too_big = true;
		return 0; /* makes libcurl fail the transfer */
	}
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + len + 1)
			cap *= 2;
		cap = MIN(cap, (size_t)HTTP_BODY_MAX + 1);
		r->buf = xrealloc(r->buf, cap);
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return len;
}

static void
set_tls(CURL *e, const struct consul_cfg *c)
{
	if (c->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
	if (c->capath != NULL)
		curl_easy_setopt(e, CURLOPT_CAPATH, c->capath);
	if (c->client_cert != NULL)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert);
	if (c->client_key != NULL)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key);
	if (!c->ssl_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static int
start(struct http *h, const char *method, const char *path, const char *body,
      size_t body_len, uint64_t timeout_ms, http_done_fn *done, void *arg,
      struct http_req **out)
{
	const struct consul_cfg *c = h->consul;
	struct http_req *r;
	size_t url_len = strlen(c->base_url) + strlen(path) + 1;
	char *url;
	CURL *e;
	long tmo = (long)MIN(timeout_ms, (uint64_t)LONG_MAX);

	assert(path[0] == '/');
	e = curl_easy_init();
	if (e == NULL) {
		log_warnx("http: request %s, creation failed", path);
		return -SRV_EIO;
	}
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->easy = e;
	r->done = done;
	r->arg = arg;
	r->started_ms = now_ms();

	url = xmalloc(url_len);
	snprintf(url, url_len, "%s%s", c->base_url, path);
	curl_easy_setopt(e, CURLOPT_URL, url); /* libcurl copies it */
	free(url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* HTTP/1.1 only: one blocking query is one connection, so the cap in
	 * http_new() counts exactly what Consul's per-client limit counts. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)MIN((uint64_t)tmo, CONNECT_TIMEOUT_MS));
	/* A blocking query idles for minutes: keepalive probes notice a
	 * peer that vanished without closing the connection. */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* Consul gzips */
	curl_easy_setopt(e, CURLOPT_USERAGENT, "srvshim");
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)HTTP_BODY_MAX);
	if (c->unix_path != NULL)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	set_tls(e, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdr_put);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body_len);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
				 body != NULL ? body : "");
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdr_get);
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}

	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		log_warnx("http: request %s, not started (libcurl refused it)",
			  path);
		req_free(r);
		return -SRV_EIO;
	}
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	h->active++;
	if (out != NULL)
		*out = r;
	return 0;
}

int
http_get(struct http *h, const char *path, uint64_t timeout_ms,
	 http_done_fn *done, void *arg, struct http_req **out)
{
	return start(h, "GET", path, NULL, 0, timeout_ms, done, arg, out);
}

int
http_put(struct http *h, const char *path, const char *body, size_t len,
	 uint64_t timeout_ms, http_done_fn *done, void *arg,
	 struct http_req **out)
{
	return start(h, "PUT", path, body, len, timeout_ms, done, arg, out);
}

void
http_cancel(struct http *h, struct http_req *req)
{
	if (req == NULL)
		return;
	req_unlink(h, req);
	req_free(req);
}

unsigned
http_active(const struct http *h)
{
	return h->active;
}

static void
finish(struct http *h, struct http_req *r, CURLcode rc)
{
	struct http_reply rep;

	memset(&rep, 0, sizeof(rep));
	req_unlink(h, r);
	rep.elapsed_ms = now_ms() - r->started_ms;
	rep.errtext = "";
	rep.body = "";
	if (rc == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		rep.status = status;
		rep.has_index = r->has_index;
		rep.index = r->has_index ? r->index : 0;
		rep.retry_after_s = r->retry_after_s;
		if (r->buf != NULL) {
			r->buf[r->len] = '\0';
			rep.body = r->buf;
			rep.body_len = r->len;
		}
	} else {
		if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			rep.err = -SRV_ERANGE;
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			rep.err = -SRV_ETIMEOUT;
		else
			rep.err = -SRV_EIO;
		rep.errtext = r->errbuf[0] != '\0' ? r->errbuf
						   : curl_easy_strerror(rc);
		if (rep.err == -SRV_ERANGE)
			rep.errtext = "reply body over the size cap";
	}
	r->done(r->arg, &rep);
	req_free(r);
}

int
http_run(struct http *h, uint64_t wait_ms)
{
	int running = 0, left = 0;
	CURLMcode mc;
	CURLMsg *msg;

	mc = curl_multi_poll(h->multi, NULL, 0,
			     (int)MIN(wait_ms, (uint64_t)INT_MAX), NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(h->multi, &running);
	if (mc != CURLM_OK) {
		log_warnx("http: multi handle, poll failed (%s)",
			  curl_multi_strerror(mc));
		return -SRV_EIO;
	}
	/* A callback may add or cancel requests; libcurl drops the pending
	 * message of a handle that is removed, so the loop stays valid. */
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_req *r = NULL;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		finish(h, r, rc);
	}
	return 0;
}

void
http_wakeup(struct http *h)
{
	curl_multi_wakeup(h->multi);
}

char *
http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *p = out;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}
