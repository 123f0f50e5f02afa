/* SPDX-License-Identifier: MIT
 * frontend.c -- UDP worker threads and the TCP thread.
 * Owns:    listening sockets, per-thread receive/send buffers, TCP
 *          connections (framing, pipelining, idle timeout, cap).
 * Borrows: the current snapshot from zone.c, for one batch at a time;
 *          forward.c for queries outside the zone (UDP replies come from
 *          its thread on our sockets; TCP replies come back through a
 *          completion queue into the TCP thread's epoll).
 * Never:   record contents (answer.c), Consul, config reload.
 * Start reading at udp_worker().
 *
 * Threads are urcu-qsbr readers: they announce a quiescent state after every
 * batch and go offline while blocked (in recvmmsg() or epoll_wait()), so a
 * publish never waits on an idle worker.
 *
 * Each thread counts into its own struct metrics_block (metrics.h). Answer
 * latency is timed per batch, from recvmmsg() returning to sendmmsg()
 * returning (TCP: from a read's frames being answered to their one write),
 * and recorded once for every reply of the batch: each of them did wait
 * that long inside srvshimd, and it costs two clock reads per batch rather
 * than two per query. */
#include "config_feat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "acl.h"
#include "forward.h"
#include "frontend.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "tcpframe.h"
#include "util.h"
#include "wire.h"
#include "zone.h"

#define UDP_BATCH 64
#define UDP_BUF 4096	     /* a reply: EDNS sizes are capped at 4096 */
/* A query: 2,048 bytes hold any real one (a name is at most 255 bytes; EDNS
 * padding, RFC 8467, pads queries to 128-byte blocks) and put two receive
 * slots in a page. A longer datagram arrives truncated (MSG_TRUNC) and is
 * dropped, as one over 4,096 always was. */
#define UDP_IN 2048
#define TCP_IN_MAX TCPFRAME_IN_MAX /* largest TCP query; larger: close */
#define TCP_BACKLOG 1024
#define TCP_FWD_PER_CONN 32  /* forwarded queries in flight per connection */

struct worker {
	struct frontend *fe;
	pthread_t thread;
	bool started;
	int ep;
	int socks[CONFIG_MAX_LISTEN];
	size_t sock_count;
	struct answer_scratch scratch;
	uint8_t in[UDP_BATCH][UDP_IN];
	/* Replies are packed one after another (udp_answer), not one page-
	 * sized slot each: a batch of 64 small replies touches two pages,
	 * not 64, which keeps 250 KiB per worker out of the resident set.
	 * UDP_BUF per reply still fits: after k replies at most k * UDP_BUF
	 * bytes are used. */
	uint8_t out[UDP_BATCH * UDP_BUF];
	struct frontend_stats st; /* written by this thread only */
	struct metrics_block metrics; /* written by this thread only */
};

struct conn {
	int fd;
	struct conn *prev, *next; /* LRU: head is the least recently active */
	uint64_t last_ms;
	uint8_t in[2 + TCP_IN_MAX];
	size_t in_len;
	uint8_t *pending;	  /* reply bytes not yet written */
	size_t pending_len, pending_off;
	struct tcp *t;
	bool allowed;		  /* the peer is inside --allow */
	struct sockaddr_storage peer; /* for the query log */
	bool closed;		  /* fd gone; kept until inflight is 0 */
	unsigned inflight;	  /* queries at forward.c */
};

/* A forwarded reply on its way back to a TCP connection. */
struct done {
	struct done *next;
	struct conn *c;
	uint8_t *msg; /* framed; NULL: no reply */
	size_t len;
};

struct tcp {
	pthread_t thread;
	bool started;
	int ep;
	int socks[CONFIG_MAX_LISTEN];
	size_t sock_count;
	struct conn *head, *tail;
	size_t count;
	struct answer_scratch scratch;
	/* Replies to pipelined queries are gathered here and written with
	 * one write(); room for two largest replies, so a batch flushes at
	 * 64 KiB at the latest. Pages are touched only as far as used. */
	uint8_t out[2 * (2 + WIRE_MSG_MAX)];
	struct frontend_stats st;
	struct metrics_block metrics; /* written by the TCP thread only */
	struct conn *zombies;	  /* closed, forwarded replies pending */
	int done_fd;		  /* eventfd: completions queued */
	pthread_mutex_t done_lock;
	struct done *done_head, *done_tail;
};

struct frontend {
	const struct config *cfg;
	struct answer_cfg acfg;
	int stop_fd; /* eventfd: readable once stopping */
	atomic_bool stopping; /* set before stop_fd is written */
	struct worker **workers;
	size_t worker_count;
	struct tcp *tcp;
	pthread_mutex_t stats_lock;
	struct forward *fw;
	struct acl *acl; /* --allow; RCU pointer, swapped by a reload */
};

/* ---- sockets ------------------------------------------------------------- */

static void
bind_advice(const struct listen_addr *la, int err, bool is_tcp)
{
	const char *proto = is_tcp ? "TCP" : "UDP";
	uint16_t port = ntohs(((const struct sockaddr_in *)&la->ss)->sin_port);
	if (err == EACCES && port < 1024)
		log_msg(LOG_LVL_ERROR, "frontend: cannot bind %s %s (permission "
			"denied): ports below 1024 need root or "
			"CAP_NET_BIND_SERVICE; run as root, grant the "
			"capability, or choose another port with --listen "
			"(e.g. --listen 127.0.0.1:5300)", proto, la->text);
	else if (err == EADDRINUSE)
		log_msg(LOG_LVL_ERROR, "frontend: cannot bind %s %s (address "
			"in use): another server (systemd-resolved, dnsmasq, "
			"another srvshimd?) listens there; stop it or choose "
			"another address with --listen", proto, la->text);
	else if (err == EADDRNOTAVAIL)
		log_msg(LOG_LVL_ERROR, "frontend: cannot bind %s %s (address "
			"not available): no interface has that address; "
			"check --listen", proto, la->text);
	else
		log_msg(LOG_LVL_ERROR, "frontend: cannot bind %s %s (%s); "
			"check --listen", proto, la->text, strerror(err));
}

/* Replies leave with DF set and are never fragmented here (RFC 9715 3.1):
 * a fragmented DNS reply is what off-path cache poisoning forges. PROBE
 * sets DF but ignores path-MTU values learnt from ICMP, which an attacker
 * can forge too; a reply larger than the interface MTU fails with EMSGSIZE
 * and is resent truncated (udp_send). A bonus: a DF packet needs no IP ID,
 * so the kernel skips its IP-ID hash per reply. */
static void
udp_dont_fragment(int fd, const struct listen_addr *la)
{
	int probe = IP_PMTUDISC_PROBE, one = 1;

	if (la->ss.ss_family == AF_INET) {
		if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe,
			       sizeof(probe)) != 0)
			log_warn("frontend: IP_MTU_DISCOVER on %s", la->text);
		return;
	}
	probe = IPV6_PMTUDISC_PROBE;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe,
		       sizeof(probe)) != 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof(one)) != 0)
		log_warn("frontend: IPV6_DONTFRAG on %s", la->text);
}

static int
open_socket(const struct listen_addr *la, bool is_tcp)
{
	int one = 1;
	int fd = socket(la->ss.ss_family,
			(is_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK |
			    SOCK_CLOEXEC,
			0);
	if (fd < 0) {
		log_warn("frontend: socket for %s", la->text);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		log_warn("frontend: SO_REUSEPORT on %s", la->text);
	if (la->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) != 0) {
		bind_advice(la, errno, is_tcp);
		close(fd);
		return -1;
	}
	if (is_tcp) {
		if (listen(fd, TCP_BACKLOG) != 0) {
			log_warn("frontend: listen on %s", la->text);
			close(fd);
			return -1;
		}
	} else {
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		udp_dont_fragment(fd, la);
	}
	return fd;
}

static int
ep_add(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- UDP ------------------------------------------------------------------ */

/* Counts one answered query: qtype, and for a reply its rcode and TC. */
static void
count_answer(struct metrics_block *m, const struct answer_info *info)
{
	if (info->action == ANSWER_DROP) {
		metrics_inc(m, M_DROPPED);
		return;
	}
	metrics_inc(m, metrics_qtype_slot(info->qtype));
	if (info->action != ANSWER_REPLY)
		return;
	metrics_inc(m, metrics_rcode_slot(info->rcode));
	if (info->truncated)
		metrics_inc(m, M_TRUNCATED);
}

static bool
source_ok(const struct sockaddr_storage *ss)
{
	/* Port 0 cannot be answered; it is also a spoofing tell. */
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port != 0;
	if (ss->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)ss)->sin6_port != 0;
	return false;
}

/* Per-thread message vectors, wired once (udp_vectors_init): in[i] to
 * rmsg[i]; a batch then only resets what the kernel or the previous batch
 * changed: msg_namelen of the slots received into, and the address, address
 * length, buffer and length of each reply. */
static __thread struct mmsghdr rmsg[UDP_BATCH], smsg[UDP_BATCH];
static __thread struct iovec riov[UDP_BATCH], siov[UDP_BATCH];
static __thread struct sockaddr_storage from[UDP_BATCH];
static __thread int qsrc[UDP_BATCH]; /* reply slot -> its query's slot */

static void
udp_vectors_init(struct worker *w)
{
	memset(rmsg, 0, sizeof(rmsg));
	memset(smsg, 0, sizeof(smsg));
	for (int i = 0; i < UDP_BATCH; i++) {
		riov[i].iov_base = w->in[i];
		riov[i].iov_len = UDP_IN;
		rmsg[i].msg_hdr.msg_name = &from[i];
		rmsg[i].msg_hdr.msg_namelen = sizeof(from[i]);
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
	}
}

/* Hands a query to forward.c. Returns true when it went (the reply comes
 * from the forward thread); else writes a SERVFAIL to out (queue full) and
 * its length to *len. */
static bool
udp_forward(struct worker *w, int fd, const struct sockaddr_storage *peer,
	    socklen_t peer_len, const uint8_t *q, size_t qlen, uint8_t *out,
	    size_t *len)
{
	struct forward_client cl = {.is_tcp = false, .fd = fd,
				    .peer = *peer, .peer_len = peer_len};
	if (w->fe->fw != NULL && forward_submit(w->fe->fw, &cl, q, qlen) == 0)
		return true;
	w->st.fwd_rejected++;
	metrics_inc(&w->metrics, M_FWD_QUEUE_FULL);
	metrics_inc(&w->metrics, M_RCODE_SERVFAIL);
	*len = relay_error(q, qlen, WIRE_RCODE_SERVFAIL, true,
			   w->fe->acfg.edns_size, out, UDP_BUF);
	return false;
}

static const char *
type_name(uint16_t t, char *buf, size_t len)
{
	switch (t) {
	case WIRE_TYPE_A: return "A";
	case WIRE_TYPE_NS: return "NS";
	case WIRE_TYPE_SOA: return "SOA";
	case WIRE_TYPE_TXT: return "TXT";
	case WIRE_TYPE_AAAA: return "AAAA";
	case WIRE_TYPE_SRV: return "SRV";
	case WIRE_TYPE_ANY: return "ANY";
	}
	snprintf(buf, len, "TYPE%u", t); /* RFC 3597 */
	return buf;
}

/* --query-log: one line per query, only when asked for (it costs a
 * formatted, locked write per query). The reply is what was sent, or
 * NULL for a query handed to the forwarder. */
static void
query_log(const struct sockaddr_storage *peer, const char *proto,
	  const uint8_t *q, size_t qlen, const uint8_t *reply, size_t rlen)
{
	char addr[INET6_ADDRSTRLEN] = "?", name[WIRE_NAME_MAX * 4 + 8];
	uint8_t wname[WIRE_NAME_MAX];
	struct wire_cur c;
	uint16_t port = 0, qtype = 0;
	int n;

	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)peer;
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)peer;
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		port = ntohs(sin6->sin6_port);
	}
	wire_cur_init(&c, q, qlen);
	wire_skip(&c, WIRE_HDR_LEN);
	n = wire_read_name(&c, wname, false);
	qtype = wire_get_u16(&c);
	if (n > 0 && !c.err)
		wire_name_to_text(wname, (size_t)n, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "(unparsed)");
	static const char *const rcodes[16] = {
	    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
	    "RCODE12", "RCODE13", "RCODE14", "RCODE15"};
	char tbuf[16];
	const char *tname = type_name(qtype, tbuf, sizeof(tbuf));
	if (reply == NULL) {
		log_info("query: %s#%u %s %s %s, forwarded", addr, port, proto,
			 name, tname);
		return;
	}
	unsigned rcode = rlen >= 4 ? reply[3] & 0x0f : 0;
	unsigned an = rlen >= 8 ? (unsigned)(reply[6] << 8 | reply[7]) : 0;
	bool tc = rlen >= 3 && (reply[2] & 0x02);
	log_info("query: %s#%u %s %s %s, %s, %u answers%s, %zu bytes", addr,
		 port, proto, name, tname, rcodes[rcode], an,
		 tc ? ", truncated" : "", rlen);
}

/* Sends the batch's count replies (smsg), with as few sendmmsg calls as
 * the kernel allows. sendmmsg stops at a message it cannot send; that one
 * is dealt with and the rest goes on:
 * - EMSGSIZE (DF is set, udp_dont_fragment, and the reply is larger than
 *   the interface MTU): resent as header, question and OPT with TC set, so
 *   the client retries over TCP (RFC 9715 3.1) instead of timing out;
 * - a full socket buffer: the rest of the batch is dropped (the kernel
 *   would drop them anyway; the clients retry);
 * - anything else (an address the kernel refuses): that reply is dropped.
 * Returns the number of replies sent. */
static int
udp_send(struct worker *w, int fd, int count)
{
	int pos = 0, sent = 0;
	bool shrunk = false; /* smsg[pos] is already the truncated form */

	while (pos < count) {
		int k = sendmmsg(fd, smsg + pos, (unsigned)(count - pos), 0);
		if (k > 0) {
			pos += k;
			sent += k;
			shrunk = false;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EMSGSIZE && !shrunk) {
			int i = qsrc[pos];
			size_t len = relay_truncated(
			    w->in[i], rmsg[i].msg_len, siov[pos].iov_base,
			    siov[pos].iov_len, w->fe->acfg.edns_size,
			    siov[pos].iov_base, UDP_BUF);
			if (len > 0) {
				siov[pos].iov_len = len;
				shrunk = true;
				w->st.udp_truncated++;
				metrics_inc(&w->metrics, M_TRUNCATED);
				continue;
			}
		}
		int lost = k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
				     errno == ENOBUFS)
			       ? count - pos
			       : 1;
		w->st.udp_dropped += (uint64_t)lost;
		metrics_add(&w->metrics, M_DROPPED, (uint64_t)lost);
		pos += lost;
		shrunk = false;
	}
	return sent;
}

/* Answers the n datagrams in rmsg (ACL, zone, forwarding) and sends the
 * replies with one sendmmsg. */
static void
udp_answer(struct worker *w, int fd, int n)
{
	uint64_t t0 = now_us();
	const struct zone *z = zone_current();
	int out = 0;
	size_t off = 0; /* where the next reply goes in w->out */

	for (int i = 0; i < n; i++) {
		struct answer_info info;
		size_t len;

		w->st.udp_queries++;
		if (!source_ok(&from[i]) ||
		    (rmsg[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			w->st.udp_dropped++;
			metrics_inc(&w->metrics, M_DROPPED);
			continue;
		}
		info.truncated = false;
		if (!acl_allows(rcu_dereference(w->fe->acl),
				(const struct sockaddr *)&from[i])) {
			/* Not an open resolver: outside --allow gets
			 * REFUSED, whatever it asks. */
			w->st.udp_refused++;
			len = relay_error(w->in[i], rmsg[i].msg_len,
					  WIRE_RCODE_REFUSED,
					  w->fe->acfg.recursion,
					  w->fe->acfg.edns_size, w->out + off,
					  UDP_BUF);
			metrics_inc(&w->metrics, M_ACL_REFUSED);
			metrics_inc(&w->metrics,
				    len ? M_RCODE_REFUSED : M_DROPPED);
		} else {
			len = answer_query(z, zone_config(z), &w->fe->acfg,
					   w->in[i], rmsg[i].msg_len,
					   w->out + off, UDP_BUF, false,
					   &w->scratch, &info);
			count_answer(&w->metrics, &info);
			if (info.action == ANSWER_FORWARD) {
				if (udp_forward(w, fd, &from[i],
						rmsg[i].msg_hdr.msg_namelen,
						w->in[i], rmsg[i].msg_len,
						w->out + off, &len)) {
					if (w->fe->cfg->query_log)
						query_log(&from[i], "udp",
							  w->in[i],
							  rmsg[i].msg_len,
							  NULL, 0);
					continue; /* forward.c replies */
				}
			} else if (info.action != ANSWER_REPLY) {
				len = 0;
			}
		}
		if (w->fe->cfg->query_log && len > 0)
			query_log(&from[i], "udp", w->in[i], rmsg[i].msg_len,
				  w->out + off, len);
		if (len == 0) {
			w->st.udp_dropped++;
			continue;
		}
		w->st.udp_truncated += info.truncated;
		siov[out].iov_base = w->out + off;
		siov[out].iov_len = len;
		off += (len + 15) & ~(size_t)15;
		qsrc[out] = i;
		smsg[out].msg_hdr.msg_name = &from[i];
		smsg[out].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen;
		out++;
	}
	rcu_quiescent_state(); /* done with z for this batch */
	for (int i = 0; i < n; i++)
		rmsg[i].msg_hdr.msg_namelen = sizeof(from[i]);
	int sent = udp_send(w, fd, out);
	w->st.udp_replies += (uint64_t)sent;
	metrics_observe(&w->metrics, now_us() - t0, (uint64_t)sent);
}

static void
udp_drain(struct worker *w, int fd)
{
	for (;;) {
		int n = recvmmsg(fd, rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_warn("frontend: recvmmsg");
			return;
		}
		udp_answer(w, fd, n);
		if (n < UDP_BATCH)
			return;
	}
}

/* One socket per worker (one --listen address, the usual case): block in
 * recvmmsg itself with MSG_WAITFORONE, as the trivial responder does, so a
 * batch costs two syscalls (recvmmsg, sendmmsg) instead of three with
 * epoll_wait. The worker is an offline QSBR reader while it waits, so an
 * idle worker never delays a publish. frontend_stop() wakes it with
 * shutdown(SHUT_RD), after which recvmmsg returns what is queued, then 0.
 * forward.c also sends on this socket, always with MSG_DONTWAIT, so the
 * socket's blocking mode does not reach it. */
static void
udp_loop_blocking(struct worker *w)
{
	int fd = w->socks[0];
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		log_warn("frontend: blocking mode for the udp socket");
		return;
	}
	for (;;) {
		rcu_thread_offline();
		int n = recvmmsg(fd, rmsg, UDP_BATCH, MSG_WAITFORONE, NULL);
		rcu_thread_online();
		if (n > 0)
			udp_answer(w, fd, n);
		/* Graceful stop, as the epoll loop's: what the kernel already
		 * holds is answered (after SHUT_RD recvmmsg still returns what
		 * is queued, then 0), so a query sent before SIGTERM is not
		 * lost. */
		if (atomic_load_explicit(&w->fe->stopping,
					 memory_order_relaxed) &&
		    n < UDP_BATCH)
			break;
		if (n < 0 && errno != EINTR && errno != EAGAIN) {
			log_warn("frontend: recvmmsg");
			break;
		}
	}
}

static void *
udp_worker(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[CONFIG_MAX_LISTEN + 1];

	rcu_register_thread();
	udp_vectors_init(w);
	if (w->sock_count == 1) {
		udp_loop_blocking(w);
		rcu_unregister_thread();
		return NULL;
	}
	for (;;) {
		rcu_thread_offline();
		int n = epoll_wait(w->ep, evs, (int)ARRAY_SIZE(evs), -1);
		rcu_thread_online();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("frontend: epoll_wait");
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			int fd = (int)(intptr_t)evs[i].data.ptr;
			if (fd == w->fe->stop_fd)
				stop = true;
			else
				udp_drain(w, fd);
		}
		if (stop) {
			/* Graceful stop: what the kernel already holds for us
			 * is answered, so a query sent before SIGTERM is not
			 * lost; what arrives after is dropped at close. */
			for (size_t s = 0; s < w->sock_count; s++)
				udp_drain(w, w->socks[s]);
			break;
		}
	}
	rcu_unregister_thread();
	return NULL;
}

/* ---- TCP ------------------------------------------------------------------ */

static void
lru_unlink(struct tcp *t, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		t->tail = c->prev;
	c->prev = c->next = NULL;
}

static void
lru_touch(struct tcp *t, struct conn *c)
{
	if (t->tail == c)
		return;
	if (c->prev || c->next || t->head == c)
		lru_unlink(t, c);
	c->prev = t->tail;
	if (t->tail)
		t->tail->next = c;
	else
		t->head = c;
	t->tail = c;
	c->last_ms = now_ms();
}

/* Closes c, counting it under why (an M_TCP_CLOSED_* row). */
static void
conn_close_why(struct tcp *t, struct conn *c, enum metric_id why)
{
	metrics_inc(&t->metrics, why);
	lru_unlink(t, c);
	epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pending);
	c->pending = NULL;
	t->count--;
	if (c->inflight == 0) {
		free(c);
		return;
	}
	/* forward.c still holds c: keep it (off the LRU) until its last
	 * reply comes back, then tcp_done_drain() frees it. */
	c->closed = true;
	c->fd = -1;
	c->next = t->zombies;
	if (t->zombies)
		t->zombies->prev = c;
	t->zombies = c;
}

static void
zombie_free(struct tcp *t, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->zombies = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Sets what epoll reports for c: writability while a reply is pending,
 * nothing while the connection has its fill of forwarded queries (reading
 * on would only fill the buffer, and a level-triggered EPOLLIN would spin),
 * else readability. */
static void
conn_want(struct tcp *t, struct conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	ev.events = c->pending ? EPOLLOUT
		    : c->inflight >= TCP_FWD_PER_CONN ? 0u
						      : EPOLLIN;
	epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_close(struct tcp *t, struct conn *c)
{
	conn_close_why(t, c, M_TCP_CLOSED_OTHER);
}

/* Writes what is pending; returns false on a dead connection. */
static bool
conn_flush(struct tcp *t, struct conn *c)
{
	while (c->pending_off < c->pending_len) {
		ssize_t k = write(c->fd, c->pending + c->pending_off,
				  c->pending_len - c->pending_off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Stop reading until the client drains
				 * what it asked for (backpressure). */
				struct epoll_event ev = {
				    .events = EPOLLOUT, .data.ptr = c};
				epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
				return true;
			}
			return false;
		}
		c->pending_off += (size_t)k;
	}
	free(c->pending);
	c->pending = NULL;
	c->pending_len = c->pending_off = 0;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

/* Sends one framed reply: straight to the socket, keeping what the socket
 * would not take. */
static bool
conn_send(struct tcp *t, struct conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t k = write(c->fd, buf + off, len - off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		off += (size_t)k;
	}
	if (off < len) {
		c->pending = xmalloc(len - off);
		memcpy(c->pending, buf + off, len - off);
		c->pending_len = len - off;
		c->pending_off = 0;
		return conn_flush(t, c);
	}
	return true;
}

/* Runs on the forward thread: queues a forwarded reply for the TCP
 * thread. Takes msg. */
static void
tcp_fwd_done(void *arg, uint8_t *msg, size_t len)
{
	struct conn *c = arg;
	struct tcp *t = c->t;
	struct done *d = xmalloc(sizeof(*d));
	uint64_t one = 1;

	d->next = NULL;
	d->c = c;
	d->msg = msg;
	d->len = len;
	pthread_mutex_lock(&t->done_lock);
	if (t->done_tail)
		t->done_tail->next = d;
	else
		t->done_head = d;
	t->done_tail = d;
	pthread_mutex_unlock(&t->done_lock);
	if (write(t->done_fd, &one, sizeof(one)) < 0)
		log_warn("frontend: tcp completion eventfd");
}

/* Hands one frame to forward.c; returns false (and a SERVFAIL in out, of
 * capacity outcap, length in *len) when the queue is full. */
static bool
tcp_forward(struct tcp *t, struct conn *c, const struct frontend *fe,
	    const uint8_t *q, size_t qlen, uint8_t *out, size_t outcap,
	    size_t *len)
{
	struct forward_client cl = {.is_tcp = true, .done = tcp_fwd_done,
				    .arg = c};
	if (fe->fw != NULL && forward_submit(fe->fw, &cl, q, qlen) == 0) {
		c->inflight++;
		return true;
	}
	t->st.fwd_rejected++;
	metrics_inc(&t->metrics, M_FWD_QUEUE_FULL);
	metrics_inc(&t->metrics, M_RCODE_SERVFAIL);
	*len = relay_error(q, qlen, WIRE_RCODE_SERVFAIL, true,
			   fe->acfg.edns_size, out, outcap);
	return false;
}

/* Answers every complete frame in c->in while nothing is pending and the
 * connection has room for forwarded queries. The replies (in order; RFC
 * 7766 6.2.1.1 allows any) go out together in one write per batch rather
 * than one per query; what the socket does not take becomes c->pending
 * and reading stops until it drains, so a client that never reads holds
 * at most one batch. Returns false when the
 * connection must close. */
static bool
conn_process(struct tcp *t, struct conn *c, const struct frontend *fe)
{
	size_t off = 0, used = 0;
	uint64_t t0 = now_us(), replies = 0;
	bool ok = true;

	while (ok && c->pending == NULL && c->inflight < TCP_FWD_PER_CONN) {
		size_t flen;
		enum tcpframe_result fr = tcpframe_next(
		    c->in + off, c->in_len - off, TCP_IN_MAX, &flen);
		if (fr == TCPFRAME_BAD) {
			ok = false; /* zero-length, runt or oversized frame */
			break;
		}
		if (fr == TCPFRAME_MORE)
			break;
		if (sizeof(t->out) - used < 2 + WIRE_MSG_MAX) {
			ok = conn_send(t, c, t->out, used);
			used = 0;
			if (!ok || c->pending != NULL)
				break;
		}
		const uint8_t *q = c->in + off + 2;
		uint8_t *rep = t->out + used + 2;
		size_t len;
		t->st.tcp_queries++;
		metrics_inc(&t->metrics, M_TCP_QUERIES);
		off += 2 + flen;
		if (!c->allowed) {
			t->st.tcp_refused++;
			len = relay_error(q, flen, WIRE_RCODE_REFUSED,
					  fe->acfg.recursion, fe->acfg.edns_size,
					  rep, WIRE_MSG_MAX);
			metrics_inc(&t->metrics, M_ACL_REFUSED);
			metrics_inc(&t->metrics,
				    len ? M_RCODE_REFUSED : M_DROPPED);
			if (len == 0)
				continue;
		} else {
			const struct zone *z = zone_current();
			struct answer_info info;
			len = answer_query(z, zone_config(z), &fe->acfg, q,
					   flen, rep, WIRE_MSG_MAX, true,
					   &t->scratch, &info);
			rcu_quiescent_state();
			count_answer(&t->metrics, &info);
			if (info.action == ANSWER_FORWARD) {
				if (tcp_forward(t, c, fe, q, flen, rep,
						WIRE_MSG_MAX, &len)) {
					if (fe->cfg->query_log)
						query_log(&c->peer, "tcp", q,
							  flen, NULL, 0);
					continue; /* the reply comes later */
				}
			} else if (info.action != ANSWER_REPLY) {
				continue;
			}
		}
		if (fe->cfg->query_log)
			query_log(&c->peer, "tcp", q, flen, rep, len);
		wire_put_u16_at(t->out + used, 0, (uint16_t)len);
		used += 2 + len;
		replies++;
	}
	if (ok && used > 0)
		ok = conn_send(t, c, t->out, used);
	if (replies > 0)
		metrics_observe(&t->metrics, now_us() - t0, replies);
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return ok;
}

static void
conn_read(struct tcp *t, struct conn *c, const struct frontend *fe)
{
	for (;;) {
		if (c->in_len == sizeof(c->in)) /* full: a frame too large */
			break;
		size_t want = sizeof(c->in) - c->in_len;
		ssize_t k = read(c->fd, c->in + c->in_len, want);
		if (k == 0)
			goto close;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			goto close;
		}
		c->in_len += (size_t)k;
		if (!conn_process(t, c, fe))
			goto close;
		if (c->pending != NULL || c->inflight >= TCP_FWD_PER_CONN)
			break; /* backpressure: read again once drained */
		if ((size_t)k < want)
			break; /* drained for now; epoll (level-triggered)
				* reports what comes next, so no read that
				* would only say EAGAIN */
	}
	if (!conn_process(t, c, fe))
		goto close;
	if (c->pending == NULL && c->inflight >= TCP_FWD_PER_CONN)
		conn_want(t, c);
	lru_touch(t, c);
	return;
close:
	conn_close(t, c);
}

static void
tcp_accept(struct tcp *t, int lfd, const struct frontend *fe)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &peer_len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warnx("frontend: out of file descriptors "
					  "accepting TCP; raise the limit or "
					  "lower --tcp-max-conns");
			return;
		}
		if (t->count >= fe->cfg->tcp_max_conns && t->head != NULL) {
			/* At the cap the least recently active connection
			 * makes room (RFC 7766 6.2.3). */
			conn_close_why(t, t->head, M_TCP_CLOSED_CAP);
			t->st.tcp_closed_cap++;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->t = t;
		c->allowed = acl_allows(rcu_dereference(fe->acl),
					(const struct sockaddr *)&peer);
		c->peer = peer;
		if (ep_add(t->ep, fd, EPOLLIN, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		t->count++;
		t->st.tcp_conns++;
		metrics_inc(&t->metrics, M_TCP_ACCEPTED);
		lru_touch(t, c);
	}
}

static bool
is_listener(const struct tcp *t, const void *ptr, int *fd)
{
	for (size_t i = 0; i < t->sock_count; i++) {
		if (ptr == &t->socks[i]) {
			*fd = t->socks[i];
			return true;
		}
	}
	return false;
}

/* One epoll event on a connection; the connection may be closed by it. */
static void
conn_event(struct tcp *t, struct conn *c, uint32_t events,
	   const struct frontend *fe)
{
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
		conn_close(t, c);
		return;
	}
	if ((events & EPOLLOUT) && c->pending) {
		if (!conn_flush(t, c)) {
			conn_close(t, c);
			return;
		}
		if (c->pending == NULL && !conn_process(t, c, fe)) {
			conn_close(t, c);
			return;
		}
	}
	if ((events & EPOLLIN) && c->pending == NULL)
		conn_read(t, c, fe);
}

/* Takes the forwarded replies forward.c queued and writes each to its
 * connection (RFC 7766 6.2.1.1: replies may come out of order). */
static void
tcp_done_drain(struct tcp *t, const struct frontend *fe)
{
	uint64_t v;
	if (read(t->done_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("frontend: tcp completion eventfd");
	pthread_mutex_lock(&t->done_lock);
	struct done *list = t->done_head;
	t->done_head = t->done_tail = NULL;
	pthread_mutex_unlock(&t->done_lock);
	while (list != NULL) {
		struct done *d = list;
		struct conn *c = d->c;
		list = d->next;
		c->inflight--;
		if (c->closed) {
			if (c->inflight == 0)
				zombie_free(t, c);
		} else {
			bool ok = true;
			bool was_full = c->inflight + 1 >= TCP_FWD_PER_CONN;
			if (d->msg != NULL && c->pending != NULL) {
				/* Behind a reply the client has not read:
				 * append, the connection is not read
				 * meanwhile, so this is bounded by
				 * TCP_FWD_PER_CONN replies. */
				c->pending = xrealloc(c->pending,
						      c->pending_len + d->len);
				memcpy(c->pending + c->pending_len, d->msg,
				       d->len);
				c->pending_len += d->len;
			} else if (d->msg != NULL) {
				ok = conn_send(t, c, d->msg, d->len);
			}
			if (ok && c->pending == NULL) {
				if (was_full)
					conn_want(t, c);
				ok = conn_process(t, c, fe);
			}
			if (ok)
				lru_touch(t, c);
			else
				conn_close(t, c);
		}
		free(d->msg);
		free(d);
	}
}

static void *
tcp_thread(void *arg)
{
	struct frontend *fe = arg;
	struct tcp *t = fe->tcp;
	struct epoll_event evs[64];
	bool stop = false;

	rcu_register_thread();
	while (!stop) {
		int timeout = -1;
		if (t->head != NULL) {
			uint64_t now = now_ms();
			uint64_t due = t->head->last_ms + fe->cfg->tcp_idle_ms;
			timeout = due > now ? (int)MIN(due - now, 60000u) : 0;
		}
		rcu_thread_offline();
		int n = epoll_wait(t->ep, evs, (int)ARRAY_SIZE(evs), timeout);
		rcu_thread_online();
		if (n < 0 && errno != EINTR) {
			log_warn("frontend: epoll_wait (tcp)");
			break;
		}
		/* Connections first, listeners last: accepting may close the
		 * least recently active connection, which must not be one
		 * that a later event of this batch still names. */
		int accept_fds[CONFIG_MAX_LISTEN];
		size_t accept_count = 0;
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			int lfd;
			if (ptr == &fe->stop_fd) {
				stop = true;
			} else if (ptr == &t->done_fd) {
				tcp_done_drain(t, fe);
			} else if (is_listener(t, ptr, &lfd)) {
				if (accept_count < ARRAY_SIZE(accept_fds))
					accept_fds[accept_count++] = lfd;
			} else {
				conn_event(t, ptr, evs[i].events, fe);
			}
		}
		for (size_t i = 0; i < accept_count; i++)
			tcp_accept(t, accept_fds[i], fe);
		uint64_t now = now_ms();
		while (t->head != NULL &&
		       now - t->head->last_ms >= fe->cfg->tcp_idle_ms) {
			conn_close_why(t, t->head, M_TCP_CLOSED_IDLE);
			t->st.tcp_closed_idle++;
		}
		pthread_mutex_lock(&fe->stats_lock);
		t->st.tcp_open = t->count;
		pthread_mutex_unlock(&fe->stats_lock);
		metrics_set(&t->metrics, M_TCP_OPEN, t->count);
	}
	while (t->head != NULL)
		conn_close(t, t->head);
	/* Replies still to come are freed unread by frontend_free(). */
	while (t->zombies != NULL)
		zombie_free(t, t->zombies);
	rcu_unregister_thread();
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------ */

struct frontend *
frontend_open(const struct config *cfg, const struct answer_cfg *acfg)
{
	struct frontend *fe = xcalloc(1, sizeof(*fe));
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	fe->cfg = cfg;
	fe->acfg = *acfg;
	fe->acl = xmalloc(sizeof(*fe->acl));
	*fe->acl = cfg->allow;
	pthread_mutex_init(&fe->stats_lock, NULL);
	atomic_init(&fe->stopping, false);
	fe->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fe->stop_fd < 0)
		fatal("frontend: eventfd");
	fe->worker_count = cfg->workers ? cfg->workers
					: (size_t)(cores > 0 ? cores : 1);
	fe->workers = xcalloc(fe->worker_count, sizeof(*fe->workers));
	for (size_t i = 0; i < fe->worker_count; i++) {
		struct worker *w = xcalloc(1, sizeof(*w));
		fe->workers[i] = w;
		w->fe = fe;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		answer_scratch_init(&w->scratch);
		metrics_register(&w->metrics);
		ep_add(w->ep, fe->stop_fd, EPOLLIN, (void *)(intptr_t)fe->stop_fd);
		for (size_t l = 0; l < cfg->listen_count; l++) {
			int fd = open_socket(&cfg->listen[l], false);
			if (fd < 0)
				goto fail;
			w->socks[w->sock_count++] = fd;
			ep_add(w->ep, fd, EPOLLIN, (void *)(intptr_t)fd);
		}
	}
	fe->tcp = xcalloc(1, sizeof(*fe->tcp));
	fe->tcp->ep = epoll_create1(EPOLL_CLOEXEC);
	answer_scratch_init(&fe->tcp->scratch);
	metrics_register(&fe->tcp->metrics);
	ep_add(fe->tcp->ep, fe->stop_fd, EPOLLIN, &fe->stop_fd);
	pthread_mutex_init(&fe->tcp->done_lock, NULL);
	fe->tcp->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fe->tcp->done_fd < 0)
		fatal("frontend: eventfd");
	ep_add(fe->tcp->ep, fe->tcp->done_fd, EPOLLIN, &fe->tcp->done_fd);
	for (size_t l = 0; l < cfg->listen_count; l++) {
		int fd = open_socket(&cfg->listen[l], true);
		if (fd < 0)
			goto fail;
		fe->tcp->socks[fe->tcp->sock_count] = fd;
		ep_add(fe->tcp->ep, fd, EPOLLIN,
		       &fe->tcp->socks[fe->tcp->sock_count]);
		fe->tcp->sock_count++;
	}
	for (size_t l = 0; l < cfg->listen_count; l++)
		log_info("frontend: listening on %s, udp (%zu workers) and tcp",
			 cfg->listen[l].text, fe->worker_count);
	return fe;
fail:
	frontend_free(fe);
	return NULL;
}

void
frontend_set_forward(struct frontend *fe, struct forward *fw)
{
	fe->fw = fw;
}

int
frontend_start(struct frontend *fe)
{
	for (size_t i = 0; i < fe->worker_count; i++) {
		if (pthread_create(&fe->workers[i]->thread, NULL, udp_worker,
				   fe->workers[i]) != 0)
			return -SRV_EIO;
		fe->workers[i]->started = true;
	}
	if (pthread_create(&fe->tcp->thread, NULL, tcp_thread, fe) != 0)
		return -SRV_EIO;
	fe->tcp->started = true;
	return 0;
}

void
frontend_stop(struct frontend *fe)
{
	uint64_t one = 1;
	atomic_store(&fe->stopping, true);
	if (write(fe->stop_fd, &one, sizeof(one)) < 0)
		log_warn("frontend: stop signal");
	/* Workers blocked in recvmmsg (udp_loop_blocking) wake up when their
	 * socket is shut for reading; on an unconnected UDP socket Linux does
	 * that and returns ENOTCONN, which is expected here. */
	for (size_t i = 0; i < fe->worker_count; i++)
		if (fe->workers[i] && fe->workers[i]->started &&
		    fe->workers[i]->sock_count == 1)
			shutdown(fe->workers[i]->socks[0], SHUT_RD);
	for (size_t i = 0; i < fe->worker_count; i++) {
		if (fe->workers[i] && fe->workers[i]->started) {
			pthread_join(fe->workers[i]->thread, NULL);
			fe->workers[i]->started = false;
		}
	}
	if (fe->tcp && fe->tcp->started) {
		pthread_join(fe->tcp->thread, NULL);
		fe->tcp->started = false;
	}
}

void
frontend_set_acl(struct frontend *fe, const struct acl *acl)
{
	struct acl *next = xmalloc(sizeof(*next));
	*next = *acl;
	struct acl *old = rcu_xchg_pointer(&fe->acl, next);
	/* Workers check the ACL inside a batch; once each has passed a
	 * quiescent state none holds the old one. */
	synchronize_rcu();
	free(old);
}

void
frontend_free(struct frontend *fe)
{
	if (fe == NULL)
		return;
	free(fe->acl);
	for (size_t i = 0; i < fe->worker_count; i++) {
		struct worker *w = fe->workers[i];
		if (w == NULL)
			continue;
		for (size_t s = 0; s < w->sock_count; s++)
			close(w->socks[s]);
		if (w->ep >= 0)
			close(w->ep);
		metrics_unregister(&w->metrics);
		free(w);
	}
	free(fe->workers);
	if (fe->tcp) {
		for (size_t s = 0; s < fe->tcp->sock_count; s++)
			close(fe->tcp->socks[s]);
		close(fe->tcp->ep);
		while (fe->tcp->done_head != NULL) {
			struct done *d = fe->tcp->done_head;
			fe->tcp->done_head = d->next;
			free(d->msg);
			free(d);
		}
		close(fe->tcp->done_fd);
		pthread_mutex_destroy(&fe->tcp->done_lock);
		metrics_unregister(&fe->tcp->metrics);
		free(fe->tcp);
	}
	close(fe->stop_fd);
	pthread_mutex_destroy(&fe->stats_lock);
	free(fe);
}

void
frontend_get_stats(struct frontend *fe, struct frontend_stats *st)
{
	memset(st, 0, sizeof(*st));
	/* Counters are read without a lock: each is written by one thread and
	 * a torn read of a 64-bit counter cannot happen on the platforms we
	 * build for; a slightly stale sum is fine for diagnostics. */
	for (size_t i = 0; i < fe->worker_count; i++) {
		const struct frontend_stats *w = &fe->workers[i]->st;
		st->udp_queries += w->udp_queries;
		st->udp_replies += w->udp_replies;
		st->udp_dropped += w->udp_dropped;
		st->udp_truncated += w->udp_truncated;
		st->udp_refused += w->udp_refused;
		st->fwd_rejected += w->fwd_rejected;
	}
	st->tcp_refused = fe->tcp->st.tcp_refused;
	st->fwd_rejected += fe->tcp->st.fwd_rejected;
	st->tcp_queries = fe->tcp->st.tcp_queries;
	st->tcp_conns = fe->tcp->st.tcp_conns;
	st->tcp_closed_idle = fe->tcp->st.tcp_closed_idle;
	st->tcp_closed_cap = fe->tcp->st.tcp_closed_cap;
	pthread_mutex_lock(&fe->stats_lock);
	st->tcp_open = fe->tcp->st.tcp_open;
	pthread_mutex_unlock(&fe->stats_lock);
}
