/* SPDX-License-Identifier: MIT
 * metrics.h -- the counter list, per-thread counter blocks and their sum.
 * Owns:    every metric name (one X-macro list yields the enum, the names,
 *          the labels and the help text), struct metrics_block (one per
 *          counting thread), the registry that sums blocks on read, and
 *          rendering in the Prometheus text format 0.0.4.
 * Never:   any other room's state: values that are not per-thread counters
 *          (Consul status, gauges) are handed to metrics_render() by the
 *          caller (httpd.c).
 *
 * Counting is free of shared writes: a block has exactly ONE writing thread
 * (a UDP worker, the TCP thread, the watch thread...), which bumps its own
 * slots with a relaxed load + relaxed store (a plain add on x86-64 and
 * arm64, no lock prefix, no shared cache line). Readers sum every block
 * with relaxed loads, so a read is a slightly stale but never torn value.
 *
 * To count something new: add a row here, bump it from the room that sees
 * it (metrics_inc() on that thread's block), and test it in that room.
 *
 * Forwarding (forward.c's own block): M_FORWARDED (a query sent to an
 * upstream), M_UPSTREAM_ERRORS (no usable answer: timeout, error, garbage),
 * the forward cache and loop rows, and the rcode (M_RCODE_*) and TC of
 * every reply the forward thread sends; the listeners count the qtype, the
 * ACL refusals and a full forward queue. */
#ifndef SRVSHIM_METRICS_H
#define SRVSHIM_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_PREFIX "srvshim_"

/* X(id, type, family, labels, help): type is counter or gauge (a per-thread
 * gauge: the thread sets it, the sum over threads is the value). Rows of
 * one family are adjacent; the first row's help is used. */
#define METRICS_COUNTERS(X)                                                  \
	X(Q_A, counter, "queries_total", "qtype=\"A\"",                      \
	  "DNS queries received, by query type")                             \
	X(Q_AAAA, counter, "queries_total", "qtype=\"AAAA\"", "")            \
	X(Q_SRV, counter, "queries_total", "qtype=\"SRV\"", "")              \
	X(Q_TXT, counter, "queries_total", "qtype=\"TXT\"", "")              \
	X(Q_SOA, counter, "queries_total", "qtype=\"SOA\"", "")              \
	X(Q_NS, counter, "queries_total", "qtype=\"NS\"", "")                \
	X(Q_PTR, counter, "queries_total", "qtype=\"PTR\"", "")              \
	X(Q_MX, counter, "queries_total", "qtype=\"MX\"", "")                \
	X(Q_CNAME, counter, "queries_total", "qtype=\"CNAME\"", "")          \
	X(Q_HTTPS, counter, "queries_total", "qtype=\"HTTPS\"", "")          \
	X(Q_ANY, counter, "queries_total", "qtype=\"ANY\"", "")              \
	X(Q_OTHER, counter, "queries_total", "qtype=\"other\"", "")          \
	X(RCODE_NOERROR, counter, "responses_total", "rcode=\"NOERROR\"",    \
	  "DNS replies sent, by response code")                              \
	X(RCODE_FORMERR, counter, "responses_total", "rcode=\"FORMERR\"", "") \
	X(RCODE_SERVFAIL, counter, "responses_total", "rcode=\"SERVFAIL\"",  \
	  "")                                                                \
	X(RCODE_NXDOMAIN, counter, "responses_total", "rcode=\"NXDOMAIN\"",  \
	  "")                                                                \
	X(RCODE_NOTIMP, counter, "responses_total", "rcode=\"NOTIMP\"", "")  \
	X(RCODE_REFUSED, counter, "responses_total", "rcode=\"REFUSED\"", "") \
	X(RCODE_BADVERS, counter, "responses_total", "rcode=\"BADVERS\"", "") \
	X(RCODE_OTHER, counter, "responses_total", "rcode=\"other\"", "")    \
	X(TCP_QUERIES, counter, "tcp_queries_total", NULL,                   \
	  "DNS queries received over TCP (also counted by qtype)")           \
	X(TRUNCATED, counter, "truncated_total", NULL,                       \
	  "replies sent with TC set")                                        \
	X(DROPPED, counter, "dropped_total", NULL,                           \
	  "queries not answered: answers, port 0, oversized, send failed")   \
	X(FORWARDED, counter, "forwarded_queries_total", NULL,               \
	  "queries outside the zone handed to an upstream resolver")         \
	X(UPSTREAM_ERRORS, counter, "upstream_errors_total", NULL,           \
	  "upstream resolver failures (timeout, error, malformed reply)")    \
	X(FWD_CACHE_HIT, counter, "forward_cache_total", "result=\"hit\"",   \
	  "queries outside the zone looked up in the forward cache")         \
	X(FWD_CACHE_MISS, counter, "forward_cache_total",                    \
	  "result=\"miss\"", "")                                             \
	X(FWD_LOOPS, counter, "forward_loops_total", NULL,                   \
	  "forwarded queries that came back to srvshimd (SERVFAIL)")         \
	X(FWD_QUEUE_FULL, counter, "forward_queue_full_total", NULL,         \
	  "queries answered SERVFAIL because the forward queue was full")    \
	X(ACL_REFUSED, counter, "refused_clients_total", NULL,               \
	  "queries from clients outside --allow (REFUSED)")                  \
	X(TCP_ACCEPTED, counter, "tcp_connections_accepted_total", NULL,     \
	  "TCP connections accepted")                                        \
	X(TCP_CLOSED_IDLE, counter, "tcp_connections_closed_total",          \
	  "reason=\"idle\"", "TCP connections closed by srvshimd, by reason") \
	X(TCP_CLOSED_CAP, counter, "tcp_connections_closed_total",           \
	  "reason=\"cap\"", "")                                              \
	X(TCP_CLOSED_OTHER, counter, "tcp_connections_closed_total",         \
	  "reason=\"other\"", "")                                            \
	X(TCP_OPEN, gauge, "tcp_connections_open", NULL,                     \
	  "TCP connections open now")                                        \
	X(CONSUL_OK, counter, "consul_requests_total", "outcome=\"ok\"",     \
	  "requests to Consul's HTTP API, by outcome")                       \
	X(CONSUL_ERROR, counter, "consul_requests_total",                    \
	  "outcome=\"error\"", "")                                           \
	X(CONSUL_TIMEOUT, counter, "consul_requests_total",                  \
	  "outcome=\"timeout\"", "")                                         \
	X(CONSUL_HTTP_429, counter, "consul_requests_total",                 \
	  "outcome=\"http_429\"", "")                                        \
	X(CONSUL_HTTP_5XX, counter, "consul_requests_total",                 \
	  "outcome=\"http_5xx\"", "")                                        \
	X(CONSUL_HTTP_OTHER, counter, "consul_requests_total",               \
	  "outcome=\"http_other\"", "")                                      \
	X(CONSUL_MALFORMED, counter, "consul_requests_total",                \
	  "outcome=\"malformed\"", "")                                       \
	X(PUBLISHES, counter, "snapshot_publishes_total", NULL,              \
	  "zone snapshots published")

/* Process-wide values the caller of metrics_render() supplies, in order. */
#define METRICS_GAUGES(X)                                                    \
	X(SYNCED, "synced", "1 once the first complete Consul sync is done")  \
	X(CONSUL_CONNECTED, "consul_connected",                              \
	  "1 while the last request to Consul succeeded")                    \
	X(LAST_SYNC_AGE, "last_sync_age_seconds",                            \
	  "seconds since the last good reply from Consul (-1: never)")       \
	X(DATA_AGE, "data_age_seconds",                                      \
	  "0 while every watch is healthy, else seconds since they all were " \
	  "(-1: never synced)")                                              \
	X(CONSUL_INDEX, "consul_index",                                      \
	  "X-Consul-Index of the service list")                              \
	X(SERVICES, "services", "services in the current snapshot")          \
	X(INSTANCES, "instances", "served instances in the current snapshot") \
	X(WATCHES_OPEN, "watches_open", "blocking queries open to Consul")   \
	X(WATCHES_MAX, "watches_max", "the --max-watches cap")               \
	X(SERIAL, "soa_serial", "SOA serial of the current snapshot")

enum metric_id {
#define X(id, type, family, labels, help) M_##id,
	METRICS_COUNTERS(X)
#undef X
	M_COUNT
};

enum metric_gauge {
#define X(id, name, help) MG_##id,
	METRICS_GAUGES(X)
#undef X
	MG_COUNT
};

/* Answer latency buckets (upper bounds, microseconds); +Inf follows. */
#define METRICS_HIST_BOUNDS_US                                               \
	{10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,   \
	 100000, 250000}
#define METRICS_HIST_BUCKETS 15 /* the bounds above, then +Inf */

/* One thread's counters. Embed it in the thread's own struct (not in an
 * array shared with other threads) and register it once. */
struct metrics_block {
	_Atomic uint64_t c[M_COUNT];
	_Atomic uint64_t hist[METRICS_HIST_BUCKETS]; /* not cumulative */
	_Atomic uint64_t hist_sum_us;
	struct metrics_block *next; /* the registry's list; guarded there */
};

/* A plain, summed copy. */
struct metrics_sum {
	uint64_t c[M_COUNT];
	uint64_t hist[METRICS_HIST_BUCKETS];
	uint64_t hist_sum_us;
};

/* Only the block's own thread calls these. */
static inline void
metrics_add(struct metrics_block *b, enum metric_id id, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&b->c[id], memory_order_relaxed);
	atomic_store_explicit(&b->c[id], v + n, memory_order_relaxed);
}

static inline void
metrics_inc(struct metrics_block *b, enum metric_id id)
{
	metrics_add(b, id, 1);
}

static inline void
metrics_set(struct metrics_block *b, enum metric_id id, uint64_t v)
{
	atomic_store_explicit(&b->c[id], v, memory_order_relaxed);
}

/* Records count observations of one latency (the same for all of them:
 * one batch). */
void metrics_observe(struct metrics_block *b, uint64_t latency_us,
		     uint64_t count);

/* The M_Q_* row for a query type, M_Q_OTHER for the rest. */
enum metric_id metrics_qtype_slot(uint16_t qtype);
/* The M_RCODE_* row for a (possibly extended) rcode. */
enum metric_id metrics_rcode_slot(uint16_t rcode);

/* Zeroes b and adds it to the registry. Any thread, not the query path. */
void metrics_register(struct metrics_block *b);
/* Removes b, keeping its counts (so totals never go backwards; per-thread
 * gauges are dropped). Call before freeing b. */
void metrics_unregister(struct metrics_block *b);
/* Sums every registered block, plus those unregistered before. */
void metrics_read(struct metrics_sum *out);

/* Renders the exposition (text format 0.0.4): every counter family with
 * HELP and TYPE lines, the latency histogram, then the gauges. Writes at
 * most cap bytes (NUL included); returns the length it needed, as
 * snprintf() does. */
size_t metrics_render(char *buf, size_t cap, const struct metrics_sum *sum,
		      const double gauges[MG_COUNT]);

#endif
