/* SPDX-License-Identifier: MIT
 * forward.h -- queries outside the zone, sent to the --recursor servers.
 * Owns:    the forward thread (an epoll loop driving one c-ares channel),
 *          the hand-off queue from the listeners, the forward cache, loop
 *          detection, and replying to the client (UDP directly, TCP through
 *          the caller's callback).
 * Never:   zone data, the listening sockets' life cycle.
 *
 * Upstreams come only from --recursor: /etc/resolv.conf points at srvshim
 * itself and is never read. */
#ifndef SRVSHIM_FORWARD_H
#define SRVSHIM_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct forward;

/* Where the reply goes. */
struct forward_client {
	bool is_tcp;
	/* UDP: sent with sendto() on fd (a listener's socket, which must stay
	 * open until forward_free()) to peer. */
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	/* TCP: done(arg, msg, len) runs on the forward thread (or in
	 * forward_free()) exactly once per accepted query, with a new framed
	 * message (2-byte length prefix included in len); it takes msg and
	 * frees it with free(). */
	void (*done)(void *arg, uint8_t *msg, size_t len);
	void *arg;
};

struct forward_stats {
	uint64_t queries;     /* accepted by forward_submit() */
	uint64_t queue_full;  /* refused by forward_submit(): SERVFAIL */
	uint64_t cache_hits, cache_misses;
	uint64_t upstream;    /* sent to a recursor */
	uint64_t answered;    /* relayed an upstream answer */
	uint64_t servfail;    /* timeouts, errors, overload, loops */
	uint64_t timeouts, loops;
	size_t cache_entries;
};

/* Sets up the c-ares channel with cfg's recursors, timeout and tries.
 * Returns new (free with forward_free()), or NULL when no --recursor is
 * configured. A channel that cannot be set up is fatal (start-up only).
 * cfg is borrowed for the object's life. */
struct forward *forward_new(const struct config *cfg);
/* Starts the forward thread. Returns 0 or -SRV_EIO. */
int forward_start(struct forward *fw);
/* Stops and joins the thread; queries still pending are answered SERVFAIL
 * by forward_free(). */
void forward_stop(struct forward *fw);
/* Reload: forward to these recursors from now on (copied). Safe from any
 * thread; the forward thread applies them at its next turn. */
void forward_set_recursors(struct forward *fw, const struct listen_addr *rs,
			   size_t count);
void forward_free(struct forward *fw); /* takes NULL */

/* Hands the query q[0..qlen) (copied) to the forward thread without
 * blocking. Returns 0, or -SRV_ENOSPC when the queue is full: the caller
 * answers SERVFAIL itself and done is never called. Any thread. */
int forward_submit(struct forward *fw, const struct forward_client *cl,
		   const uint8_t *q, size_t qlen);

void forward_get_stats(struct forward *fw, struct forward_stats *st);

#endif
