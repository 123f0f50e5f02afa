/* SPDX-License-Identifier: MIT
 * answer.h -- one query + one snapshot -> one reply (RFC 1034 4.3.2).
 * Owns:    query validation (header, question, EDNS), the authoritative
 *          answer for the zone, negative answers with the SOA (RFC 2308),
 *          truncation to the client's size, the OPT record (RFC 6891),
 *          and the CHAOS-class diagnostic names (version.bind & co.).
 * Never:   I/O, allocation, locks. */
#ifndef SRVSHIM_ANSWER_H
#define SRVSHIM_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "zone.h"

/* The most records one reply can hold: 65535 bytes / 16-byte A records. */
#define ANSWER_MAX_RR 4096

/* What CH TXT status.srvshim reports, taken when the query is answered. */
struct answer_status {
	bool synced;	       /* first complete Consul sync done */
	bool connected;	       /* the last request to Consul succeeded */
	uint64_t last_sync_ms; /* now_ms() of the last good Consul reply, 0 never */
	uint64_t data_age_ms;  /* 0 while current, UINT64_MAX never synced */
	uint64_t catalog_index;/* X-Consul-Index of the service list */
	unsigned services, instances; /* in the current snapshot */
	unsigned watches, max_watches;
	uint64_t errors;       /* failed Consul requests since start */
};

struct answer_cfg {
	uint16_t edns_size;	/* our own UDP payload size (RFC 6891 6.2.5) */
	bool recursion;		/* forwarding configured: RA=1, and out-of-zone
				 * queries are handed back for forwarding */
	/* CHAOS diagnostics, the convention of BIND, NSD, Knot and Unbound:
	 * version.bind, version.server, hostname.bind, id.server,
	 * status.srvshim and <svc>.services.srvshim (TXT, class CH). */
	bool diagnostics;	/* false: every CH query is REFUSED */
	const char *version;	/* "srvshim 0.1.0"; borrowed */
	const char *hostname;	/* borrowed */
	const char *consul;	/* Consul's address as configured; borrowed */
	/* Fills *st for status.srvshim. It runs on the query path, so it must
	 * neither block nor allocate. NULL: status.srvshim is REFUSED. */
	void (*status)(void *arg, struct answer_status *st);
	void *status_arg;
};

/* Per-thread scratch space, so answering never allocates. */
struct answer_scratch {
	struct rng rng;
	uint32_t gen;			    /* bumps per query */
	uint32_t perm[ANSWER_MAX_RR];	    /* shuffled indexes */
	uint32_t target_gen[ANSWER_MAX_RR]; /* addr_id -> valid when == gen */
	uint16_t target_off[ANSWER_MAX_RR]; /* addr_id -> offset of its name */
	uint32_t glue_gen[ANSWER_MAX_RR];   /* addr_id -> glue written */
};
/* Seeds s's generator. s must be zeroed memory (calloc, static): its gen
 * arrays are valid when zero, and not clearing them again keeps 56 KiB per
 * thread out of the resident set until a set that large is answered. */
void answer_scratch_init(struct answer_scratch *s);

enum answer_action {
	ANSWER_REPLY,	/* send out[0..len) */
	ANSWER_DROP,	/* send nothing (a reply, or too short to answer) */
	ANSWER_FORWARD,	/* outside the zone and recursion is on */
};

struct answer_info {
	enum answer_action action;
	uint16_t qtype;
	uint16_t rcode;	   /* full (extended) rcode of the reply */
	bool truncated;	   /* TC set */
	bool edns;	   /* the query carried an OPT record */
	uint16_t udp_size; /* the client's UDP size (512 without EDNS) */
};

/* Answers the query q[0..qlen) from snapshot z (NULL is treated as "not
 * synced yet": SERVFAIL in the zone) into out (capacity outcap, at least
 * 512). is_tcp lifts the UDP size limit. Returns the reply length (0 when
 * info->action is not ANSWER_REPLY). */
size_t answer_query(const struct zone *z, const struct zone_cfg *zc,
		    const struct answer_cfg *cfg, const uint8_t *q,
		    size_t qlen, uint8_t *out, size_t outcap, bool is_tcp,
		    struct answer_scratch *s, struct answer_info *info);

#endif
