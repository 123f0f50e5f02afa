/* SPDX-License-Identifier: MIT
 * lookup.c -- SRV and A/AAAA lookups with c-ares, RFC 2782 target order.
 * Owns:    one ares channel per struct lookup (c-ares appears here and in
 *          forward.c only), the queries in flight on it, parsed targets.
 * Never:   Consul, the zone, output formatting.
 * Start reading at lookup_order() (pure), then lookup_srv().
 *
 * Queries run to completion inside each call: the caller is a command-line
 * tool, so a small poll() loop over ares_getsock() is all the event loop
 * it needs (c-ares 1.18: ares_getsock, ares_timeout, ares_process_fd). */
#include "config_feat.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <arpa/nameser.h> pulls in <sys/param.h>, whose MIN and MAX util.h
 * defines its own way. */
#undef MIN
#undef MAX

#include "err.h"
#include "lookup.h"
#include "util.h"

/* ---- RFC 2782 order (pure) --------------------------------------------- */

static int
cmp_priority(const void *a, const void *b)
{
	const struct lookup_target *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return 0;
}

static void
swap(struct lookup_target *a, struct lookup_target *b)
{
	struct lookup_target t = *a;
	*a = *b;
	*b = t;
}

/* One weighted choice among t[0..n), moved to t[0]. */
static void
pick_first(struct lookup_target *t, size_t n, lookup_rand_fn *rnd, void *arg)
{
	uint64_t sum = 0, run = 0, r;
	size_t i, zeros = 0, chosen = 0;
	int pass;

	for (i = 0; i < n; i++) {
		sum += t[i].weight;
		zeros += t[i].weight == 0;
	}
	if (sum == 0) {
		chosen = rnd(arg, (uint32_t)n);
		swap(&t[0], &t[chosen]);
		return;
	}
	/* RFC 2782: zero-weight RRs first in the running sum, then a number
	 * in 0..sum. With no zero-weight RR, 0 would favour whichever RR
	 * came first, so the draw is then from 1..sum. */
	r = zeros > 0 ? rnd(arg, (uint32_t)MIN(sum + 1, UINT32_MAX))
		      : 1 + (uint64_t)rnd(arg, (uint32_t)MIN(sum, UINT32_MAX));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if ((pass == 0) != (t[i].weight == 0))
				continue;
			run += t[i].weight;
			if (run >= r) {
				chosen = i;
				goto found;
			}
		}
	}
	chosen = n - 1; /* unreachable: run reaches sum >= r */
found:
	swap(&t[0], &t[chosen]);
}

void
lookup_order(struct lookup_target *t, size_t count, lookup_rand_fn *rnd,
	     void *arg)
{
	size_t lo, hi, pos;

	/* Insertion sort: stable (answer order breaks no ties, the weighted
	 * draw does) and the sets are small. */
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && cmp_priority(&t[j - 1], &t[j]) > 0;
		     j--)
			swap(&t[j - 1], &t[j]);
	for (lo = 0; lo < count; lo = hi) {
		for (hi = lo + 1; hi < count && t[hi].priority == t[lo].priority;
		     hi++)
			;
		for (pos = lo; pos + 1 < hi; pos++)
			pick_first(t + pos, hi - pos, rnd, arg);
	}
}

/* ---- the channel -------------------------------------------------------- */

struct lookup {
	ares_channel ch;
	unsigned pending; /* queries whose callback has not run yet */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void
global_init(void)
{
	init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

struct lookup *
lookup_new(const char *server, uint64_t timeout_ms, char *err, size_t errlen)
{
	struct ares_options opts;
	struct lookup *l;
	int rc, mask;

	pthread_once(&init_once, global_init);
	if (init_rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(init_rc));
		return NULL;
	}
	memset(&opts, 0, sizeof(opts));
	/* Two tries; c-ares doubles the wait for the second, so the first
	 * gets a third of the budget. No search list: names are absolute. */
	opts.timeout = (int)MAX(100, MIN(timeout_ms / 3, 60000));
	opts.tries = 2;
	opts.flags = ARES_FLAG_NOSEARCH;
	mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
	l = xcalloc(1, sizeof(*l));
	rc = ares_init_options(&l->ch, &opts, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(l);
		return NULL;
	}
	if (server != NULL) {
		rc = ares_set_servers_ports_csv(l->ch, server);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "--server %s: use ADDR, ADDR:PORT "
				 "or [V6]:PORT with a numeric address (%s)",
				 server, ares_strerror(rc));
			lookup_free(l);
			return NULL;
		}
	}
	return l;
}

void
lookup_free(struct lookup *l)
{
	if (l == NULL)
		return;
	ares_destroy(l->ch);
	free(l);
}

/* Runs the channel until every query's callback has run. */
static void
run(struct lookup *l)
{
	while (l->pending > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		nfds_t n = 0;
		int bits, i, rc, wait_ms;

		bits = ares_getsock(l->ch, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if (ARES_GETSOCK_READABLE(bits, i))
				ev |= POLLIN;
			if (ARES_GETSOCK_WRITABLE(bits, i))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = ev;
			pfd[n].revents = 0;
			n++;
		}
		tvp = ares_timeout(l->ch, NULL, &tv);
		wait_ms = tvp ? (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) + 1
			      : 100;
		rc = poll(pfd, n, wait_ms);
		if (rc <= 0) {
			/* timeouts and retries are driven from here */
			ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (nfds_t k = 0; k < n; k++) {
			short re = pfd[k].revents;
			if (re == 0)
				continue;
			ares_process_fd(l->ch,
					(re & (POLLIN | POLLERR | POLLHUP))
						? pfd[k].fd
						: ARES_SOCKET_BAD,
					(re & POLLOUT) ? pfd[k].fd
						       : ARES_SOCKET_BAD);
		}
	}
}

static int
map_status(int status, const char *name, const char *type, char *err,
	   size_t errlen)
{
	int rc;

	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
		snprintf(err, errlen, "%s %s: no such name (NXDOMAIN)", name,
			 type);
		return -SRV_ENOENT;
	case ARES_ENODATA:
		snprintf(err, errlen, "%s %s: no records (NODATA)", name, type);
		return -SRV_ENOENT;
	case ARES_ETIMEOUT:
		rc = -SRV_ETIMEOUT;
		break;
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_EFORMERR:
	case ARES_EBADRESP:
	case ARES_ENOTIMP:
		rc = -SRV_EPROTO;
		break;
	default:
		rc = -SRV_EIO;
		break;
	}
	snprintf(err, errlen, "%s %s: %s", name, type, ares_strerror(status));
	return rc;
}

/* ---- SRV ------------------------------------------------------------------ */

struct srv_ctx {
	struct lookup *l;
	int status;
	struct lookup_target *t;
	size_t count;
};

static void
on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct srv_ctx *c = arg;
	struct ares_srv_reply *head = NULL, *r;
	size_t n = 0;

	(void)timeouts;
	c->l->pending--;
	c->status = status;
	if (status != ARES_SUCCESS)
		return;
	c->status = ares_parse_srv_reply(abuf, alen, &head);
	if (c->status != ARES_SUCCESS)
		return;
	for (r = head; r != NULL; r = r->next)
		n++;
	c->t = xcalloc(n ? n : 1, sizeof(*c->t));
	for (r = head; r != NULL; r = r->next) {
		/* RFC 2782: a target of "." means "decidedly not here". */
		if (r->host == NULL || r->host[0] == '\0' ||
		    strcmp(r->host, ".") == 0)
			continue;
		struct lookup_target *t = &c->t[c->count++];
		t->host = xstrdup(r->host);
		size_t hl = strlen(t->host);
		if (hl > 1 && t->host[hl - 1] == '.')
			t->host[hl - 1] = '\0';
		t->priority = r->priority;
		t->weight = r->weight;
		t->port = r->port;
	}
	ares_free_data(head);
	if (c->count == 0)
		c->status = ARES_ENODATA;
}

int
lookup_srv(struct lookup *l, const char *name, struct lookup_target **out,
	   size_t *count, char *err, size_t errlen)
{
	struct srv_ctx c = {.l = l, .status = ARES_ETIMEOUT};
	int rc;

	*out = NULL;
	*count = 0;
	l->pending++;
	ares_query(l->ch, name, ns_c_in, ns_t_srv, on_srv, &c);
	run(l);
	rc = map_status(c.status, name, "SRV", err, errlen);
	if (rc != 0) {
		lookup_targets_free(c.t, c.count);
		return rc;
	}
	*out = c.t;
	*count = c.count;
	return 0;
}

/* ---- A / AAAA --------------------------------------------------------------- */

#define ADDRS_MAX 64

struct addr_ctx {
	struct lookup *l;
	bool v6;
	int status;
	char addrs[ADDRS_MAX][46];
	size_t count;
};

static void
on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct addr_ctx *c = arg;
	int n = ADDRS_MAX, i;

	(void)timeouts;
	c->l->pending--;
	c->status = status;
	if (status != ARES_SUCCESS)
		return;
	if (c->v6) {
		struct ares_addr6ttl a[ADDRS_MAX];
		c->status = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
		for (i = 0; c->status == ARES_SUCCESS && i < n; i++)
			inet_ntop(AF_INET6, &a[i].ip6addr,
				  c->addrs[c->count++], 46);
	} else {
		struct ares_addrttl a[ADDRS_MAX];
		c->status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
		for (i = 0; c->status == ARES_SUCCESS && i < n; i++)
			inet_ntop(AF_INET, &a[i].ipaddr, c->addrs[c->count++],
				  46);
	}
	if (c->status == ARES_SUCCESS && c->count == 0)
		c->status = ARES_ENODATA;
}

static void
query_addrs(struct lookup *l, const char *name, struct addr_ctx *c4,
	    struct addr_ctx *c6)
{
	memset(c4, 0, sizeof(*c4));
	memset(c6, 0, sizeof(*c6));
	c4->l = c6->l = l;
	c6->v6 = true;
	c4->status = c6->status = ARES_ETIMEOUT;
	l->pending += 2;
	ares_query(l->ch, name, ns_c_in, ns_t_a, on_addr, c4);
	ares_query(l->ch, name, ns_c_in, ns_t_aaaa, on_addr, c6);
}

/* Which of two failures to report: a real error over "not found". */
static int
worse(int a, int b)
{
	if (a == ARES_SUCCESS)
		return b;
	if (b == ARES_SUCCESS)
		return a;
	if (a == ARES_ENOTFOUND || a == ARES_ENODATA)
		return b;
	return a;
}

int
lookup_addrs(struct lookup *l, const char *name, uint16_t port,
	     struct lookup_target **out, size_t *count, char *err,
	     size_t errlen)
{
	struct addr_ctx *c = xcalloc(2, sizeof(*c));
	struct lookup_target *t;
	size_t n, i, k = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	query_addrs(l, name, &c[0], &c[1]);
	run(l);
	n = c[0].count + c[1].count;
	if (n == 0) {
		int st = worse(c[0].status, c[1].status);
		rc = map_status(st == ARES_SUCCESS ? ARES_ENODATA : st, name,
				"A/AAAA", err, errlen);
		goto out;
	}
	t = xcalloc(n, sizeof(*t));
	for (int f = 0; f < 2; f++) {
		for (i = 0; i < c[f].count; i++, k++) {
			t[k].host = xstrdup(name);
			t[k].port = port;
			t[k].is_v6 = f == 1;
			memcpy(t[k].addr, c[f].addrs[i], sizeof(t[k].addr));
		}
	}
	*out = t;
	*count = n;
out:
	free(c);
	return rc;
}

size_t
lookup_resolve(struct lookup *l, struct lookup_target *t, size_t count)
{
	struct addr_ctx *c = xcalloc(count ? 2 * count : 1, sizeof(*c));
	unsigned char buf[sizeof(struct in6_addr)];
	size_t i, got = 0;

	for (i = 0; i < count; i++) {
		if (t[i].addr[0] != '\0')
			continue;
		if (inet_pton(AF_INET, t[i].host, buf) == 1 ||
		    inet_pton(AF_INET6, t[i].host, buf) == 1) {
			snprintf(t[i].addr, sizeof(t[i].addr), "%s", t[i].host);
			t[i].is_v6 = strchr(t[i].host, ':') != NULL;
			continue;
		}
		query_addrs(l, t[i].host, &c[2 * i], &c[2 * i + 1]);
	}
	run(l);
	for (i = 0; i < count; i++) {
		if (t[i].addr[0] == '\0') {
			if (c[2 * i].count > 0) {
				memcpy(t[i].addr, c[2 * i].addrs[0], 46);
			} else if (c[2 * i + 1].count > 0) {
				memcpy(t[i].addr, c[2 * i + 1].addrs[0], 46);
				t[i].is_v6 = true;
			}
		}
		got += t[i].addr[0] != '\0';
	}
	free(c);
	return got;
}

void
lookup_targets_free(struct lookup_target *t, size_t count)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(t[i].host);
	free(t);
}
