/* SPDX-License-Identifier: MIT
 * watch.c -- keeps the served zone in step with Consul's catalog.
 * Owns:    the watch thread, its struct http, one struct svc per Consul
 *          service (index, backoff, last good compiled form), the SOA
 *          serial, and the status returned by watch_get_status().
 * Borrows: consul_cfg and zone_cfg from main.c for the watch's whole life.
 * Never:   sockets (http.c), JSON (catalog.c), DNS wire (zone.c, wire.c).
 * Start reading at loop(), then schedule().
 *
 * The scheme
 * ----------
 * Endpoints. Every Consul URL we poll is a struct endpoint: at most one
 * request in flight, the X-Consul-Index of its last good reply, the earliest
 * time of its next request, and its backoff. There are three kinds:
 *   - the catalog: a blocking query on /v1/catalog/services, the list of
 *     service names. A name that appears gets a struct svc; one that goes
 *     away is dropped (request cancelled, compiled form released).
 *   - services: /v1/health/service/<svc>, fetched without ?passing, since
 *     zone.c filters health itself (warning instances keep Weights.Warning).
 *   - the change detector: a blocking query on /v1/health/state/any, run
 *     only while some services have no slot (below).
 * All requests carry dc= and stale when configured.
 *
 * Blocking queries (Consul docs, "Blocking Queries"). A request carries
 * index=<last X-Consul-Index>&wait=<wait_ms>ms once an index is known; the
 * first one (index 0) returns at once. The client timeout is wait * 17/16
 * (Consul adds up to wait/16 of jitter) plus TIMEOUT_MARGIN_MS. The index
 * comes only from the X-Consul-Index header. An index that goes backwards
 * resets to 0 (the reply is still used: it is current data); an index
 * below 1 is treated as 1, so a buggy 0 cannot make the next query return
 * at once. A reply whose index did not move is not parsed again, except
 * the catalog's (see "Empty lists").
 *
 * Pacing. Rate limiter: after a reply that did not move the index, an
 * endpoint's next request starts no earlier than RATE_MIN_MS (the change
 * detector: STATES_RATE_MIN_MS) after its previous one started, so an
 * endpoint that returns at once with nothing new costs at most one request
 * per second; after a reply that moved the index the floor is only
 * RATE_CHANGED_MIN_MS, so a second change soon after a first is not held
 * back a whole second (freshness), while an index that moves every few ms
 * in a busy cluster still costs at most 50 requests per second. A changed
 * index is never lost: the next query returns at once. One-shot fetches of
 * slotless services always get the short floor: they start only when
 * marked (by the detector or the sweep, both paced), at most ONESHOT_MAX
 * at a time, so they cannot spin.
 * Backoff: an error (no reply, timeout, HTTP status other than 200
 * -- 429 and 5xx included -- a body over the cap, malformed JSON) doubles
 * the endpoint's backoff from BACKOFF_MIN_MS up to BACKOFF_MAX_MS, and the
 * next attempt waits a random time in [backoff/2, backoff] ("equal
 * jitter", so endpoints that failed together do not retry together). A
 * Retry-After on a 429 or 503 puts a floor under that wait (at most
 * BACKOFF_MAX_MS). One good reply resets it.
 *
 * The cap. At most max_watches services hold a slot: a blocking query of
 * their own. Slots go to services in name order and are sticky; when a
 * slot's service disappears, the first slotless service takes it. With
 * the catalog, the change detector and at most ONESHOT_MAX one-shot
 * fetches, the process opens at most max_watches + 2 + ONESHOT_MAX
 * connections, which is the cap given to http.c (HTTP/1.1, one
 * connection per request), so Consul's per-client limit (200 by default)
 * holds when max_watches <= 194.
 *
 * Services beyond the cap. Slotless services are kept fresh by one-shot
 * (non-blocking) fetches, at most ONESHOT_MAX at a time, of those marked
 * dirty by:
 *   1. the change detector: each reply of /v1/health/state/any becomes one
 *      fingerprint per service and one per node over their checks' IDs,
 *      statuses and ModifyIndexes (catalog_parse_states()). A slotless
 *      service is marked when its own fingerprint moved since the previous
 *      reply, or when a node its last reply placed an instance on gained,
 *      lost or changed a node check (serfHealth, node maintenance). To not
 *      miss a change that lands between a fetch and the detector's first
 *      look, a slotless service is fetched only once its fingerprint is
 *      known from a detector reply (new services take theirs from the last
 *      reply, kept in w->states_last), and a mark that arrives while its
 *      fetch is in flight causes one more fetch.
 *   2. the sweep: an edit that touches no check (a new port, address or
 *      meta on a service without checks) does not move health/state/any in
 *      Consul 1.8, but it does move /v1/catalog/services' index (that index
 *      moves on every registration change, though it does not say whose).
 *      Every SWEEP_STEP_MS the slotless service fetched longest ago is
 *      marked if it was last fetched before the catalog's index last moved,
 *      or REFRESH_MS or more ago. So a check-less edit shows within
 *      count * SWEEP_STEP_MS, every slotless service is refreshed at least
 *      every max(REFRESH_MS, count * SWEEP_STEP_MS), and the sweep never
 *      costs more than 1000 / SWEEP_STEP_MS requests per second.
 *
 * Snapshots. Each service keeps the compiled form (struct zsvc) of its last
 * good reply and a hash of the parsed record; a reply whose record hashes
 * the same is not compiled again. A changed record is compiled, the old
 * zsvc released, and the loop publishes one new snapshot per iteration
 * however many replies completed in it (zone_new_from() over every zsvc,
 * re-indexing only the changed ones, serial + 1; the serial starts at the
 * wall clock in seconds). Nothing is published
 * until the first sync: the service list and every listed service's health
 * fetched once (slotless ones included); that snapshot is marked synced.
 * Services whose names zone.c cannot serve are found at creation (a
 * compile of an empty record yields NULL), never fetched and hold no slot.
 *
 * Errors. A failed or malformed reply never replaces good data: the
 * service keeps serving its last good zsvc. Transport errors, 429 and 5xx
 * start one "consul unreachable" episode (warn once, info on recovery);
 * other failures are logged once per endpoint per episode through a shared
 * rate limiter. Every failure counts in watch_status.errors, and every
 * request's outcome in the metrics (metrics.h, consul_requests_total).
 *
 * Status. The watch thread keeps struct watch_status in w->status and
 * copies it, after each loop iteration and each publish, into a seqlock
 * (w->st_seq, w->st_slot[]) that other threads read without a lock: the DNS
 * workers (CHAOS status.srvshim) and the HTTP thread (/ready, /metrics).
 * "current" means synced and no endpoint in an error episode; current_ms is
 * when that was last true, so the age of the data served is exact to the
 * millisecond when asked, while the status itself is refreshed at least
 * every LOOP_MAX_WAIT_MS.
 *
 * Empty lists. An empty service list while services with instances are
 * being served is suspicious (a token whose policy lost service:read, an
 * agent answering before it has synced, a proxy in the way): applied at
 * once it would turn every name into NXDOMAIN. So it is held, logged, and
 * EMPTY_CONFIRM_MS later one of those services' health endpoint is asked
 * (a plain read). No instances there either: Consul agrees with itself,
 * the list is applied and every service dropped (converging to Consul's
 * truth, as after an agent restarted empty). Instances there: the list
 * contradicts Consul's own health data; it is an error of the catalog
 * endpoint (logged once per episode, backoff, retried as a plain read),
 * and the table stays as it was. The catalog's replies are parsed even
 * when its index did not move: a policy change alters what a token sees
 * without moving the index, so a list confirmed empty comes back with the
 * next reply (at most one wait later).
 *
 * Staleness. The data is fresh while the first sync is done and no
 * endpoint is in an error episode; its age is the time since it was last
 * fresh. With --max-stale, once that age passes the limit the snapshot is
 * republished marked stale (answer.c: in-zone SERVFAIL), and unmarked once
 * every endpoint has had a good reply again; both moves are logged. The
 * query path reads one flag in the snapshot it already holds. An open
 * blocking query counts as fresh: a peer that accepts and never answers
 * is noticed at the request's timeout (wait * 17/16 + TIMEOUT_MARGIN_MS),
 * so --max-stale is only as exact as that for a silent hang. */
#include "config_feat.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "watch.h"

#define DEFAULT_WAIT_MS 300000u	   /* Consul's own default is 5 min */
#define TIMEOUT_MARGIN_MS 15000u   /* beyond wait * 17/16 */
#define ONESHOT_TIMEOUT_MS 30000u  /* requests that do not block */
#define RATE_MIN_MS 1000u	   /* between starts, per endpoint, while
				    * the index does not move */
#define RATE_CHANGED_MIN_MS 20u	   /* ... and after a reply that moved it */
#define CONFIRM_MS 250u		   /* second read after an index reset */
#define STATES_RATE_MIN_MS 2000u   /* the detector's body is cluster-sized */
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 30000u
#define ONESHOT_MAX 4u		   /* slotless fetches in flight */
#define REFRESH_MS 60000u	   /* safety net, per slotless service */
#define SWEEP_STEP_MS 100u	   /* safety net pacing */
#define LOOP_MAX_WAIT_MS 1000u
#define LOG_INTERVAL_MS 10000u
#define EMPTY_CONFIRM_MS 2000u	   /* a suspicious empty service list waits
				    * this long for its confirmation */

/* One polled Consul URL. */
struct endpoint {
	struct http_req *req; /* in flight, or NULL; owned by http.c */
	bool req_blocking;    /* req carries index= and wait= */
	bool resync;	      /* after an error: next request is a plain read,
			       * and its reply is used whatever its index */
	bool ok_once;	      /* one good reply since creation */
	bool failing;	      /* in an error episode */
	bool fail_logged;     /* ... and it was logged */
	uint64_t index;	      /* X-Consul-Index of the last good reply */
	uint64_t started_ms;  /* start of the last request */
	uint64_t next_ms;     /* earliest start of the next one */
	uint64_t backoff_ms;  /* 0 while healthy */
};

struct svc {
	struct watch *w;
	char *name; /* as Consul spells it; owned */
	char *esc;  /* URL-escaped; owned */
	struct endpoint ep;
	struct zsvc *zsvc;  /* last good compiled form (one reference), or NULL */
	uint64_t rec_hash;  /* hash of the record zsvc was compiled from */
	uint64_t last_ok_ms;
	bool unservable;    /* zone.c cannot serve the name: never fetched */
	bool has_slot;	    /* holds one of the max_watches blocking slots */
	bool dirty;	    /* slotless: fetch once more */
	bool req_oneshot;   /* ep.req counts against ONESHOT_MAX */
	bool confirming;    /* a reply with a lower index waits for a second
			     * read before it is believed */
	bool fp_known;	    /* slotless: fp is from a detector reply */
	uint64_t fp;	    /* change detector fingerprint, 0 when no checks */
	char **nodes;	    /* distinct nodes of the last good reply, sorted;
			     * owned */
	size_t node_count;
};

struct watch {
	const struct consul_cfg *consul; /* borrowed */
	const struct zone_cfg *zcfg;	 /* borrowed */
	unsigned max_watches;
	uint64_t wait_ms;
	char *dc_esc; /* escaped datacenter or NULL; owned */
	struct http *http;
	struct rng rng;
	pthread_t thread;
	bool started;
	atomic_bool stop;

	struct endpoint catalog;
	struct endpoint states;
	struct svc_state *states_last; /* last detector reply, sorted; owned */
	size_t states_count;
	bool states_known;	/* states_last is a detector reply */

	struct svc **svcs; /* sorted by strcmp on name; each owned */
	size_t svc_count;
	unsigned slots_used;
	unsigned oneshots;	/* slotless fetches in flight */
	unsigned blocking;	/* blocking queries in flight */
	uint64_t next_sweep_ms;
	uint64_t catalog_moved_ms; /* the catalog's index last moved */

	bool synced;
	bool changed;		/* a zsvc changed since the last publish */
	unsigned changed_count;
	const struct svc *changed_one; /* for the log line when only one */
	uint32_t serial;
	bool consul_down;
	uint64_t down_errors;
	uint64_t errors;
	uint64_t last_ok_ms;
	struct log_ratelimit rl_fail;

	/* A suspicious empty service list (see "Empty lists" above). */
	bool empty_pending;	 /* one is waiting for confirmation */
	uint64_t empty_index;	 /* its X-Consul-Index */
	uint64_t empty_probe_ms; /* when the probe starts */
	char *probe_name;	 /* the service asked; owned */
	struct http_req *probe;	 /* in flight, or NULL; owned by http.c */

	/* --max-stale (see "Staleness" above). */
	uint64_t max_stale_ms;	 /* 0: off */
	uint64_t fresh_ms;	 /* the data was last fresh then */
	bool stale;		 /* the published snapshot is marked stale */

	struct watch_status status; /* the watch thread's copy */
	atomic_uint_fast64_t st_seq; /* seqlock over st_slot: odd = writing */
	atomic_uint_fast64_t st_slot[13];
	struct metrics_block metrics; /* written by the watch thread only */

	/* Reload: main hands a new zone configuration over (guarded by
	 * reconf_lock); the watch thread adopts it into zcfg_own. */
	pthread_mutex_t reconf_lock;
	bool reconf_pending;
	struct zone_cfg reconf;		  /* svc_ttls: owned copy */
	struct zone_cfg zcfg_own;	  /* svc_ttls: owned copy */
	bool zcfg_owned;
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t
fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
fnv_str(uint64_t h, const char *s)
{
	s = s != NULL ? s : "";
	return fnv(h, s, strlen(s) + 1); /* the NUL separates fields */
}

/* A hash over everything in a record, so a reply that did not change (the
 * index moves for writes that leave it the same, such as an agent's
 * anti-entropy re-sync) is not compiled and published again. */
static uint64_t
record_hash(const struct svc_record *rec)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv(h, &rec->count, sizeof(rec->count));
	for (size_t i = 0; i < rec->count; i++) {
		const struct svc_instance *in = &rec->inst[i];
		uint32_t nums[4] = {in->port, in->weight_passing,
				    in->weight_warning, (uint32_t)in->health};

		h = fnv_str(h, in->id);
		h = fnv_str(h, in->node);
		h = fnv_str(h, in->address);
		h = fnv(h, nums, sizeof(nums));
		h = fnv(h, &in->tag_count, sizeof(in->tag_count));
		for (size_t t = 0; t < in->tag_count; t++)
			h = fnv_str(h, in->tags[t]);
		h = fnv(h, &in->meta_count, sizeof(in->meta_count));
		for (size_t m = 0; m < in->meta_count; m++) {
			h = fnv_str(h, in->meta_keys[m]);
			h = fnv_str(h, in->meta_values[m]);
		}
		h = fnv_str(h, in->check_output);
	}
	return h;
}

/* Copies the first line of an error body for a log line, printable ASCII
 * only (it is Consul's text, e.g. "No cluster leader"). */
static void
body_excerpt(const struct http_reply *rep, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < rep->body_len && n + 1 < size; i++) {
		char c = rep->body[i];
		if (c == '\n' || c == '\r')
			break;
		out[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	out[n] = '\0';
}

/* Builds base[/seg]?index=..&wait=..&stale&dc=.. (each part only when it
 * applies). Returns new; free(). */
static char *
build_path(const struct watch *w, const char *base, const char *seg,
	   uint64_t index)
{
	char q[96];
	size_t len;
	char *p;

	q[0] = '\0';
	if (index > 0)
		snprintf(q, sizeof(q), "&index=%" PRIu64 "&wait=%" PRIu64 "ms",
			 index, w->wait_ms);
	if (w->consul->stale)
		strcat(q, "&stale");
	len = strlen(base) + (seg ? 1 + strlen(seg) : 0) + strlen(q) +
	      (w->dc_esc ? 4 + strlen(w->dc_esc) : 0) + 1;
	p = xmalloc(len);
	snprintf(p, len, "%s%s%s%s%s%s", base, seg ? "/" : "", seg ? seg : "",
		 q, w->dc_esc ? "&dc=" : "", w->dc_esc ? w->dc_esc : "");
	/* The first separator is '?'. */
	len = strlen(base) + (seg ? 1 + strlen(seg) : 0);
	if (p[len] == '&')
		p[len] = '?';
	return p;
}

static uint64_t
blocking_timeout_ms(const struct watch *w)
{
	return w->wait_ms + w->wait_ms / 16 + TIMEOUT_MARGIN_MS;
}

/* ---- endpoint bookkeeping ----------------------------------------------- */

static bool
ep_due(const struct endpoint *ep, uint64_t now, uint64_t *next)
{
	if (ep->req != NULL)
		return false;
	if (now >= ep->next_ms)
		return true;
	*next = MIN(*next, ep->next_ms);
	return false;
}

static void
ep_started(struct watch *w, struct endpoint *ep, bool blocking)
{
	ep->started_ms = now_ms();
	ep->req_blocking = blocking;
	if (blocking)
		w->blocking++;
}

/* Called first by every completion and cancellation. */
static void
ep_finished(struct watch *w, struct endpoint *ep)
{
	if (ep->req_blocking)
		w->blocking--;
	ep->req = NULL;
	ep->req_blocking = false;
}

static void
ep_cancel(struct watch *w, struct endpoint *ep)
{
	if (ep->req == NULL)
		return;
	http_cancel(w->http, ep->req);
	ep_finished(w, ep);
}

static bool any_failing(const struct watch *w, const struct endpoint *except);

/* Is the data fresh: synced, and no endpoint in an error episode? */
static bool
stale_fresh(const struct watch *w)
{
	return w->synced && !w->consul_down && !w->empty_pending &&
	       !any_failing(w, NULL);
}

/* Schedules a retry after an error and counts it; logs detail once per
 * episode (rate-limited) unless quiet. */
static void
ep_fail(struct watch *w, struct endpoint *ep, const char *subject,
	const char *detail, bool quiet)
{
	uint64_t b = ep->backoff_ms, suppressed = 0;

	/* The data was fresh until this first failure (the loop may not
	 * have looked for up to LOOP_MAX_WAIT_MS). */
	if (w->max_stale_ms > 0 && stale_fresh(w))
		w->fresh_ms = now_ms();
	b = b == 0 ? BACKOFF_MIN_MS : MIN(b * 2, (uint64_t)BACKOFF_MAX_MS);
	ep->backoff_ms = b;
	/* The retry is a plain read, not a blocking one: an agent that came
	 * back with fresh state has a lower index, and a blocking query with
	 * our old, higher index would sit out the whole wait before telling
	 * us anything. The reply then resets the index (it went backwards). */
	ep->resync = true;
	ep->next_ms = now_ms() + b / 2 + rng_below(&w->rng, (uint32_t)(b / 2 + 1));
	w->errors++;
	if (ep->failing)
		return;
	ep->failing = true;
	ep->fail_logged = false;
	if (quiet || !log_ratelimit_ok(&w->rl_fail, &suppressed))
		return;
	ep->fail_logged = true;
	log_warnx("watch: %s, fetch failed (%s), keeping last good data, "
		  "retry in %" PRIu64 " ms%s",
		  subject, detail, ep->next_ms - now_ms(),
		  suppressed ? " (similar messages suppressed)" : "");
}

/* Adopts the index of a good reply (Consul docs: reset when it goes
 * backwards, at least 1) and paces the next request. */
static void
ep_ok(struct watch *w, struct endpoint *ep, const char *subject,
      const struct http_reply *rep, uint64_t rate_min_ms)
{
	uint64_t idx = rep->has_index ? rep->index : 0;
	uint64_t now = now_ms();
	bool moved = idx != ep->index;

	if (idx < ep->index) {
		log_debug("watch: %s, index went backwards (%" PRIu64
			  " after %" PRIu64 "), reset",
			  subject, idx, ep->index);
		idx = 0;
	} else if (idx < 1) {
		idx = 1;
	}
	metrics_inc(&w->metrics, M_CONSUL_OK);
	ep->index = idx;
	ep->backoff_ms = 0;
	ep->resync = false;
	ep->ok_once = true;
	if (ep->failing && ep->fail_logged)
		log_info("watch: %s, recovered, index %" PRIu64, subject, idx);
	ep->failing = false;
	/* Only a reply that did not move the index can be a spin; one that
	 * moved it carries news, and the next change must not wait a second
	 * for it (freshness), so only a short floor applies. */
	ep->next_ms = MAX(now, ep->started_ms +
				   (moved ? RATE_CHANGED_MIN_MS : rate_min_ms));
	w->last_ok_ms = now;
}

/* Is an endpoint other than except (NULL: any) in an error episode? */
static bool
any_failing(const struct watch *w, const struct endpoint *except)
{
	if ((w->catalog.failing && &w->catalog != except) ||
	    (w->states.failing && &w->states != except))
		return true;
	for (size_t i = 0; i < w->svc_count; i++)
		if (w->svcs[i]->ep.failing && &w->svcs[i]->ep != except)
			return true;
	return false;
}

/* Consul (or a proxy in front of it) that answers 429 or 503 with a
 * Retry-After asks for that long without requests: the next attempt waits
 * at least that, capped at BACKOFF_MAX_MS so the data is never left
 * unrefreshed longer than our own backoff would. */
static void
ep_retry_after(struct endpoint *ep, const struct http_reply *rep)
{
	uint64_t at;

	if (rep->err != 0 || (rep->status != 429 && rep->status != 503) ||
	    rep->retry_after_s == 0)
		return;
	at = now_ms() + MIN((uint64_t)rep->retry_after_s * 1000u,
			    (uint64_t)BACKOFF_MAX_MS);
	if (at > ep->next_ms) {
		log_debug("watch: retry-after %" PRIu32 " s from consul",
			  rep->retry_after_s);
		ep->next_ms = at;
	}
}

/* Sorts out replies that carry no usable body. Returns true for an HTTP
 * 200; otherwise schedules the retry (ep_fail) and returns false. */
static bool
reply_usable(struct watch *w, struct endpoint *ep, const char *subject,
	     const struct http_reply *rep)
{
	char detail[160], text[96];

	if (rep->err == 0 && rep->status == 200) {
		/* The episode ends when every endpoint has come back: one
		 * that answers while another keeps getting 429 or 5xx does
		 * not end it, or the warning would repeat at every retry. */
		if (w->consul_down && !any_failing(w, ep)) {
			log_info("watch: consul %s, recovered (after %" PRIu64
				 " failed requests)",
				 w->consul->addr_text ? w->consul->addr_text : "",
				 w->down_errors);
			w->consul_down = false;
		}
		return true;
	}
	if (rep->err == -SRV_ETIMEOUT)
		metrics_inc(&w->metrics, M_CONSUL_TIMEOUT);
	else if (rep->err != 0)
		metrics_inc(&w->metrics, M_CONSUL_ERROR);
	else if (rep->status == 429)
		metrics_inc(&w->metrics, M_CONSUL_HTTP_429);
	else if (rep->status >= 500)
		metrics_inc(&w->metrics, M_CONSUL_HTTP_5XX);
	else
		metrics_inc(&w->metrics, M_CONSUL_HTTP_OTHER);
	if (rep->err != 0) {
		snprintf(detail, sizeof(detail), "%s", rep->errtext);
	} else {
		body_excerpt(rep, text, sizeof(text));
		snprintf(detail, sizeof(detail), "http %ld%s%s", rep->status,
			 text[0] ? ": " : "", text);
	}
	/* Consul itself is down or overloaded: one message for the whole
	 * episode, not one per endpoint. A body over the cap is this
	 * endpoint's problem, not Consul being away. */
	if ((rep->err != 0 && rep->err != -SRV_ERANGE) || rep->status >= 500 ||
	    rep->status == 429) {
		if (!w->consul_down) {
			log_warnx("watch: consul %s, %s (%s), %s",
				  w->consul->addr_text ? w->consul->addr_text : "",
				  rep->err != 0 ? "unreachable" : "unavailable",
				  detail,
				  w->synced ? "serving the last good data"
					    : "no data yet: zone queries get "
					      "SERVFAIL until the first sync "
					      "(check --consul / "
					      "CONSUL_HTTP_ADDR, TLS and token)");
			w->consul_down = true;
			w->down_errors = 0;
		}
		w->down_errors++;
		ep_fail(w, ep, subject, detail, true);
		ep_retry_after(ep, rep);
		return false;
	}
	ep_fail(w, ep, subject, detail, false);
	return false;
}

/* ---- services ----------------------------------------------------------- */

static int
state_cmp(const void *key, const void *elem)
{
	const struct svc_state *k = key, *e = elem;

	if (k->kind != e->kind)
		return k->kind < e->kind ? -1 : 1;
	return strcmp(k->name, e->name);
}

/* The detector's fingerprint for a service or node, 0 when it has no
 * checks. */
static uint64_t
states_fp(const struct svc_state *st, size_t count, enum svc_state_kind kind,
	  const char *name)
{
	struct svc_state key;
	const struct svc_state *hit;

	if (count == 0)
		return 0;
	key.kind = kind;
	key.name = (char *)(uintptr_t)name;
	key.fingerprint = 0;
	hit = bsearch(&key, st, count, sizeof(*st), state_cmp);
	return hit != NULL ? hit->fingerprint : 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remembers the distinct nodes of rec's instances, for node checks. */
static void
svc_set_nodes(struct svc *s, const struct svc_record *rec)
{
	size_t n = 0;

	for (size_t i = 0; i < s->node_count; i++)
		free(s->nodes[i]);
	free(s->nodes);
	s->nodes = xcalloc(rec->count ? rec->count : 1, sizeof(*s->nodes));
	for (size_t i = 0; i < rec->count; i++)
		if (rec->inst[i].node != NULL)
			s->nodes[n++] = rec->inst[i].node;
	qsort(s->nodes, n, sizeof(*s->nodes), str_cmp);
	s->node_count = 0;
	for (size_t i = 0; i < n; i++)
		if (s->node_count == 0 ||
		    strcmp(s->nodes[s->node_count - 1], s->nodes[i]) != 0)
			s->nodes[s->node_count++] = s->nodes[i];
	for (size_t i = 0; i < s->node_count; i++)
		s->nodes[i] = xstrdup(s->nodes[i]);
}

static struct svc *
svc_new(struct watch *w, const char *name)
{
	struct svc *s = xcalloc(1, sizeof(*s));
	struct svc_record empty;
	struct zsvc *z;

	s->w = w;
	s->name = xstrdup(name);
	s->esc = http_escape(name);
	/* zone.c refuses names it cannot serve (logging them once); finding
	 * out now spares them a fetch and a slot. */
	memset(&empty, 0, sizeof(empty));
	empty.name = s->name;
	z = zone_svc_compile(w->zcfg, &empty);
	s->unservable = (z == NULL);
	zone_svc_unref(z);
	if (w->states_known) {
		s->fp = states_fp(w->states_last, w->states_count,
				  SVC_STATE_SERVICE, name);
		s->fp_known = true;
	}
	log_debug("watch: service %s, appeared%s", name,
		  s->unservable ? ", not servable in DNS" : "");
	return s;
}

static void
svc_free(struct watch *w, struct svc *s)
{
	if (s->ep.req != NULL && s->req_oneshot)
		w->oneshots--;
	ep_cancel(w, &s->ep);
	if (s->has_slot)
		w->slots_used--;
	if (s->zsvc != NULL) {
		zone_svc_unref(s->zsvc);
		w->changed = true;
		w->changed_count++;
		w->changed_one = NULL; /* a removal: log the zone line */
	}
	for (size_t i = 0; i < s->node_count; i++)
		free(s->nodes[i]);
	free(s->nodes);
	free(s->name);
	free(s->esc);
	free(s);
}

static void on_service(void *arg, const struct http_reply *rep);

static void
svc_start(struct watch *w, struct svc *s)
{
	char subject[64 + 256];
	uint64_t index = s->has_slot && !s->ep.resync ? s->ep.index : 0;
	char *path = build_path(w, "/v1/health/service", s->esc, index);
	int err;

	err = http_get(w->http, path, index ? blocking_timeout_ms(w)
					    : ONESHOT_TIMEOUT_MS,
		       on_service, s, &s->ep.req);
	free(path);
	if (err != 0) {
		snprintf(subject, sizeof(subject), "service %s", s->name);
		s->ep.req = NULL;
		metrics_inc(&w->metrics, M_CONSUL_ERROR);
		ep_fail(w, &s->ep, subject, srv_strerror(err), false);
		return;
	}
	ep_started(w, &s->ep, index > 0);
	s->req_oneshot = !s->has_slot;
	if (s->req_oneshot) {
		w->oneshots++;
		s->dirty = false; /* a mark from now on means one more fetch */
	}
}

static void
on_service(void *arg, const struct http_reply *rep)
{
	struct svc *s = arg;
	struct watch *w = s->w;
	struct svc_record rec;
	char subject[64 + 256];
	size_t skipped = 0;
	uint64_t h;
	int err;

	/* A one-shot fetch happens only when something marked the service
	 * (the detector, the sweep) and at most ONESHOT_MAX at a time, so it
	 * cannot spin: its reply gets the short floor even when the index did
	 * not move. With the 1 s floor, a sweep fetch that found nothing new
	 * held back the detector's mark that followed it by up to a second. */
	uint64_t rate_min_ms = s->req_oneshot ? RATE_CHANGED_MIN_MS : RATE_MIN_MS;

	ep_finished(w, &s->ep);
	if (s->req_oneshot)
		w->oneshots--;
	s->req_oneshot = false;
	snprintf(subject, sizeof(subject), "service %s", s->name);
	if (!reply_usable(w, &s->ep, subject, rep)) {
		s->dirty = s->dirty || s->ep.ok_once; /* retry after backoff */
		return;
	}
	if (s->ep.ok_once && !s->ep.resync && rep->has_index &&
	    rep->index == s->ep.index) {
		ep_ok(w, &s->ep, subject, rep, rate_min_ms);
		s->last_ok_ms = now_ms();
		return;
	}
	/* An index that went backwards means the agent's state was reset: a
	 * restarted server can answer from a store it has not finished
	 * restoring (seen here: index 1 and no instances, then the real data
	 * 20 ms later). Serving that would be a wrong answer, so such a
	 * reply is only believed when a second read, CONFIRM_MS later, says
	 * the same; the current data serves until then. */
	if (s->ep.ok_once && rep->has_index && rep->index < s->ep.index &&
	    !s->confirming) {
		s->confirming = true;
		s->ep.resync = true;
		s->ep.next_ms = now_ms() + CONFIRM_MS;
		if (!s->has_slot)
			s->dirty = true;
		log_debug("watch: service %s, index went backwards (%" PRIu64
			  " after %" PRIu64 "), reading again before believing "
			  "it", s->name, rep->index, s->ep.index);
		return;
	}
	s->confirming = false;
	memset(&rec, 0, sizeof(rec));
	err = catalog_parse_health(rep->body, rep->body_len, s->name, &rec,
				   &skipped);
	if (err != 0) {
		catalog_record_fini(&rec);
		metrics_inc(&w->metrics, M_CONSUL_MALFORMED);
		ep_fail(w, &s->ep, subject, "malformed reply", false);
		s->dirty = s->dirty || s->ep.ok_once;
		return;
	}
	if (skipped > 0)
		log_debug("watch: service %s, %zu instances skipped (no ID or "
			  "bad port)",
			  s->name, skipped);
	h = record_hash(&rec);
	if (!s->ep.ok_once || h != s->rec_hash || s->zsvc == NULL) {
		struct zsvc *z = zone_svc_compile(w->zcfg, &rec);
		zone_svc_unref(s->zsvc);
		s->zsvc = z;
		s->rec_hash = h;
		svc_set_nodes(s, &rec);
		w->changed = true;
		w->changed_count++;
		w->changed_one = s;
		log_debug("watch: service %s, changed, %zu instances, index "
			  "%" PRIu64,
			  s->name, z ? zone_svc_instance_count(z) : 0,
			  rep->index);
	}
	catalog_record_fini(&rec);
	ep_ok(w, &s->ep, subject, rep, rate_min_ms);
	s->last_ok_ms = now_ms();
}

/* Gives free slots to slotless services, in name order. */
static void
assign_slots(struct watch *w)
{
	for (size_t i = 0; i < w->svc_count && w->slots_used < w->max_watches;
	     i++) {
		struct svc *s = w->svcs[i];
		if (s->has_slot || s->unservable)
			continue;
		s->has_slot = true;
		w->slots_used++;
		/* A one-shot in flight finishes; the next request blocks. */
	}
}

/* ---- the catalog -------------------------------------------------------- */

/* Replaces the service table with names (sorted): keeps what stays, drops
 * what went, creates what came. */
static void
merge_names(struct watch *w, char **names, size_t count)
{
	struct svc **nv = xcalloc(count, sizeof(*nv));
	size_t i = 0, j = 0, n = 0, added = 0, dropped = 0;

	while (i < w->svc_count || j < count) {
		int c;

		if (j < count && n > 0 && strcmp(names[j], nv[n - 1]->name) == 0) {
			j++; /* a duplicate name */
			continue;
		}
		if (i == w->svc_count)
			c = 1;
		else if (j == count)
			c = -1;
		else
			c = strcmp(w->svcs[i]->name, names[j]);
		if (c < 0) {
			log_debug("watch: service %s, gone", w->svcs[i]->name);
			svc_free(w, w->svcs[i++]);
			dropped++;
		} else if (c == 0) {
			nv[n++] = w->svcs[i++];
			j++;
		} else {
			nv[n++] = svc_new(w, names[j++]);
			added++;
		}
	}
	free(w->svcs);
	w->svcs = nv;
	w->svc_count = n;
	assign_slots(w);
	if (added || dropped)
		log_debug("watch: catalog, services changed, %zu added, %zu "
			  "dropped, %zu now, index %" PRIu64,
			  added, dropped, n, w->catalog.index);
}

/* An empty service list when services with instances are being served
 * is not applied at once (see "Empty lists" at the top of this file).
 * Returns true when rep is held for confirmation, false when an empty
 * list is nothing to be suspicious of. */
static bool
empty_suspect(struct watch *w, const struct http_reply *rep)
{
	const struct svc *probe = NULL;
	size_t with_instances = 0;

	for (size_t i = 0; i < w->svc_count; i++) {
		if (w->svcs[i]->node_count == 0)
			continue;
		with_instances++;
		if (probe == NULL)
			probe = w->svcs[i];
	}
	if (probe == NULL)
		return false;
	/* Logged once per episode: a contradicted list fails the catalog
	 * endpoint, and the retries of that episode stay quiet. */
	if (!w->catalog.failing)
		log_warnx("watch: catalog, empty service list after %zu "
			  "services with instances (index %" PRIu64 "), "
			  "keeping them until service %s confirms it",
			  with_instances, rep->has_index ? rep->index : 0,
			  probe->name);
	w->empty_pending = true;
	w->empty_index = rep->has_index ? rep->index : 0;
	w->empty_probe_ms = now_ms() + EMPTY_CONFIRM_MS;
	free(w->probe_name);
	w->probe_name = xstrdup(probe->name);
	w->catalog.next_ms = UINT64_MAX; /* no catalog request meanwhile */
	return true;
}

static void
empty_done(struct watch *w)
{
	w->empty_pending = false;
	free(w->probe_name);
	w->probe_name = NULL;
	if (w->catalog.next_ms == UINT64_MAX)
		w->catalog.next_ms = 0;
}

/* The probe's reply decides: the service's health endpoint still listing
 * instances contradicts the empty list (an error: the catalog retries
 * after its backoff, the table stays); none confirms it. */
static void
on_probe(void *arg, const struct http_reply *rep)
{
	struct watch *w = arg;
	struct svc_record rec;
	char detail[160 + 256];
	size_t skipped = 0;

	w->probe = NULL;
	if (!reply_usable(w, &w->catalog, "catalog", rep)) {
		empty_done(w); /* reply_usable scheduled the retry */
		return;
	}
	memset(&rec, 0, sizeof(rec));
	if (catalog_parse_health(rep->body, rep->body_len, w->probe_name, &rec,
				 &skipped) != 0) {
		catalog_record_fini(&rec);
		empty_done(w);
		ep_fail(w, &w->catalog, "catalog", "malformed reply", false);
		return;
	}
	if (rec.count + skipped > 0) {
		snprintf(detail, sizeof(detail),
			 "empty service list, but service %s still has %zu "
			 "instances",
			 w->probe_name, rec.count + skipped);
		catalog_record_fini(&rec);
		empty_done(w);
		ep_fail(w, &w->catalog, "catalog", detail, false);
		return;
	}
	catalog_record_fini(&rec);
	log_warnx("watch: catalog, empty service list confirmed (service %s "
		  "has no instances either), dropping %zu services",
		  w->probe_name, w->svc_count);
	{
		struct http_reply held = {.status = 200,
					  .has_index = w->empty_index > 0,
					  .index = w->empty_index};
		empty_done(w);
		if (w->catalog.ok_once)
			w->catalog_moved_ms = now_ms();
		ep_ok(w, &w->catalog, "catalog", &held, RATE_MIN_MS);
	}
	merge_names(w, NULL, 0);
}

static void
probe_start(struct watch *w)
{
	char *esc = http_escape(w->probe_name);
	char *path = build_path(w, "/v1/health/service", esc, 0);
	int err = http_get(w->http, path, ONESHOT_TIMEOUT_MS, on_probe, w,
			   &w->probe);

	free(path);
	free(esc);
	if (err != 0) {
		w->probe = NULL;
		empty_done(w);
		ep_fail(w, &w->catalog, "catalog", srv_strerror(err), false);
	}
}

static void
on_catalog(void *arg, const struct http_reply *rep)
{
	struct watch *w = arg;
	char **names = NULL;
	size_t count = 0;
	bool moved;

	ep_finished(w, &w->catalog);
	if (!reply_usable(w, &w->catalog, "catalog", rep))
		return;
	/* Parsed even when the index did not move (a list of names is
	 * cheap): an ACL policy change alters what the token sees without
	 * moving the index, and an empty list confirmed under one policy
	 * must be undone when the next reply lists services again. */
	moved = !w->catalog.ok_once || !rep->has_index ||
		rep->index != w->catalog.index || w->catalog.resync;
	if (catalog_parse_services(rep->body, rep->body_len, &names, &count) !=
	    0) {
		metrics_inc(&w->metrics, M_CONSUL_MALFORMED);
		ep_fail(w, &w->catalog, "catalog", "malformed reply", false);
		return;
	}
	if (count == 0 && empty_suspect(w, rep)) {
		catalog_names_free(names, count);
		return; /* held until the probe confirms or contradicts it */
	}
	if (w->catalog.ok_once && moved)
		w->catalog_moved_ms = now_ms();
	ep_ok(w, &w->catalog, "catalog", rep, RATE_MIN_MS);
	merge_names(w, names, count);
	catalog_names_free(names, count);
}

/* Starts the request of an endpoint that is one URL (the catalog, the
 * change detector): a plain read until its index is known or after an
 * error, a blocking query otherwise. */
static void
ep_start(struct watch *w, struct endpoint *ep, const char *base,
	 http_done_fn *done, const char *subject)
{
	uint64_t index = ep->resync ? 0 : ep->index;
	char *path = build_path(w, base, NULL, index);
	int err = http_get(w->http, path,
			   index ? blocking_timeout_ms(w) : ONESHOT_TIMEOUT_MS,
			   done, w, &ep->req);

	free(path);
	if (err != 0) {
		ep->req = NULL;
		metrics_inc(&w->metrics, M_CONSUL_ERROR);
		ep_fail(w, ep, subject, srv_strerror(err), false);
		return;
	}
	ep_started(w, ep, index > 0);
}

static void
catalog_start(struct watch *w)
{
	ep_start(w, &w->catalog, "/v1/catalog/services", on_catalog, "catalog");
}

/* ---- the change detector ------------------------------------------------ */

/* Collects the names of nodes whose entry appeared, disappeared or changed
 * fingerprint between two detector replies (both sorted as catalog.h says).
 * Returns a new sorted array of borrowed names; free() it. */
static const char **
nodes_moved(const struct svc_state *a, size_t na, const struct svc_state *b,
	    size_t nb, size_t *count)
{
	const char **out = xcalloc(na + nb + 1, sizeof(*out));
	size_t i = 0, j = 0, n = 0;

	while (i < na && a[i].kind != SVC_STATE_NODE)
		i++;
	while (j < nb && b[j].kind != SVC_STATE_NODE)
		j++;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i].name, b[j].name);
		if (c < 0) {
			out[n++] = a[i++].name;
		} else if (c > 0) {
			out[n++] = b[j++].name;
		} else {
			if (a[i].fingerprint != b[j].fingerprint)
				out[n++] = b[j].name;
			i++;
			j++;
		}
	}
	*count = n;
	return out;
}

static bool
svc_on_moved_node(const struct svc *s, const char **moved, size_t count)
{
	for (size_t i = 0; i < s->node_count && count > 0; i++)
		if (bsearch(&s->nodes[i], moved, count, sizeof(*moved),
			    str_cmp) != NULL)
			return true;
	return false;
}

static void
on_states(void *arg, const struct http_reply *rep)
{
	struct watch *w = arg;
	struct svc_state *st = NULL;
	size_t count = 0, marked = 0, moved_count = 0;
	const char **moved = NULL;

	ep_finished(w, &w->states);
	if (!reply_usable(w, &w->states, "change detector", rep))
		return;
	if (w->states.ok_once && rep->has_index &&
	    rep->index == w->states.index && !w->states.resync) {
		ep_ok(w, &w->states, "change detector", rep,
		      STATES_RATE_MIN_MS);
		return;
	}
	if (catalog_parse_states(rep->body, rep->body_len, &st, &count) != 0) {
		metrics_inc(&w->metrics, M_CONSUL_MALFORMED);
		ep_fail(w, &w->states, "change detector", "malformed reply",
			false);
		return;
	}
	if (w->states_known)
		moved = nodes_moved(w->states_last, w->states_count, st, count,
				    &moved_count);
	for (size_t i = 0; i < w->svc_count; i++) {
		struct svc *s = w->svcs[i];
		uint64_t fp;

		if (s->has_slot || s->unservable)
			continue;
		fp = states_fp(st, count, SVC_STATE_SERVICE, s->name);
		if ((s->fp_known && fp != s->fp) ||
		    svc_on_moved_node(s, moved, moved_count)) {
			s->dirty = true;
			marked++;
		}
		s->fp = fp;
		s->fp_known = true;
	}
	free(moved);
	catalog_states_free(w->states_last, w->states_count);
	w->states_last = st;
	w->states_count = count;
	w->states_known = true;
	ep_ok(w, &w->states, "change detector", rep, STATES_RATE_MIN_MS);
	if (marked > 0)
		log_debug("watch: change detector, %zu services changed (%zu "
			  "nodes moved), index %" PRIu64,
			  marked, moved_count, w->states.index);
}

static void
states_start(struct watch *w)
{
	ep_start(w, &w->states, "/v1/health/state/any", on_states,
		 "change detector");
}

/* No slotless services left: stop the detector and forget its state, so a
 * later start takes a fresh first look before fetching anything. */
static void
states_stop(struct watch *w)
{
	ep_cancel(w, &w->states);
	catalog_states_free(w->states_last, w->states_count);
	w->states_last = NULL;
	w->states_count = 0;
	w->states_known = false;
	memset(&w->states, 0, sizeof(w->states));
}

/* ---- the loop ----------------------------------------------------------- */

/* Starts every request that is due. Returns when the next one will be. */
static uint64_t
schedule(struct watch *w, uint64_t now)
{
	uint64_t next = now + LOOP_MAX_WAIT_MS;
	struct svc *oldest = NULL;
	size_t slotless = 0;

	if (ep_due(&w->catalog, now, &next))
		catalog_start(w);
	if (w->empty_pending && w->probe == NULL) {
		if (now >= w->empty_probe_ms)
			probe_start(w);
		else
			next = MIN(next, w->empty_probe_ms);
	}

	for (size_t i = 0; i < w->svc_count; i++) {
		struct svc *s = w->svcs[i];
		if (s->has_slot || s->unservable)
			continue;
		slotless++;
		if (s->ep.ok_once && !s->dirty && s->ep.req == NULL &&
		    (oldest == NULL || s->last_ok_ms < oldest->last_ok_ms))
			oldest = s;
	}
	if (slotless == 0) {
		if (w->states.req != NULL || w->states_known)
			states_stop(w);
	} else if (ep_due(&w->states, now, &next)) {
		states_start(w);
	}
	/* The sweep (see the top of this file): the oldest is due when it
	 * is REFRESH_MS old or older than the catalog's last move. */
	if (oldest != NULL) {
		bool due = now - oldest->last_ok_ms >= REFRESH_MS ||
			   oldest->last_ok_ms < w->catalog_moved_ms;
		if (due && now >= w->next_sweep_ms) {
			oldest->dirty = true;
			w->next_sweep_ms = now + SWEEP_STEP_MS;
		} else if (due) {
			next = MIN(next, w->next_sweep_ms);
		} else {
			next = MIN(next, oldest->last_ok_ms + REFRESH_MS);
		}
	}

	/* Until the first sync, a slot whose service was fetched once holds
	 * its blocking query back (the index it will block on is kept, so a
	 * change in between returns at once afterwards) and lends its
	 * connection to one-shot fetches of slotless services: 1,000
	 * services sync through max_watches + ONESHOT_MAX connections instead
	 * of ONESHOT_MAX, and the connection cap is unchanged. */
	unsigned budget = ONESHOT_MAX;
	if (!w->synced) {
		unsigned slot_busy = 0;
		for (size_t i = 0; i < w->svc_count; i++)
			slot_busy += w->svcs[i]->has_slot &&
				     w->svcs[i]->ep.req != NULL;
		budget += w->max_watches - MIN(slot_busy, w->max_watches);
	}
	for (size_t i = 0; i < w->svc_count; i++) {
		struct svc *s = w->svcs[i];

		if (s->unservable || s->ep.req != NULL)
			continue;
		if (s->has_slot) {
			if (!w->synced && s->ep.ok_once)
				continue; /* blocks after the first sync */
			if (ep_due(&s->ep, now, &next))
				svc_start(w, s);
			continue;
		}
		if (!s->fp_known || (s->ep.ok_once && !s->dirty))
			continue;
		if (w->oneshots >= budget)
			continue; /* a completion wakes the loop */
		if (ep_due(&s->ep, now, &next))
			svc_start(w, s);
	}
	return next;
}

static bool
all_fetched(const struct watch *w)
{
	if (!w->catalog.ok_once)
		return false;
	for (size_t i = 0; i < w->svc_count; i++)
		if (!w->svcs[i]->unservable && !w->svcs[i]->ep.ok_once)
			return false;
	return true;
}

/* ---- status (seqlock) ------------------------------------------------ */

/* Packs w->status into the slots. Only the watch thread writes (and
 * watch_new() before the thread exists). */
static void
status_store(struct watch *w)
{
	const struct watch_status *st = &w->status;
	uint64_t v[ARRAY_SIZE(w->st_slot)] = {st->synced, st->connected, st->last_sync_ms,
			  st->catalog_index, st->services, st->instances,
			  st->watches, st->max_watches, st->errors, st->serial,
			  st->current, st->current_ms, st->loop_ms};
	uint_fast64_t seq = atomic_load_explicit(&w->st_seq,
						 memory_order_relaxed);

	atomic_store_explicit(&w->st_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		atomic_store_explicit(&w->st_slot[i], v[i],
				      memory_order_relaxed);
	atomic_store_explicit(&w->st_seq, seq + 2, memory_order_release);
}

static void
publish(struct watch *w)
{
	struct zsvc **arr = xcalloc(w->svc_count ? w->svc_count : 1,
				    sizeof(*arr));
	struct zone *z;
	size_t n = 0, services, instances;

	for (size_t i = 0; i < w->svc_count; i++)
		if (w->svcs[i]->zsvc != NULL)
			arr[n++] = w->svcs[i]->zsvc;
	w->serial++;
	/* Incremental: only the services that changed since the current
	 * snapshot are re-indexed (zone.h); this thread is its only writer. */
	z = zone_new_from(zone_current(), w->zcfg, arr, n, w->serial, true);
	if (w->stale)
		zone_set_stale(z);
	free(arr);
	services = zone_service_count(z);
	instances = zone_instance_count(z);
	zone_publish(z);
	metrics_inc(&w->metrics, M_PUBLISHES);

	if (w->changed_count == 1 && w->changed_one != NULL) {
		const struct svc *s = w->changed_one;
		log_debug("watch: service %s, snapshot published, %zu "
			  "instances, serial %" PRIu32 ", index %" PRIu64,
			  s->name,
			  s->zsvc ? zone_svc_instance_count(s->zsvc) : 0,
			  w->serial, s->ep.index);
	} else {
		log_debug("watch: zone, snapshot published, %zu services, %zu "
			  "instances, serial %" PRIu32 ", catalog index %" PRIu64,
			  services, instances, w->serial, w->catalog.index);
	}
	w->changed = false;
	w->changed_count = 0;
	w->changed_one = NULL;

	w->status.services = (unsigned)services;
	w->status.instances = (unsigned)instances;
	w->status.serial = w->serial;
	status_store(w);
}

static void
update_status(struct watch *w)
{
	w->status.loop_ms = now_ms();
	w->status.synced = w->synced;
	w->status.connected = !w->consul_down && w->catalog.ok_once;
	w->status.last_sync_ms = w->last_ok_ms;
	w->status.catalog_index = w->catalog.index;
	w->status.watches = w->blocking;
	w->status.max_watches = w->max_watches;
	w->status.errors = w->errors;
	w->status.current = stale_fresh(w); /* as --max-stale sees it */
	if (w->status.current)
		w->status.current_ms = now_ms();
	status_store(w);
}

/* --max-stale (see "Staleness" above): republishes the snapshot marked
 * stale, or unmarked, when the data crosses the limit either way. Returns
 * when it must be looked at again (the moment it would go stale). */
static uint64_t
stale_check(struct watch *w, uint64_t now)
{
	bool fresh = stale_fresh(w);
	bool stale;

	if (fresh || w->fresh_ms == 0)
		w->fresh_ms = now;
	if (w->max_stale_ms == 0 || !w->synced)
		return UINT64_MAX;
	stale = !fresh && now - w->fresh_ms >= w->max_stale_ms;
	if (stale != w->stale) {
		w->stale = stale;
		if (stale)
			log_warnx("watch: data, stale, no complete reply from "
				  "consul for %" PRIu64 " ms (--max-stale "
				  "%" PRIu64 " ms), answering SERVFAIL",
				  now - w->fresh_ms, w->max_stale_ms);
		else
			log_info("watch: data, fresh again, answering");
		publish(w);
	}
	return fresh || stale ? UINT64_MAX : w->fresh_ms + w->max_stale_ms;
}

static void adopt_reconf(struct watch *w);

static void *
loop(void *arg)
{
	struct watch *w = arg;

	rng_seed(&w->rng);
	while (!atomic_load(&w->stop)) {
		adopt_reconf(w);
		uint64_t now = now_ms();
		uint64_t next = MIN(schedule(w, now), stale_check(w, now));

		if (http_run(w->http, next > now ? next - now : 0) != 0) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL); /* libcurl broke: do not spin */
		}
		/* Replies that completed together are published together. */
		if (!w->synced && all_fetched(w)) {
			w->synced = true;
			publish(w);
			log_info("watch: consul %s, first sync complete, %u "
				 "services, %u instances, serial %" PRIu32,
				 w->consul->addr_text ? w->consul->addr_text : "",
				 w->status.services, w->status.instances,
				 w->serial);
		} else if (w->synced && w->changed) {
			publish(w);
		}
		if (w->max_stale_ms > 0)
			stale_check(w, now_ms());
		update_status(w);
	}
	return NULL;
}

/* ---- reload ------------------------------------------------------------- */

static struct zone_svc_ttl *
ttls_copy(const struct zone_svc_ttl *t, size_t n)
{
	struct zone_svc_ttl *c = xcalloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i].name = xstrdup(t[i].name);
		c[i].ttl_s = t[i].ttl_s;
	}
	return c;
}

static void
ttls_free(const struct zone_cfg *zc)
{
	for (size_t i = 0; i < zc->svc_ttl_count; i++)
		free(zc->svc_ttls[i].name);
	free((void *)zc->svc_ttls);
}

/* Adopts a configuration handed over by watch_set_zone_cfg(): every
 * service is fetched again at once (a plain read) and compiled under the
 * new configuration; until its reply arrives the old form keeps serving,
 * so a reload never makes an answer disappear. */
static void
adopt_reconf(struct watch *w)
{
	struct zone_cfg next;
	uint64_t now = now_ms();

	pthread_mutex_lock(&w->reconf_lock);
	if (!w->reconf_pending) {
		pthread_mutex_unlock(&w->reconf_lock);
		return;
	}
	next = w->reconf;
	w->reconf_pending = false;
	pthread_mutex_unlock(&w->reconf_lock);

	if (w->zcfg_owned)
		ttls_free(&w->zcfg_own);
	w->zcfg_own = next;
	w->zcfg_owned = true;
	w->zcfg = &w->zcfg_own;
	for (size_t i = 0; i < w->svc_count; i++) {
		struct svc *sv = w->svcs[i];
		if (sv->unservable)
			continue;
		if (sv->ep.req != NULL && sv->req_oneshot)
			w->oneshots--;
		sv->req_oneshot = false;
		ep_cancel(w, &sv->ep);
		sv->ep.resync = true;
		sv->ep.next_ms = now;
		sv->rec_hash = 0; /* compile the next reply whatever it hashes to */
		if (!sv->has_slot)
			sv->dirty = true;
	}
	log_info("watch: configuration reloaded, refetching %zu services",
		 w->svc_count);
}

/* ---- public ------------------------------------------------------------- */

void
watch_set_zone_cfg(struct watch *w, const struct zone_cfg *zc)
{
	pthread_mutex_lock(&w->reconf_lock);
	if (w->reconf_pending)
		ttls_free(&w->reconf);
	w->reconf = *zc;
	w->reconf.svc_ttls = ttls_copy(zc->svc_ttls, zc->svc_ttl_count);
	w->reconf_pending = true;
	pthread_mutex_unlock(&w->reconf_lock);
	http_wakeup(w->http);
}

struct watch *
watch_new(const struct consul_cfg *consul, const struct zone_cfg *zcfg,
	  unsigned max_watches)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->consul = consul;
	w->zcfg = zcfg;
	w->max_watches = max_watches;
	w->wait_ms = consul->wait_ms ? consul->wait_ms : DEFAULT_WAIT_MS;
	if (consul->datacenter != NULL && consul->datacenter[0] != '\0')
		w->dc_esc = http_escape(consul->datacenter);
	w->http = http_new(consul, max_watches + 2 + ONESHOT_MAX);
	atomic_init(&w->stop, false);
	w->serial = (uint32_t)wall_s();
	w->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(LOG_INTERVAL_MS);
	pthread_mutex_init(&w->reconf_lock, NULL);
	w->status.max_watches = max_watches;
	w->status.serial = w->serial;
	atomic_init(&w->st_seq, 0);
	for (size_t i = 0; i < ARRAY_SIZE(w->st_slot); i++)
		atomic_init(&w->st_slot[i], 0);
	status_store(w);
	metrics_register(&w->metrics);
	return w;
}

void
watch_set_max_stale(struct watch *w, uint64_t max_stale_ms)
{
	w->max_stale_ms = max_stale_ms;
}

int
watch_start(struct watch *w)
{
	int err;

	atomic_store(&w->stop, false);
	err = pthread_create(&w->thread, NULL, loop, w);
	if (err != 0) {
		errno = err;
		log_warn("watch: thread, not started");
		return -SRV_EIO;
	}
	w->started = true;
	return 0;
}

void
watch_stop(struct watch *w)
{
	if (w == NULL || !w->started)
		return;
	atomic_store(&w->stop, true);
	http_wakeup(w->http);
	pthread_join(w->thread, NULL);
	w->started = false;
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	watch_stop(w);
	for (size_t i = 0; i < w->svc_count; i++)
		svc_free(w, w->svcs[i]);
	free(w->svcs);
	ep_cancel(w, &w->catalog);
	http_cancel(w->http, w->probe);
	free(w->probe_name);
	states_stop(w);
	http_free(w->http);
	free(w->dc_esc);
	metrics_unregister(&w->metrics);
	if (w->zcfg_owned)
		ttls_free(&w->zcfg_own);
	if (w->reconf_pending)
		ttls_free(&w->reconf);
	pthread_mutex_destroy(&w->reconf_lock);
	free(w);
}

void
watch_get_status(struct watch *w, struct watch_status *st)
{
	uint64_t v[ARRAY_SIZE(w->st_slot)];
	uint_fast64_t s1, s2;

	/* The writer holds the sequence odd for a dozen stores, once per
	 * loop iteration: a retry is rare and short. */
	do {
		s1 = atomic_load_explicit(&w->st_seq, memory_order_acquire);
		for (size_t i = 0; i < ARRAY_SIZE(v); i++)
			v[i] = atomic_load_explicit(&w->st_slot[i],
						    memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&w->st_seq, memory_order_relaxed);
	} while ((s1 & 1) != 0 || s1 != s2);
	*st = (struct watch_status){
	    .synced = v[0] != 0,
	    .connected = v[1] != 0,
	    .last_sync_ms = v[2],
	    .catalog_index = v[3],
	    .services = (unsigned)v[4],
	    .instances = (unsigned)v[5],
	    .watches = (unsigned)v[6],
	    .max_watches = (unsigned)v[7],
	    .errors = v[8],
	    .serial = (uint32_t)v[9],
	    .current = v[10] != 0,
	    .current_ms = v[11],
	    .loop_ms = v[12],
	};
}

uint64_t
watch_status_data_age_ms(const struct watch_status *st, uint64_t now)
{
	if (st->current_ms == 0)
		return UINT64_MAX;
	if (st->current)
		return 0;
	return now > st->current_ms ? now - st->current_ms : 0;
}
