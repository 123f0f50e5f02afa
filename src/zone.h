/* SPDX-License-Identifier: MIT
 * zone.h -- immutable snapshots of the served zone (default service.local).
 * Owns:    compiling one Consul service into its DNS form (struct zsvc),
 *          indexing all of them into a snapshot (struct zone), publishing a
 *          snapshot RCU-style (liburcu QSBR) and name lookup.
 * Borrows: svc_record arrays from watch.c, only during zone_svc_compile().
 * Never:   I/O, JSON, c-ares, curl. A published snapshot is never modified.
 *
 * Threads: compile, zone_new, zone_publish and zone_svc_unref run on one
 * thread (the watch thread). Readers (worker threads, registered with
 * urcu-qsbr) call zone_current() and must not keep the pointer past a
 * quiescent state. */
#ifndef SRVSHIM_ZONE_H
#define SRVSHIM_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define ZONE_NAME_MAX 255  /* wire length of a name, RFC 1035 2.3.4 */
#define ZONE_MAX_NS 8

struct zone_svc_ttl {
	char *name; /* service name, as Consul spells it (compared case-insensitively) */
	uint32_t ttl_s;
};

/* What a snapshot needs from the configuration. Copied into every zsvc and
 * zone that is built from it, so a reload never changes a published one. */
struct zone_cfg {
	uint8_t apex[ZONE_NAME_MAX]; /* wire form, lower case */
	size_t apex_len;
	char apex_text[ZONE_NAME_MAX + 1]; /* "service.local", no final dot */
	uint32_t ttl_s;	    /* positive TTL (default 0) */
	uint32_t neg_ttl_s; /* SOA minimum and negative TTL (RFC 2308) */
	bool only_passing;  /* drop warning instances too */
	uint32_t weight_scale; /* SRV weight multiplier (1; 256 for HAProxy) */
	const struct zone_svc_ttl *svc_ttls; /* per-service TTL overrides */
	size_t svc_ttl_count;
	/* Addresses of this server, for the apex NS record (each is named by
	 * its <hex>.addr form, so it resolves statelessly). */
	struct {
		int family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];
	} ns[ZONE_MAX_NS];
	size_t ns_count;
};

/* Fills c from the zone name ("service.local", a trailing dot allowed) and
 * defaults (ttl 0, neg ttl 5 s, weight scale 1, no NS addresses: 127.0.0.1
 * is used). Returns 0 or -SRV_EFORMAT for a name that is not a valid DNS
 * name. */
int zone_cfg_init(struct zone_cfg *c, const char *apex_text);

struct zsvc; /* one compiled service: immutable, reference-counted */
struct zone; /* one snapshot */

/* Compiles one service into its DNS form: distinct A/AAAA lists, SRV
 * records, tag subsets, names. Instances that are not served (critical, or
 * warning with only_passing) are kept for diagnostics but not answered.
 * Returns new with one reference, or NULL when the service name cannot be
 * served in DNS (not a valid label, or the reserved name "addr"; logged
 * once per name). Borrows rec and cfg. */
struct zsvc *zone_svc_compile(const struct zone_cfg *cfg,
			      const struct svc_record *rec);
struct zsvc *zone_svc_ref(struct zsvc *s);
void zone_svc_unref(struct zsvc *s); /* takes NULL */
const char *zone_svc_name(const struct zsvc *s);
size_t zone_svc_instance_count(const struct zsvc *s); /* served ones */

/* Builds a snapshot over count compiled services (taking one reference on
 * each) with the given SOA serial. synced=false builds the empty snapshot
 * served before the first complete Consul sync: in-zone queries then get
 * SERVFAIL. Returns new; free with zone_free() (or let zone_publish() do
 * it). Services whose names collide (case-insensitively) keep the first. */
struct zone *zone_new(const struct zone_cfg *cfg, struct zsvc *const *svcs,
		      size_t count, uint32_t serial, bool synced);
/* Like zone_new(), but reuses prev's index (prev answers as before): only the
 * services that differ between prev's list and svcs (by pointer; watch.c
 * passes its services in name order, so a diff is one pass) are
 * re-indexed, copying just the index pages they touch. So a publish after
 * one service changed costs that service's work, not the zone's. Falls
 * back to a full build when many services changed, the index outgrew its
 * pages, or service names collide. prev may be NULL. The result answers
 * exactly as zone_new(cfg, svcs, count, ...) would. prev and the result
 * share index pages, linked so that either may be freed first; a snapshot
 * has at most one such derived snapshot at a time (another call on the
 * same prev builds in full). */
struct zone *zone_new_from(const struct zone *prev, const struct zone_cfg *cfg,
			   struct zsvc *const *svcs, size_t count,
			   uint32_t serial, bool synced);
void zone_free(struct zone *z); /* takes NULL */

/* Makes z the current snapshot (takes z), waits for every registered
 * reader to pass a quiescent state, then frees the previous one. */
void zone_publish(struct zone *z);
/* The current snapshot, or NULL before the first zone_publish(). Readers
 * must be registered urcu-qsbr threads (or the publishing thread). */
const struct zone *zone_current(void);
/* Frees the current snapshot at shutdown, after readers have stopped. */
void zone_shutdown(void);

uint32_t zone_serial(const struct zone *z);
bool zone_synced(const struct zone *z);
/* Marks a snapshot not yet published as stale: its data is older than
 * --max-stale allows, so in-zone queries get SERVFAIL as before the first
 * sync. The watch publishes such a copy when the data goes stale and an
 * unmarked one when it is fresh again, so the query path reads one flag in
 * the snapshot it already holds: no clock, no shared variable. */
void zone_set_stale(struct zone *z);
bool zone_stale(const struct zone *z);
size_t zone_service_count(const struct zone *z);
size_t zone_instance_count(const struct zone *z); /* served instances */
const struct zone_cfg *zone_config(const struct zone *z);

/* ---- lookup, for answer.c --------------------------------------------- */

enum zone_kind {
	ZK_SERVICE,  /* <svc>.<apex> and <tag>.<svc>.<apex>: A, AAAA, SRV, TXT */
	ZK_RFC2782,  /* _<svc>._tcp, _<svc>._udp, _<svc>._<tag>: SRV only */
	ZK_EMPTY,    /* empty non-terminal (_tcp.<apex>, addr.<apex>): NODATA */
};

/* One served instance in wire-ready form. */
struct zinst {
	uint8_t family;	  /* 4, 6, or 0 for a host name address */
	uint8_t addr[16];
	uint16_t port;
	uint16_t weight;  /* SRV weight, already scaled and clamped */
	uint16_t addr_id; /* index of this address in the service's distinct list */
	/* Precomputed records (the query path copies them whole): the A or
	 * AAAA answer record, owner 0xC00C (the question name), class IN, the
	 * service's TTL; and the SRV record up to its target (owner 0xC00C,
	 * type, class, TTL, RDLENGTH 0 to be set, priority 1, weight, port). */
	uint8_t rr_addr_len;		/* 16 (A), 28 (AAAA), 0 (host name) */
	uint8_t rr_addr[28];
	uint8_t rr_srv[18];
	uint8_t target_len;	/* wire length of target */
	const uint8_t *target;	/* for family 0: the full host name, wire
				 * form (owned by the compiled service);
				 * else hex[] */
	uint8_t hex[33];	/* the <hex> label, length byte included */
};

/* A set of served instances: the whole service or one tag's subset. */
struct zset {
	const uint32_t *inst; /* indexes into the service's zinst array */
	uint32_t count;
	const uint32_t *v4; /* indexes of instances with distinct IPv4 */
	uint32_t v4_count;
	const uint32_t *v6;
	uint32_t v6_count;
	/* SRV fast path: the <hex> label length (9 or 33) when every
	 * instance of the set has a distinct address of one family, so every
	 * SRV record and its glue have a fixed shape; 0 otherwise. */
	uint8_t srv_hex_len;
};

struct zone_hit {
	enum zone_kind kind;
	const struct zinst *inst; /* the service's instance array */
	size_t addr_count;	  /* distinct addresses in the service */
	const struct zset *set;	  /* NULL for ZK_EMPTY */
	uint32_t ttl_s;
	/* TXT: Service.Meta of the set's instances, as ready RDATA strings */
	const uint8_t *txt;	  /* concatenated <len><key=value> strings */
	size_t txt_len;
};

/* Looks up a lower-case wire name that lies strictly below the apex
 * (relative part rel of length rel_len, without the apex labels).
 * Returns true and fills *hit when the name exists. */
bool zone_lookup(const struct zone *z, const uint8_t *rel, size_t rel_len,
		 struct zone_hit *hit);

/* Diagnostics (answer.c's <svc>.services.srvshim CHAOS name): looks up the
 * service whose name is the lower-case wire label label (length byte
 * first) and points *txt at its diagnostic TXT records: each is a 2-byte
 * RDATA length, then the RDATA (<len><text> strings, RFC 1035 3.3.14). The
 * first record sums the service up (service=, instances=, served=, ttl=);
 * then one per instance Consul reported, served or not: id=, node=,
 * health=, address=, port=, tags=, weight=, served=yes or served=no (why),
 * and check=<output> when its worst check said something. Compiled with
 * the service, so this only copies pointers. Returns false when the
 * snapshot has no such service. */
bool zone_svc_diag(const struct zone *z, const uint8_t *label,
		   const uint8_t **txt, size_t *txt_len);

/* Decodes the <hex> label of <hex>.addr.<apex> (8 hex digits: IPv4, 32:
 * IPv6). Returns 4, 6, or 0 when the label is not such a form. */
int zone_addr_decode(const uint8_t *label, size_t len, uint8_t out[16]);
/* Writes the <hex> label (with length byte) for an address; returns its
 * wire length. */
size_t zone_addr_label(int family, const uint8_t *addr, uint8_t *out);

#endif
