/* SPDX-License-Identifier: MIT
 * forward.c -- the forward thread: c-ares on epoll, the cache, replies.
 * Owns:    the ares channel (it never leaves this file), the hand-off
 *          queue, requests in flight, the forward cache, the loop tag.
 * Borrows: the listeners' UDP sockets (sendto only) and the config.
 * Never:   zone data; the query path of in-zone answers.
 * Start reading at forward_thread().
 *
 * A listener that gets a query outside the zone copies it into a request
 * and queues it (a mutex-protected list, bounded, plus an eventfd); it never
 * waits on the upstream. This thread takes the queue, answers from the
 * cache when it can, else sends a fresh query with ares_send() and answers
 * in the callback. c-ares 1.18 API only: ARES_OPT_SOCK_STATE_CB puts its
 * sockets into our epoll set, ares_timeout() bounds the wait and
 * ares_process_fd() does the work. c-ares retries a truncated UDP answer
 * over TCP itself, and moves to the next recursor on a timeout, SERVFAIL,
 * REFUSED or NOTIMP. */
#include "config_feat.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "cache.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "util.h"
#include "wire.h"

#define FWD_QUEUE_MAX 1024    /* queued, not yet taken by the thread */
#define FWD_INFLIGHT_MAX 4096 /* sent upstream, not yet answered */
#define FWD_CACHE_TTL_MAX 86400u

struct req {
	struct req *next; /* queue link */
	struct forward *fw;
	struct forward_client cl;
	struct relay_query rq; /* points into q */
	uint16_t up_id;	       /* the ID upstream sees, while in flight */
	bool in_flight;
	size_t qlen;
	uint8_t q[];
};

struct forward {
	const struct config *cfg;
	/* A reload's recursors, handed to the forward thread (guarded by
	 * lock; the thread applies them between two ares calls). */
	bool servers_pending;
	struct listen_addr servers[CONFIG_MAX_RECURSORS];
	size_t server_count;
	ares_channel ch;
	pthread_t thread;
	bool started;
	int ep, stop_fd, queue_fd;

	pthread_mutex_t lock; /* guards the queue and queue_full */
	struct req *qhead, *qtail;
	size_t qcount;

	/* Forward thread only (and forward_free() after the join). */
	size_t inflight;
	struct cache *cache;
	struct rng rng;
	uint8_t tag[RELAY_TAG_LEN]; /* this process's loop marker */
	uint8_t id_used[65536 / 8]; /* upstream IDs in flight */
	struct log_ratelimit loop_rl, fail_rl;
	struct forward_stats st;
	struct metrics_block metrics; /* written by the forward thread only */
	uint8_t out[WIRE_MSG_MAX];
	uint8_t upq[WIRE_HDR_LEN + WIRE_NAME_MAX + 4 + 11 + 4 +
		    (RELAY_MAX_HOPS + 1) * RELAY_TAG_LEN];
};

/* ---- replying -------------------------------------------------------------- */

/* Sends a reply to a UDP client on the listener's socket. One larger than
 * the interface MTU (EMSGSIZE: the socket sets DF, frontend.c) goes as its
 * truncated form instead, so the client retries over TCP (RFC 9715 3.1). */
static ssize_t
udp_reply(struct forward *fw, const struct req *r, const uint8_t *msg,
	  size_t len)
{
	uint8_t tc[WIRE_UDP_MIN];
	ssize_t n = sendto(r->cl.fd, msg, len, MSG_DONTWAIT,
			   (const struct sockaddr *)&r->cl.peer,
			   r->cl.peer_len);

	if (n >= 0 || errno != EMSGSIZE)
		return n;
	len = relay_truncated(r->q, r->qlen, msg, len, fw->cfg->edns_size, tc,
			      sizeof(tc));
	if (len == 0)
		return n;
	metrics_inc(&fw->metrics, M_TRUNCATED);
	return sendto(r->cl.fd, tc, len, MSG_DONTWAIT,
		      (const struct sockaddr *)&r->cl.peer, r->cl.peer_len);
}

/* Sends out[0..len) to the request's client and frees the request. */
static void
deliver(struct forward *fw, struct req *r, const uint8_t *msg, size_t len)
{
	if (len >= WIRE_HDR_LEN) {
		/* The reply's rcode (extended rcodes are not relayed: an
		 * upstream's OPT is replaced by ours). */
		metrics_inc(&fw->metrics,
			    metrics_rcode_slot(msg[3] & WIRE_F_RCODE));
		if (msg[2] & (WIRE_F_TC >> 8))
			metrics_inc(&fw->metrics, M_TRUNCATED);
	}
	if (len == 0) {
		/* Nothing to say (cannot happen for a parsed query). */
	} else if (r->cl.is_tcp) {
		uint8_t *framed = xmalloc(len + 2);
		wire_put_u16_at(framed, 0, (uint16_t)len);
		memcpy(framed + 2, msg, len);
		r->cl.done(r->cl.arg, framed, len + 2);
		r->cl.done = NULL;
	} else if (udp_reply(fw, r, msg, len) < 0) {
		log_debug("forward: reply to a UDP client dropped (%s)",
			  strerror(errno));
	}
	if (r->cl.is_tcp && r->cl.done != NULL) /* a TCP query must be told */
		r->cl.done(r->cl.arg, NULL, 0);
	free(r);
}

static void
reply_error(struct forward *fw, struct req *r, uint16_t rcode)
{
	size_t len = relay_error(r->q, r->qlen, rcode, true,
				 fw->cfg->edns_size, fw->out, sizeof(fw->out));
	if (rcode == WIRE_RCODE_SERVFAIL)
		fw->st.servfail++;
	deliver(fw, r, fw->out, len);
}

/* Relays an upstream (or cached, aged) message to the client. */
static bool
reply_relayed(struct forward *fw, struct req *r, const uint8_t *msg,
	      size_t len, uint32_t ttl_max, uint32_t age_s)
{
	bool tc;
	size_t limit = relay_limit(&r->rq, r->cl.is_tcp, fw->cfg->edns_size);
	int n = relay_reply(msg, len, &r->rq, ttl_max, age_s,
			    fw->cfg->edns_size, limit, fw->out,
			    sizeof(fw->out), &tc);
	if (n < 0)
		return false;
	deliver(fw, r, fw->out, (size_t)n);
	return true;
}

static void
name_text(const struct req *r, char *buf, size_t len)
{
	wire_name_to_text(r->rq.name, r->rq.name_len, buf, len);
}

/* ---- c-ares -------------------------------------------------------------------- */

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct req *r = arg;
	struct forward *fw = r->fw;
	char name[WIRE_NAME_MAX * 4 + 1];
	uint64_t suppressed;

	(void)timeouts;
	if (r->in_flight) {
		fw->inflight--;
		fw->id_used[r->up_id / 8] &= (uint8_t)~(1u << (r->up_id % 8));
	}
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		uint8_t key[RELAY_KEY_MAX];
		size_t keylen = relay_cache_key(&r->rq, key);
		uint32_t ttl = relay_cache_ttl(abuf, (size_t)alen,
					       FWD_CACHE_TTL_MAX);
		/* Cache what the upstream said before relaying: relaying
		 * frees r. A reply to another question is not cached:
		 * relay_reply() rejects it below. */
		if (reply_relayed(fw, r, abuf, (size_t)alen, UINT32_MAX, 0)) {
			fw->st.answered++;
			cache_put(fw->cache, key, keylen, abuf, (size_t)alen,
				  ttl, now_ms());
			return;
		}
		metrics_inc(&fw->metrics, M_UPSTREAM_ERRORS);
		if (log_ratelimit_ok(&fw->fail_rl, &suppressed)) {
			name_text(r, name, sizeof(name));
			log_warnx("forward: %s, upstream reply does not match "
				  "the question, SERVFAIL (%llu more "
				  "suppressed)", name,
				  (unsigned long long)suppressed);
		}
		reply_error(fw, r, WIRE_RCODE_SERVFAIL);
		return;
	}
	if (status == ARES_ETIMEOUT)
		fw->st.timeouts++;
	if (status != ARES_EDESTRUCTION)
		metrics_inc(&fw->metrics, M_UPSTREAM_ERRORS);
	if (status != ARES_EDESTRUCTION &&
	    log_ratelimit_ok(&fw->fail_rl, &suppressed)) {
		name_text(r, name, sizeof(name));
		log_warnx("forward: %s, no usable answer from any recursor, "
			  "SERVFAIL (%s; %llu more suppressed)", name,
			  ares_strerror(status), (unsigned long long)suppressed);
	}
	reply_error(fw, r, WIRE_RCODE_SERVFAIL);
}

static void
sock_state(void *data, ares_socket_t s, int readable, int writable)
{
	struct forward *fw = data;
	struct epoll_event ev = {
	    .events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u),
	    .data.fd = s};

	if (!readable && !writable) {
		epoll_ctl(fw->ep, EPOLL_CTL_DEL, s, NULL);
		return;
	}
	if (epoll_ctl(fw->ep, EPOLL_CTL_MOD, s, &ev) != 0 &&
	    epoll_ctl(fw->ep, EPOLL_CTL_ADD, s, &ev) != 0)
		log_warn("forward: epoll_ctl for an upstream socket");
}

/* ---- requests ------------------------------------------------------------------ */

static void
handle(struct forward *fw, struct req *r)
{
	char name[WIRE_NAME_MAX * 4 + 1];
	uint64_t suppressed;
	uint8_t key[RELAY_KEY_MAX];
	const uint8_t *hit;
	size_t hitlen, keylen;
	uint32_t age;

	if (relay_parse_query(r->q, r->qlen, &r->rq) != 0) {
		reply_error(fw, r, WIRE_RCODE_FORMERR);
		return;
	}
	if (relay_is_loop(&r->rq, fw->tag)) {
		/* Our own query came back: answer, never send it again. */
		fw->st.loops++;
		metrics_inc(&fw->metrics, M_FWD_LOOPS);
		if (log_ratelimit_ok(&fw->loop_rl, &suppressed)) {
			name_text(r, name, sizeof(name));
			log_warnx("forward: %s, forwarding loop detected (the "
				  "query came back after %zu srvshim hops), "
				  "SERVFAIL; check that no --recursor leads "
				  "back here (%llu more suppressed)", name,
				  r->rq.tag_count,
				  (unsigned long long)suppressed);
		}
		reply_error(fw, r, WIRE_RCODE_SERVFAIL);
		return;
	}
	keylen = relay_cache_key(&r->rq, key);
	hit = cache_get(fw->cache, key, keylen, now_ms(), &hitlen, &age);
	if (hit != NULL) {
		fw->st.cache_hits++;
		metrics_inc(&fw->metrics, M_FWD_CACHE_HIT);
		/* Nothing outlives its cache entry: every TTL is capped at
		 * the entry's lifetime before it is aged. */
		uint32_t ttl = relay_cache_ttl(hit, hitlen, FWD_CACHE_TTL_MAX);
		if (reply_relayed(fw, r, hit, hitlen, ttl, age))
			return;
	} else if (fw->cache != NULL) {
		fw->st.cache_misses++;
		metrics_inc(&fw->metrics, M_FWD_CACHE_MISS);
	}
	if (fw->inflight >= FWD_INFLIGHT_MAX) {
		reply_error(fw, r, WIRE_RCODE_SERVFAIL);
		return;
	}
	/* Upstream sees a fresh ID, never one the client chose: c-ares 1.18
	 * keeps the ID it is handed, newer releases pick their own.
	 * relay_reply() restores the client's. c-ares matches answers by ID,
	 * so none is used twice while in flight (at most 4096 of 65536 are
	 * taken: a few draws at worst). */
	uint16_t id;
	do
		id = (uint16_t)rng_next(&fw->rng);
	while (id == r->rq.id || (fw->id_used[id / 8] & (1u << (id % 8))));
	size_t len = relay_upstream_query(&r->rq, id, fw->cfg->edns_size,
					  fw->tag, fw->upq, sizeof(fw->upq));
	if (len == 0) {
		reply_error(fw, r, WIRE_RCODE_SERVFAIL);
		return;
	}
	if (log_current_level >= LOG_LVL_DEBUG) {
		name_text(r, name, sizeof(name));
		log_debug("forward: %s type %u, sent upstream with id %u", name,
			  (unsigned)r->rq.qtype, (unsigned)id);
	}
	fw->inflight++;
	fw->st.upstream++;
	metrics_inc(&fw->metrics, M_FORWARDED);
	fw->id_used[id / 8] |= (uint8_t)(1u << (id % 8));
	r->up_id = id;
	r->in_flight = true;
	/* May call on_answer() at once (e.g. out of memory). */
	ares_send(fw->ch, fw->upq, (int)len, on_answer, r);
}

static void
drain_queue(struct forward *fw)
{
	uint64_t v;
	if (read(fw->queue_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("forward: queue eventfd");
	pthread_mutex_lock(&fw->lock);
	struct req *list = fw->qhead;
	fw->qhead = fw->qtail = NULL;
	fw->qcount = 0;
	pthread_mutex_unlock(&fw->lock);
	while (list != NULL) {
		struct req *r = list;
		list = r->next;
		handle(fw, r);
	}
}

int
forward_submit(struct forward *fw, const struct forward_client *cl,
	       const uint8_t *q, size_t qlen)
{
	pthread_mutex_lock(&fw->lock);
	if (fw->qcount >= FWD_QUEUE_MAX) {
		fw->st.queue_full++;
		pthread_mutex_unlock(&fw->lock);
		return -SRV_ENOSPC;
	}
	fw->st.queries++;
	fw->qcount++;
	pthread_mutex_unlock(&fw->lock);

	/* Allocated outside the lock: forwarding may allocate. */
	struct req *r = xmalloc(sizeof(*r) + qlen);
	memset(r, 0, sizeof(*r));
	r->fw = fw;
	r->cl = *cl;
	r->qlen = qlen;
	memcpy(r->q, q, qlen);

	pthread_mutex_lock(&fw->lock);
	bool wake = fw->qhead == NULL;
	if (fw->qtail)
		fw->qtail->next = r;
	else
		fw->qhead = r;
	fw->qtail = r;
	pthread_mutex_unlock(&fw->lock);
	if (wake) {
		uint64_t one = 1;
		if (write(fw->queue_fd, &one, sizeof(one)) < 0)
			log_warn("forward: queue eventfd");
	}
	return 0;
}

/* ---- the thread ------------------------------------------------------------------ */

/* Points the channel at these recursors (tried in this order). */
static int
set_servers(struct forward *fw, const struct listen_addr *rs, size_t count)
{
	struct ares_addr_port_node nodes[CONFIG_MAX_RECURSORS];

	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < count && i < CONFIG_MAX_RECURSORS; i++) {
		const struct sockaddr_storage *ss = &rs[i].ss;
		struct ares_addr_port_node *n = &nodes[i];
		n->next = i + 1 < count ? &nodes[i + 1] : NULL;
		n->family = ss->ss_family;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ss;
			memcpy(&n->addr.addr4, &sin->sin_addr, 4);
			n->udp_port = n->tcp_port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *sin6 = (const void *)ss;
			memcpy(&n->addr.addr6, &sin6->sin6_addr, 16);
			n->udp_port = n->tcp_port = ntohs(sin6->sin6_port);
		}
	}
	return ares_set_servers_ports(fw->ch, nodes);
}

/* On the forward thread: adopt recursors handed over by a reload. Queries
 * in flight finish against the old servers (c-ares keeps them until
 * then); the cache is kept (its answers were good answers). */
static void
apply_pending_servers(struct forward *fw)
{
	struct listen_addr rs[CONFIG_MAX_RECURSORS];
	size_t count;

	pthread_mutex_lock(&fw->lock);
	if (!fw->servers_pending) {
		pthread_mutex_unlock(&fw->lock);
		return;
	}
	count = fw->server_count;
	memcpy(rs, fw->servers, count * sizeof(rs[0]));
	fw->servers_pending = false;
	pthread_mutex_unlock(&fw->lock);
	int rc = set_servers(fw, rs, count);
	if (rc != ARES_SUCCESS) {
		log_warnx("forward: reload, recursors not changed (%s)",
			  ares_strerror(rc));
		return;
	}
	for (size_t i = 0; i < count; i++)
		log_info("forward: recursor %s (reload)", rs[i].text);
}

void
forward_set_recursors(struct forward *fw, const struct listen_addr *rs,
		      size_t count)
{
	uint64_t one = 1;
	pthread_mutex_lock(&fw->lock);
	fw->server_count = MIN(count, (size_t)CONFIG_MAX_RECURSORS);
	memcpy(fw->servers, rs, fw->server_count * sizeof(rs[0]));
	fw->servers_pending = true;
	pthread_mutex_unlock(&fw->lock);
	if (write(fw->queue_fd, &one, sizeof(one)) < 0)
		log_warn("forward: reload wake-up");
}

static void *
forward_thread(void *arg)
{
	struct forward *fw = arg;
	struct epoll_event evs[64];

	for (;;) {
		struct timeval tv, *tvp = ares_timeout(fw->ch, NULL, &tv);
		int timeout = -1;
		if (tvp != NULL)
			timeout = (int)MIN((uint64_t)tvp->tv_sec * 1000 +
						   ((uint64_t)tvp->tv_usec + 999) / 1000,
					   60000u);
		int n = epoll_wait(fw->ep, evs, (int)ARRAY_SIZE(evs), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("forward: epoll_wait");
			break;
		}
		bool stop = false, queued = false;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint32_t e = evs[i].events;
			if (fd == fw->stop_fd)
				stop = true;
			else if (fd == fw->queue_fd)
				queued = true;
			else
				ares_process_fd(
				    fw->ch,
				    e & (EPOLLIN | EPOLLERR | EPOLLHUP)
					? fd
					: ARES_SOCKET_BAD,
				    e & EPOLLOUT ? fd : ARES_SOCKET_BAD);
		}
		/* Timeouts (and retries to the next recursor) happen here. */
		ares_process_fd(fw->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		if (stop)
			break;
		if (queued) {
			apply_pending_servers(fw);
			drain_queue(fw);
		}
	}
	return NULL;
}

/* ---- life cycle -------------------------------------------------------------------- */

struct forward *
forward_new(const struct config *cfg)
{
	struct ares_options o;
	int rc;

	if (cfg->recursor_count == 0)
		return NULL;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		fatalx("forward: c-ares library init (%s)", ares_strerror(rc));
	struct forward *fw = xcalloc(1, sizeof(*fw));
	fw->cfg = cfg;
	pthread_mutex_init(&fw->lock, NULL);
	fw->ep = epoll_create1(EPOLL_CLOEXEC);
	fw->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fw->queue_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fw->ep < 0 || fw->stop_fd < 0 || fw->queue_fd < 0)
		fatal("forward: epoll or eventfd");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fw->stop_fd};
	epoll_ctl(fw->ep, EPOLL_CTL_ADD, fw->stop_fd, &ev);
	ev.data.fd = fw->queue_fd;
	epoll_ctl(fw->ep, EPOLL_CTL_ADD, fw->queue_fd, &ev);
	rng_seed(&fw->rng);
	if (getrandom(fw->tag, sizeof(fw->tag), 0) != (ssize_t)sizeof(fw->tag))
		for (size_t i = 0; i < sizeof(fw->tag); i++)
			fw->tag[i] = (uint8_t)rng_next(&fw->rng);
	fw->loop_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
	fw->fail_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
	fw->cache = cache_new(cfg->cache_size);
	metrics_register(&fw->metrics);

	/* Nothing from /etc/resolv.conf (it points at us): an empty file
	 * for the options, and the servers replaced below before any query.
	 * No ARES_FLAG_EDNS (relay.c writes the OPT) and no IGNTC (a
	 * truncated UDP answer is asked again over TCP). */
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = (int)cfg->recursor_timeout_ms;
	o.tries = (int)cfg->recursor_tries;
	o.ndots = 1;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = fw;
	o.resolvconf_path = (char *)"/dev/null";
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
		   ARES_OPT_NDOTS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE |
		   ARES_OPT_RESOLVCONF | ARES_OPT_DOMAINS;
	if ((rc = ares_init_options(&fw->ch, &o, mask)) != ARES_SUCCESS)
		fatalx("forward: c-ares channel (%s)", ares_strerror(rc));

	if ((rc = set_servers(fw, cfg->recursors, cfg->recursor_count)) !=
	    ARES_SUCCESS)
		fatalx("forward: setting the recursors (%s)", ares_strerror(rc));
	for (size_t i = 0; i < cfg->recursor_count; i++)
		log_info("forward: recursor %s", cfg->recursors[i].text);
	log_info("forward: timeout %llu ms per try, %u rounds, cache %u "
		 "entries", (unsigned long long)cfg->recursor_timeout_ms,
		 cfg->recursor_tries, cfg->cache_size);
	return fw;
}

int
forward_start(struct forward *fw)
{
	if (pthread_create(&fw->thread, NULL, forward_thread, fw) != 0)
		return -SRV_EIO;
	fw->started = true;
	return 0;
}

void
forward_stop(struct forward *fw)
{
	uint64_t one = 1;
	if (fw == NULL || !fw->started)
		return;
	if (write(fw->stop_fd, &one, sizeof(one)) < 0)
		log_warn("forward: stop signal");
	pthread_join(fw->thread, NULL);
	fw->started = false;
}

void
forward_free(struct forward *fw)
{
	if (fw == NULL)
		return;
	/* Queued requests, then those in flight (ares_destroy() calls
	 * on_answer() with ARES_EDESTRUCTION): each still gets SERVFAIL. */
	struct req *list = fw->qhead;
	fw->qhead = fw->qtail = NULL;
	while (list != NULL) {
		struct req *r = list;
		list = r->next;
		reply_error(fw, r, WIRE_RCODE_SERVFAIL);
	}
	ares_destroy(fw->ch);
	ares_library_cleanup();
	cache_free(fw->cache);
	metrics_unregister(&fw->metrics);
	close(fw->ep);
	close(fw->stop_fd);
	close(fw->queue_fd);
	pthread_mutex_destroy(&fw->lock);
	free(fw);
}

void
forward_get_stats(struct forward *fw, struct forward_stats *st)
{
	struct cache_stats cs;
	/* Read without the thread's cooperation: each counter has one
	 * writer; a slightly stale sum is fine for diagnostics. */
	*st = fw->st;
	pthread_mutex_lock(&fw->lock);
	st->queries = fw->st.queries;
	st->queue_full = fw->st.queue_full;
	pthread_mutex_unlock(&fw->lock);
	cache_get_stats(fw->cache, &cs);
	st->cache_entries = cs.entries;
}
