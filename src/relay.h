/* SPDX-License-Identifier: MIT
 * relay.h -- message surgery for what srvshim forwards.
 * Owns:    reading a client query for forwarding (question, EDNS, the loop
 *          marker), building the upstream query, reshaping an upstream (or
 *          cached) reply for one client (its ID, its question bytes, its
 *          size, its OPT, aged TTLs), cache keys and cache lifetimes
 *          (RFC 2308), and short error replies (REFUSED, SERVFAIL).
 * Never:   I/O, allocation, c-ares. Pure, so it is unit-tested on bytes.
 *
 * Loop marker: every query srvshim sends upstream carries an EDNS option
 * (code RELAY_LOOP_OPT, from the local/experimental range, RFC 6891 9)
 * listing the 8-byte random tags of the srvshims it passed through. A query
 * that arrives with our own tag, or with RELAY_MAX_HOPS tags, has come back
 * around: it is answered SERVFAIL and not forwarded again. */
#ifndef SRVSHIM_RELAY_H
#define SRVSHIM_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define RELAY_LOOP_OPT 65433
#define RELAY_TAG_LEN 8
#define RELAY_MAX_HOPS 8
#define RELAY_KEY_MAX (WIRE_NAME_MAX + 5)

/* A client query, as far as forwarding cares. Points into the caller's
 * query bytes (question), which must outlive it. */
struct relay_query {
	uint16_t id, flags;
	const uint8_t *question; /* name + type + class, exactly as sent */
	size_t question_len;
	uint8_t name[WIRE_NAME_MAX]; /* lower case */
	size_t name_len;
	uint16_t qtype, qclass;
	bool edns, do_bit;
	uint16_t udp_size; /* 512 without EDNS */
	uint8_t tags[RELAY_MAX_HOPS][RELAY_TAG_LEN];
	size_t tag_count;
};

/* Reads q[0..len). Returns 0, or -SRV_EFORMAT for anything answer.c would
 * not have handed over (QR set, QDCOUNT != 1, a bad name or OPT). */
int relay_parse_query(const uint8_t *q, size_t len, struct relay_query *rq);

/* True when the query carries own_tag, or RELAY_MAX_HOPS tags already. */
bool relay_is_loop(const struct relay_query *rq,
		   const uint8_t own_tag[RELAY_TAG_LEN]);

/* The largest reply the client takes: 65535 over TCP, 512 without EDNS,
 * else min(client's size, edns_size) (RFC 6891 6.2.5, RFC 1035 4.2.1). */
size_t relay_limit(const struct relay_query *rq, bool is_tcp,
		   uint16_t edns_size);

/* Writes the query for upstream into out: ID id, the client's RD and CD,
 * its question bytes, and an OPT with edns_size, the client's DO bit and
 * the loop marker (the client's tags plus own_tag). Returns the length, or
 * 0 when out (cap) is too small. */
size_t relay_upstream_query(const struct relay_query *rq, uint16_t id,
			    uint16_t edns_size,
			    const uint8_t own_tag[RELAY_TAG_LEN], uint8_t *out,
			    size_t cap);

/* The reply to send instead of reply[0..rlen) when it cannot leave in one
 * unfragmented datagram (sendmsg said EMSGSIZE: larger than the interface
 * MTU, RFC 9715 3.1): the query q's header and question, reply's AA, RA and
 * rcode, TC set, no records but an OPT when the query had one. out may be
 * reply itself (its flags are read first). Returns the length, or 0. */
size_t relay_truncated(const uint8_t *q, size_t qlen, const uint8_t *reply,
		       size_t rlen, uint16_t edns_size, uint8_t *out,
		       size_t cap);
/* Reshapes the upstream reply up[0..uplen) for the client rq into out:
 * the client's ID and question bytes, the upstream's flags and records
 * (OPT removed; RA set; RD and CD as the client sent them), every TTL
 * first capped at ttl_max (a cached message: its cache lifetime, so a
 * negative answer's SOA says how long the NXDOMAIN lasts, RFC 2308 5)
 * and then lowered by age_s (at least 0), an OPT of our own when the client sent
 * one, all within limit bytes. Records are copied whole: an answer or
 * authority record that does not fit sets TC and ends the message;
 * additional records that do not fit are left out (RFC 2181 9).
 * Returns the length, or -SRV_EPROTO when up is not a reply to rq's
 * question (the caller answers SERVFAIL). */
int relay_reply(const uint8_t *up, size_t uplen, const struct relay_query *rq,
		uint32_t ttl_max, uint32_t age_s, uint16_t edns_size,
		size_t limit, uint8_t *out, size_t cap, bool *truncated);

/* How long the reply may be cached, in seconds: the smallest TTL of its
 * records for a positive answer; for NXDOMAIN and NODATA the SOA's
 * min(TTL, MINIMUM) (RFC 2308 5), and 0 without a SOA. 0 (not cacheable)
 * also for TC, other rcodes, and anything malformed. Capped at max_s. */
uint32_t relay_cache_ttl(const uint8_t *up, size_t uplen, uint32_t max_s);

/* The cache key: lower-cased name, type, class and the CD and DO bits.
 * Returns its length (at most RELAY_KEY_MAX). */
size_t relay_cache_key(const struct relay_query *rq,
		       uint8_t out[RELAY_KEY_MAX]);

/* A reply with rcode and no records to the query q[0..qlen): the question
 * echoed and an OPT when the query had them, a bare header when the query
 * cannot be parsed. ra sets RA. Returns the length, 0 when q must not be
 * answered (shorter than a header, or QR set). cap is at least 512. */
size_t relay_error(const uint8_t *q, size_t qlen, uint16_t rcode, bool ra,
		   uint16_t edns_size, uint8_t *out, size_t cap);

#endif
