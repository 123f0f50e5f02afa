/* SPDX-License-Identifier: MIT
 * lookup.h -- finding one instance of a service by DNS, as a client would.
 * Owns:    a c-ares channel aimed at one server (or the system's), SRV and
 *          A/AAAA queries on it, and the RFC 2782 order of SRV targets.
 * Never:   Consul, the zone, printing (tool.c decides what to show).
 *          The ares channel never leaves lookup.c. */
#ifndef SRVSHIM_LOOKUP_H
#define SRVSHIM_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One SRV record (or, from lookup_addrs(), one address with the port the
 * caller gave: priority and weight 0). */
struct lookup_target {
	char *host; /* the SRV target or the queried name, no final dot; owned */
	uint16_t priority, weight, port;
	char addr[46]; /* numeric address once resolved, else "" */
	bool is_v6;
};

/* Returns a uniform random number in [0, n), n > 0. */
typedef uint32_t lookup_rand_fn(void *arg, uint32_t n);

/* Puts t[0..count) in the order RFC 2782 says a client tries targets:
 * ascending priority; within one priority, repeatedly the weighted random
 * choice among those left ("compute the sum of the weights of those RRs,
 * ... select a uniform random number between 0 and the sum ... the first
 * RR whose running sum value is greater than or equal to the random
 * number"). Zero-weight records go first in that running sum, as the RFC
 * asks, so they keep a small chance; with no zero-weight record left the
 * number is drawn from 1..sum, so each target is picked with probability
 * exactly weight/sum. All weights zero: uniform. t[0] is then "the pick".
 * Pure: all randomness comes from rnd. */
void lookup_order(struct lookup_target *t, size_t count, lookup_rand_fn *rnd,
		  void *arg);

struct lookup;

/* Returns new, or NULL with a message in err. server: "ADDR", "ADDR:PORT",
 * "[V6]:PORT", or NULL for the system's resolvers (/etc/resolv.conf).
 * timeout_ms bounds each query, retries included. */
struct lookup *lookup_new(const char *server, uint64_t timeout_ms, char *err,
			  size_t errlen);
void lookup_free(struct lookup *l); /* takes NULL */

/* Queries name SRV. Returns 0 and a new array of *count >= 1 targets in
 * answer order (free with lookup_targets_free()), or:
 *   -SRV_ENOENT   NXDOMAIN, NODATA, or only "." targets (RFC 2782: the
 *                 service is decidedly not available)
 *   -SRV_ETIMEOUT no reply
 *   -SRV_EPROTO   SERVFAIL, REFUSED, or a malformed reply
 *   -SRV_EIO      anything else
 * with a message in err for every error. */
int lookup_srv(struct lookup *l, const char *name, struct lookup_target **out,
	       size_t *count, char *err, size_t errlen);
/* Queries name A and AAAA (in parallel); every address becomes a target
 * with the given port, IPv4 first. Returns as lookup_srv(). */
int lookup_addrs(struct lookup *l, const char *name, uint16_t port,
		 struct lookup_target **out, size_t *count, char *err,
		 size_t errlen);
/* Resolves the host of each of t[0..count) to one address (A preferred
 * over AAAA), all in parallel. A host that is already a numeric address
 * is taken as is. Returns how many got one. */
size_t lookup_resolve(struct lookup *l, struct lookup_target *t,
		      size_t count);
void lookup_targets_free(struct lookup_target *t, size_t count);

#endif
