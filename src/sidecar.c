/* SPDX-License-Identifier: MIT
 * sidecar.c -- keeps one service instance registered in Consul.
 * Owns:    the instance ID (libuuid: the only room that links it), the
 *          sidecar thread and its struct http, the register / heartbeat /
 *          deregister exchanges with the local agent, backoff.
 * Borrows: struct consul_cfg from the caller for the sidecar's life; the
 *          health function's argument.
 * Never:   DNS, processes or signals (tool.c, selfreg.c), JSON (catalog.c
 *          builds the register body), libcurl (http.c).
 * Start reading at loop().
 *
 * The state machine, on the sidecar thread:
 *   REGISTER  PUT /v1/agent/service/register, the service with one TTL check
 *             "service:<id>" whose first status is what the health function
 *             says. 200 -> RUNNING and a heartbeat at once. Anything else
 *             -> retry after a backoff.
 *   RUNNING   every TTL/2, PUT /v1/agent/check/<pass|warn|fail>/service:<id>
 *             ?note=<the health function's note>. 200 -> next in TTL/2.
 *             "Unknown check" (Consul 1.8: 500 "... does not have associated
 *             TTL"; later releases: 404) means the agent lost the instance,
 *             e.g. a dev agent restarted empty -> REGISTER at once, same ID.
 *             Any other failure (agent down, 5xx) -> retry after a backoff;
 *             the check may expire meanwhile, which is the truth.
 *   stop      let what is in flight finish (half the caller's deadline at
 *             most), then deregister if a register was ever sent, retrying
 *             until the deadline.
 * Backoff: from SIDECAR_BACKOFF_MIN_MS doubling up to min(10 s, TTL/2), at
 * least 1 s, with equal jitter; a good reply resets it. It never gives up:
 * an unreachable agent costs a request per backoff, nothing more. */
#include "config_feat.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "catalog.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "sidecar.h"
#include "util.h"

#define NOTE_MAX 1024		/* check output we send, before escaping */
#define BACKOFF_CAP_MS 10000u	/* retries never wait longer than this */
#define REQ_TIMEOUT_MAX_MS 10000u
#define STOP_RETRY_MS 250u	/* between deregister attempts at stop */
#define WAIT_MAX_MS 1000u	/* longest http_run() wait: checks s->stop */

enum state { ST_REGISTER, ST_RUNNING };
enum req_kind { REQ_NONE, REQ_REGISTER, REQ_HEARTBEAT, REQ_DEREGISTER };

struct sidecar {
	const struct consul_cfg *consul; /* borrowed */
	struct http *h; /* owned; driven by the sidecar thread only */
	char *id, *name, *address, *check_id, *check_name;
	char **tags, **meta_keys, **meta_values; /* owned copies */
	size_t tag_count, meta_count;
	uint16_t port;
	uint32_t weight;
	uint64_t ttl_ms, dereg_after_ms, poll_ms;
	sidecar_health_fn *health;
	void *health_arg; /* borrowed */

	pthread_t thread;
	bool started, stopped;
	atomic_bool stop;
	uint64_t stop_deadline_ms; /* set before stop, read by the thread */
	int stop_rc;		   /* set by the thread before it ends */

	/* Below: the sidecar thread's only. */
	enum state state;
	enum req_kind req_kind;
	struct http_req *req;
	bool sent_register;	/* a register request was ever started */
	bool down;		/* the agent is failing us (log once) */
	uint64_t next_ms;	/* next register or heartbeat */
	uint64_t next_poll_ms;	/* next look at the health function */
	unsigned failures;	/* in a row, for the backoff */
	enum sidecar_health sent_health;
	bool sent_any;
	enum sidecar_health req_health; /* what the request in flight says */
	struct rng rng;
};

static const char *const health_verb[] = {"pass", "warn", "fail"};
static const char *const health_word[] = {"passing", "warning", "critical"};

static char **
copy_strv(const char *const *v, size_t count)
{
	char **out = xcalloc(count ? count : 1, sizeof(*out));
	for (size_t i = 0; i < count; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void
free_strv(char **v, size_t count)
{
	for (size_t i = 0; v != NULL && i < count; i++)
		free(v[i]);
	free(v);
}

struct sidecar *
sidecar_new(const struct consul_cfg *consul, const struct sidecar_cfg *cfg)
{
	struct sidecar *s = xcalloc(1, sizeof(*s));
	char uuid[37];
	uuid_t u;
	size_t n;

	/* uuid v4: 122 random bits from getrandom(), so IDs of instances
	 * started in the same second on different hosts do not collide. */
	uuid_generate_random(u);
	uuid_unparse_lower(u, uuid);
	n = strlen(cfg->name) + 1 + sizeof(uuid);
	s->id = xmalloc(n);
	snprintf(s->id, n, "%s-%s", cfg->name, uuid);
	n = strlen("service:") + strlen(s->id) + 1;
	s->check_id = xmalloc(n);
	snprintf(s->check_id, n, "service:%s", s->id);

	s->consul = consul;
	s->name = xstrdup(cfg->name);
	s->address = cfg->address && cfg->address[0] ? xstrdup(cfg->address)
						       : NULL;
	s->check_name = xstrdup(cfg->check_name ? cfg->check_name
						: "srvshim sidecar");
	s->tags = copy_strv(cfg->tags, cfg->tag_count);
	s->tag_count = cfg->tag_count;
	s->meta_keys = copy_strv(cfg->meta_keys, cfg->meta_count);
	s->meta_values = copy_strv(cfg->meta_values, cfg->meta_count);
	s->meta_count = cfg->meta_count;
	s->weight = cfg->weight;
	s->ttl_ms = MAX(cfg->ttl_ms, 1000);
	s->dereg_after_ms = cfg->deregister_after_ms;
	s->poll_ms = cfg->health_poll_ms;
	s->health = cfg->health;
	s->health_arg = cfg->health_arg;
	s->port = cfg->port;
	atomic_init(&s->stop, false);
	return s;
}

const char *
sidecar_id(const struct sidecar *s)
{
	return s->id;
}

uint64_t
sidecar_backoff_ms(unsigned attempt, uint64_t cap_ms, struct rng *r)
{
	uint64_t b = SIDECAR_BACKOFF_MIN_MS;

	cap_ms = MAX(cap_ms, SIDECAR_BACKOFF_MIN_MS);
	while (attempt-- > 0 && b < cap_ms)
		b *= 2;
	b = MIN(b, cap_ms);
	return b / 2 + rng_below(r, (uint32_t)(b / 2 + 1));
}

static uint64_t
backoff_cap(const struct sidecar *s)
{
	return MIN(BACKOFF_CAP_MS, MAX(1000, s->ttl_ms / 2));
}

static uint64_t
req_timeout(const struct sidecar *s)
{
	return MIN(REQ_TIMEOUT_MAX_MS, MAX(1000, s->ttl_ms / 2));
}

static enum sidecar_health
ask_health(struct sidecar *s, char *note, size_t len)
{
	enum sidecar_health hs;

	if (s->health == NULL) {
		snprintf(note, len, "%s: alive, pid %ld", s->check_name,
			 (long)getpid());
		return SIDECAR_PASS;
	}
	note[0] = '\0';
	hs = s->health(s->health_arg, note, len);
	note[len - 1] = '\0';
	return hs <= SIDECAR_FAIL ? hs : SIDECAR_FAIL;
}

/* A short, single-line excerpt of a reply for logs. */
static void
reply_detail(const struct http_reply *rep, char *out, size_t len)
{
	size_t i, n;

	if (rep->err != 0) {
		snprintf(out, len, "%s", rep->errtext);
		return;
	}
	n = (size_t)snprintf(out, len, "http %ld%s", rep->status,
			     rep->body_len ? ": " : "");
	for (i = 0; i < rep->body_len && n + 1 < len && i < 160; i++) {
		char c = rep->body[i];
		out[n++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
	}
	out[MIN(n, len - 1)] = '\0';
	while (n > 0 && n < len && out[n - 1] == ' ')
		out[--n] = '\0';
}

static void
on_failure(struct sidecar *s, const char *what,
	   const struct http_reply *rep)
{
	char detail[256];
	uint64_t delay;

	reply_detail(rep, detail, sizeof(detail));
	delay = sidecar_backoff_ms(s->failures++, backoff_cap(s), &s->rng);
	s->next_ms = now_ms() + delay;
	/* One warning per episode; the retries are debug. A 4xx on register
	 * is a refusal (bad meta, ACL), worth repeating at every attempt. */
	if (!s->down || (rep->err == 0 && rep->status >= 400 &&
			 rep->status < 500 && s->req_kind == REQ_REGISTER)) {
		log_warnx("sidecar: instance %s, %s failed (%s), retrying "
			  "with backoff",
			  s->id, what, detail);
		s->down = true;
	} else {
		log_debug("sidecar: instance %s, %s failed (%s), retry in "
			  "%" PRIu64 " ms",
			  s->id, what, detail, delay);
	}
}

static void
on_success(struct sidecar *s)
{
	if (s->down)
		log_info("sidecar: instance %s, consul %s reachable again",
			 s->id, s->consul->addr_text ? s->consul->addr_text
						     : "");
	s->down = false;
	s->failures = 0;
}

/* Consul 1.8 answers a heartbeat for a check it does not have with 500
 * 'CheckID "service:x" does not have associated TTL'; 1.10 and later with
 * 404 'Unknown check ID "service:x"'. */
static bool
is_unknown_check(const struct http_reply *rep)
{
	if (rep->err != 0)
		return false;
	if (rep->status == 404)
		return true;
	return rep->status == 500 &&
	       (strstr(rep->body, "does not have associated TTL") != NULL ||
		strstr(rep->body, "Unknown check") != NULL);
}

static void
on_reply(void *arg, const struct http_reply *rep)
{
	struct sidecar *s = arg;
	enum req_kind kind = s->req_kind;
	bool ok = rep->err == 0 && rep->status == 200;

	s->req = NULL;
	s->req_kind = REQ_NONE;
	if (kind == REQ_REGISTER) {
		if (!ok) {
			on_failure(s, "register", rep);
			return;
		}
		on_success(s);
		log_info("sidecar: instance %s, registered (service %s, port "
			 "%u, ttl %" PRIu64 " ms, consul %s)",
			 s->id, s->name, (unsigned)s->port, s->ttl_ms,
			 s->consul->addr_text ? s->consul->addr_text : "");
		s->state = ST_RUNNING;
		s->sent_any = false;
		s->next_ms = now_ms(); /* the first heartbeat carries the note */
		return;
	}
	if (kind == REQ_HEARTBEAT) {
		if (is_unknown_check(rep)) {
			log_warnx("sidecar: instance %s, unknown to the agent "
				  "(restarted, or deregistered by someone), "
				  "registering again",
				  s->id);
			on_success(s);
			s->state = ST_REGISTER;
			s->next_ms = now_ms();
			return;
		}
		if (!ok) {
			on_failure(s, "heartbeat", rep);
			return;
		}
		on_success(s);
		if (!s->sent_any || s->sent_health != s->req_health)
			log_info("sidecar: instance %s, check %s", s->id,
				 health_word[s->req_health]);
		s->sent_any = true;
		s->sent_health = s->req_health;
		s->next_ms = now_ms() + s->ttl_ms / 2;
	}
}

/* Starts the PUT of one request of kind; one that cannot even start is
 * handled as a failed reply (what: the log's word for it). */
static void
start_put(struct sidecar *s, enum req_kind kind, const char *what,
	  const char *path, const char *body, size_t len)
{
	s->req_kind = kind;
	if (http_put(s->h, path, body, len, req_timeout(s), on_reply, s,
		     &s->req) != 0) {
		struct http_reply rep = {.err = -SRV_EIO,
					 .errtext = "request not started",
					 .body = ""};
		s->req = NULL;
		on_failure(s, what, &rep);
		s->req_kind = REQ_NONE;
	}
}

static void
start_register(struct sidecar *s)
{
	char note[NOTE_MAX];
	enum sidecar_health hs = ask_health(s, note, sizeof(note));
	struct catalog_reg r = {
		.id = s->id,
		.name = s->name,
		.address = s->address,
		.port = s->port,
		.tags = (const char *const *)s->tags,
		.tag_count = s->tag_count,
		.meta_keys = (const char *const *)s->meta_keys,
		.meta_values = (const char *const *)s->meta_values,
		.meta_count = s->meta_count,
		.weight_passing = s->weight,
		.weight_warning = 1,
		.check_id = s->check_id,
		.check_name = s->check_name,
		.check_status = health_word[hs],
		.ttl_ms = s->ttl_ms,
		.deregister_after_ms = s->dereg_after_ms,
	};
	char *body = catalog_register_body(&r);

	s->sent_register = true;
	start_put(s, REQ_REGISTER, "register", "/v1/agent/service/register",
		  body, strlen(body));
	free(body);
}

static void
start_heartbeat(struct sidecar *s)
{
	char note[NOTE_MAX];
	enum sidecar_health hs = ask_health(s, note, sizeof(note));
	char *id = http_escape(s->check_id), *enote = http_escape(note);
	size_t n = strlen(id) + strlen(enote) + 64;
	char *path = xmalloc(n);

	snprintf(path, n, "/v1/agent/check/%s/%s?note=%s", health_verb[hs],
		 id, enote);
	s->req_health = hs;
	start_put(s, REQ_HEARTBEAT, "heartbeat", path, NULL, 0);
	free(path);
	free(enote);
	free(id);
}

/* Between heartbeats: a status change goes out at once. */
static void
poll_health(struct sidecar *s, uint64_t now)
{
	char note[NOTE_MAX];

	if (s->poll_ms == 0 || now < s->next_poll_ms)
		return;
	s->next_poll_ms = now + s->poll_ms;
	if (s->state == ST_RUNNING && s->sent_any && s->failures == 0 &&
	    ask_health(s, note, sizeof(note)) != s->sent_health)
		s->next_ms = now;
}

static void
on_dereg_reply(void *arg, const struct http_reply *rep)
{
	struct sidecar *s = arg;
	char detail[256];

	s->req = NULL;
	s->req_kind = REQ_NONE;
	if (rep->err == 0 && rep->status == 200) {
		s->stop_rc = 0;
		return;
	}
	reply_detail(rep, detail, sizeof(detail));
	log_warnx("sidecar: instance %s, deregister failed (%s)", s->id,
		  detail);
	s->stop_rc = rep->err != 0 ? -SRV_ETIMEOUT : -SRV_EPROTO;
}

/* At stop: one deregister after another until one succeeds or the
 * deadline passes. */
static void
deregister(struct sidecar *s)
{
	char *id = http_escape(s->id);
	size_t n = strlen(id) + 40;
	char *path = xmalloc(n);

	snprintf(path, n, "/v1/agent/service/deregister/%s", id);
	s->stop_rc = -SRV_ETIMEOUT;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= s->stop_deadline_ms)
			break;
		s->req_kind = REQ_DEREGISTER;
		if (http_put(s->h, path, NULL, 0, s->stop_deadline_ms - now,
			     on_dereg_reply, s, &s->req) != 0) {
			s->req = NULL;
			s->req_kind = REQ_NONE;
			break;
		}
		while (s->req != NULL)
			http_run(s->h, WAIT_MAX_MS);
		if (s->stop_rc == 0)
			break;
		now = now_ms();
		if (now + STOP_RETRY_MS >= s->stop_deadline_ms)
			break;
		struct timespec ts = {0, (long)STOP_RETRY_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (s->stop_rc == 0)
		log_info("sidecar: instance %s, deregistered", s->id);
	else
		log_warnx("sidecar: instance %s, not deregistered before the "
			  "deadline; its check expires after %" PRIu64 " ms",
			  s->id, s->ttl_ms);
	free(path);
	free(id);
}

static void *
loop(void *arg)
{
	struct sidecar *s = arg;

	rng_seed(&s->rng);
	s->state = ST_REGISTER;
	s->next_ms = now_ms();
	while (!atomic_load(&s->stop)) {
		uint64_t now = now_ms(), wait = WAIT_MAX_MS;

		if (s->req == NULL) {
			poll_health(s, now);
			if (now >= s->next_ms) {
				if (s->state == ST_REGISTER)
					start_register(s);
				else
					start_heartbeat(s);
			}
		}
		if (s->req == NULL) {
			uint64_t next = s->next_ms;
			if (s->poll_ms != 0)
				next = MIN(next, s->next_poll_ms);
			wait = next > now ? MIN(next - now, WAIT_MAX_MS) : 0;
		}
		http_run(s->h, wait);
	}

	/* A request in flight may already be with the agent, and cancelling
	 * it would not undo it: a register that lands after our deregister
	 * would leave the instance behind. So it gets half of the time left
	 * to finish; only then is it cancelled. */
	{
		uint64_t now = now_ms(), until = now;
		if (s->stop_deadline_ms > now)
			until = now + (s->stop_deadline_ms - now) / 2;
		while (s->req != NULL && (now = now_ms()) < until)
			http_run(s->h, MIN(until - now, WAIT_MAX_MS));
	}
	if (s->req != NULL) {
		http_cancel(s->h, s->req);
		s->req = NULL;
	}
	s->stop_rc = 0;
	if (s->sent_register)
		deregister(s);
	return NULL;
}

int
sidecar_start(struct sidecar *s)
{
	/* Two connections: a heartbeat and a deregister never overlap, but
	 * a cancelled request's connection may linger a moment. */
	s->h = http_new(s->consul, 2);
	if (pthread_create(&s->thread, NULL, loop, s) != 0) {
		log_warn("sidecar: instance %s, cannot start thread", s->id);
		http_free(s->h);
		s->h = NULL;
		return -SRV_EIO;
	}
	s->started = true;
	return 0;
}

int
sidecar_stop(struct sidecar *s, uint64_t timeout_ms)
{
	if (!s->started || s->stopped)
		return 0;
	s->stop_deadline_ms = now_ms() + timeout_ms;
	atomic_store(&s->stop, true);
	http_wakeup(s->h);
	pthread_join(s->thread, NULL);
	http_free(s->h);
	s->h = NULL;
	s->stopped = true;
	return s->stop_rc;
}

void
sidecar_free(struct sidecar *s)
{
	if (s == NULL)
		return;
	if (s->started && !s->stopped)
		sidecar_stop(s, 5000);
	free_strv(s->tags, s->tag_count);
	free_strv(s->meta_keys, s->meta_count);
	free_strv(s->meta_values, s->meta_count);
	free(s->id);
	free(s->name);
	free(s->address);
	free(s->check_id);
	free(s->check_name);
	free(s);
}
