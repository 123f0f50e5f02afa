/* SPDX-License-Identifier: MIT
 * frontend.h -- the DNS listeners.
 * Owns:    UDP worker threads (one SO_REUSEPORT socket per listen address
 *          each, recvmmsg/sendmmsg batches) and the TCP thread (RFC 7766:
 *          length framing, pipelining, idle timeout, connection cap),
 *          the client ACL (--allow) and handing queries to forward.c.
 * Never:   record contents (answer.c), Consul. */
#ifndef SRVSHIM_FRONTEND_H
#define SRVSHIM_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "config.h"

struct frontend;
struct forward;

/* Per-thread counters, summed on read (no shared writes on the query path). */
struct frontend_stats {
	uint64_t udp_queries, udp_replies, udp_dropped, udp_truncated;
	uint64_t tcp_queries, tcp_conns, tcp_closed_idle, tcp_closed_cap;
	uint64_t tcp_open; /* open connections now */
	uint64_t udp_refused, tcp_refused; /* clients outside --allow */
	uint64_t fwd_rejected;		   /* forward queue full: SERVFAIL */
};

/* Opens and binds every socket (so errors surface before any thread runs).
 * Returns new, or NULL after logging what went wrong and what to do. */
struct frontend *frontend_open(const struct config *cfg,
			       const struct answer_cfg *acfg);
/* Queries outside the zone (answer.c's ANSWER_FORWARD) go to fw, which
 * must outlive the threads (stop the frontend first, then fw; free fw
 * before the frontend: it may still reply on the listeners' sockets). */
void frontend_set_forward(struct frontend *fe, struct forward *fw);
/* Starts the worker threads and the TCP thread. Returns 0 or -SRV_EIO. */
int frontend_start(struct frontend *fe);
/* Stops and joins every thread; in-flight batches are answered first. */
void frontend_stop(struct frontend *fe);
void frontend_free(struct frontend *fe); /* takes NULL */
/* Reload: answer the clients in acl from now on (copied). Returns once no
 * thread uses the old list. Call from a thread that is not a worker. */
struct acl;
void frontend_set_acl(struct frontend *fe, const struct acl *acl);
void frontend_get_stats(struct frontend *fe, struct frontend_stats *st);

#endif
