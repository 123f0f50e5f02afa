/* SPDX-License-Identifier: MIT
 * metrics.c -- the counter registry and the Prometheus text rendering.
 * Owns:    the list of registered per-thread blocks (and the counts of
 *          blocks unregistered before), summing them, the exposition text.
 * Borrows: registered blocks, from metrics_register() to
 *          metrics_unregister().
 * Never:   any other room's state; allocation on the counting side.
 * Start reading at metrics_render().
 *
 * The registry's mutex is taken on register, unregister and read, never
 * when counting. */
#include "config_feat.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "util.h"
#include "wire.h"

struct row {
	const char *type, *family, *labels, *help;
};

static const struct row rows[M_COUNT] = {
#define X(id, t, family, labels, help) {#t, family, labels, help},
    METRICS_COUNTERS(X)
#undef X
};

static const struct row grows[MG_COUNT] = {
#define X(id, name, help) {"gauge", name, NULL, help},
    METRICS_GAUGES(X)
#undef X
};

static const uint64_t bounds_us[] = METRICS_HIST_BOUNDS_US;
_Static_assert(sizeof(bounds_us) / sizeof(bounds_us[0]) + 1 ==
		   METRICS_HIST_BUCKETS,
	       "METRICS_HIST_BUCKETS is the bounds plus +Inf");

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_block *reg_head; /* guarded by reg_lock */
static struct metrics_sum retired;     /* guarded by reg_lock */

/* ---- counting ------------------------------------------------------------ */

void
metrics_observe(struct metrics_block *b, uint64_t latency_us, uint64_t count)
{
	size_t i = 0;
	uint64_t v;

	if (count == 0)
		return;
	while (i < ARRAY_SIZE(bounds_us) && latency_us > bounds_us[i])
		i++;
	v = atomic_load_explicit(&b->hist[i], memory_order_relaxed);
	atomic_store_explicit(&b->hist[i], v + count, memory_order_relaxed);
	v = atomic_load_explicit(&b->hist_sum_us, memory_order_relaxed);
	atomic_store_explicit(&b->hist_sum_us, v + latency_us * count,
			      memory_order_relaxed);
}

enum metric_id
metrics_qtype_slot(uint16_t qtype)
{
	switch (qtype) {
	case WIRE_TYPE_A: return M_Q_A;
	case WIRE_TYPE_AAAA: return M_Q_AAAA;
	case WIRE_TYPE_SRV: return M_Q_SRV;
	case WIRE_TYPE_TXT: return M_Q_TXT;
	case WIRE_TYPE_SOA: return M_Q_SOA;
	case WIRE_TYPE_NS: return M_Q_NS;
	case 12: return M_Q_PTR;
	case WIRE_TYPE_MX: return M_Q_MX;
	case WIRE_TYPE_CNAME: return M_Q_CNAME;
	case 65: return M_Q_HTTPS;
	case WIRE_TYPE_ANY: return M_Q_ANY;
	default: return M_Q_OTHER;
	}
}

enum metric_id
metrics_rcode_slot(uint16_t rcode)
{
	switch (rcode) {
	case WIRE_RCODE_NOERROR: return M_RCODE_NOERROR;
	case WIRE_RCODE_FORMERR: return M_RCODE_FORMERR;
	case WIRE_RCODE_SERVFAIL: return M_RCODE_SERVFAIL;
	case WIRE_RCODE_NXDOMAIN: return M_RCODE_NXDOMAIN;
	case WIRE_RCODE_NOTIMP: return M_RCODE_NOTIMP;
	case WIRE_RCODE_REFUSED: return M_RCODE_REFUSED;
	case WIRE_RCODE_BADVERS: return M_RCODE_BADVERS;
	default: return M_RCODE_OTHER;
	}
}

/* ---- the registry ---------------------------------------------------------- */

static void
add_block(struct metrics_sum *s, const struct metrics_block *b, bool gauges)
{
	for (size_t i = 0; i < M_COUNT; i++)
		if (gauges || strcmp(rows[i].type, "gauge") != 0)
			s->c[i] += atomic_load_explicit(&b->c[i],
							memory_order_relaxed);
	for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++)
		s->hist[i] += atomic_load_explicit(&b->hist[i],
						   memory_order_relaxed);
	s->hist_sum_us += atomic_load_explicit(&b->hist_sum_us,
					       memory_order_relaxed);
}

void
metrics_register(struct metrics_block *b)
{
	for (size_t i = 0; i < M_COUNT; i++)
		atomic_init(&b->c[i], 0);
	for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++)
		atomic_init(&b->hist[i], 0);
	atomic_init(&b->hist_sum_us, 0);
	pthread_mutex_lock(&reg_lock);
	b->next = reg_head;
	reg_head = b;
	pthread_mutex_unlock(&reg_lock);
}

void
metrics_unregister(struct metrics_block *b)
{
	pthread_mutex_lock(&reg_lock);
	for (struct metrics_block **p = &reg_head; *p != NULL; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			add_block(&retired, b, false);
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

void
metrics_read(struct metrics_sum *out)
{
	pthread_mutex_lock(&reg_lock);
	*out = retired;
	for (const struct metrics_block *b = reg_head; b != NULL; b = b->next)
		add_block(out, b, true);
	pthread_mutex_unlock(&reg_lock);
}

/* ---- rendering ----------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, len; /* len may pass cap: the length needed */
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* Microseconds as decimal seconds without trailing zeros: 2500 -> 0.0025. */
static const char *
seconds(uint64_t us, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
		 (unsigned long long)(us % 1000000));
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

static void
head(struct out *o, const char *family, const char *help, const char *type)
{
	put(o, "# HELP " METRICS_PREFIX "%s %s\n", family, help);
	put(o, "# TYPE " METRICS_PREFIX "%s %s\n", family, type);
}

size_t
metrics_render(char *buf, size_t cap, const struct metrics_sum *sum,
	       const double gauges[MG_COUNT])
{
	struct out o = {buf, cap, 0};
	char le[32], total[32];
	uint64_t cum = 0;

	if (cap > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < M_COUNT; i++) {
		const struct row *r = &rows[i];
		if (i == 0 || strcmp(r->family, rows[i - 1].family) != 0)
			head(&o, r->family, r->help, r->type);
		if (r->labels != NULL)
			put(&o, METRICS_PREFIX "%s{%s} %llu\n", r->family,
			    r->labels, (unsigned long long)sum->c[i]);
		else
			put(&o, METRICS_PREFIX "%s %llu\n", r->family,
			    (unsigned long long)sum->c[i]);
	}

	head(&o, "answer_duration_seconds",
	     "time from receiving a query to sending its reply (a UDP batch "
	     "is timed as a whole)", "histogram");
	for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
		cum += sum->hist[i];
		if (i < ARRAY_SIZE(bounds_us))
			seconds(bounds_us[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		put(&o, METRICS_PREFIX "answer_duration_seconds_bucket{le=\"%s\"} "
			"%llu\n", le, (unsigned long long)cum);
	}
	put(&o, METRICS_PREFIX "answer_duration_seconds_sum %s\n",
	    seconds(sum->hist_sum_us, total, sizeof(total)));
	put(&o, METRICS_PREFIX "answer_duration_seconds_count %llu\n",
	    (unsigned long long)cum);

	for (size_t i = 0; i < MG_COUNT; i++) {
		head(&o, grows[i].family, grows[i].help, "gauge");
		put(&o, METRICS_PREFIX "%s %.15g\n", grows[i].family, gauges[i]);
	}
	return o.len;
}
