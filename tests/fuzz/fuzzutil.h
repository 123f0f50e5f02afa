/* SPDX-License-Identifier: MIT
 * fuzzutil.h -- what the DNS fuzz targets share: one populated snapshot,
 *               built once, and the invariants every reply must keep.
 * Owns:    the fuzz snapshot (never freed: it lives as long as the process
 *          and stays reachable, so leak checkers do not count it).
 * Never:   I/O; nothing here may fail quietly (a broken invariant aborts). */
#ifndef SRVSHIM_FUZZUTIL_H
#define SRVSHIM_FUZZUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "zone.h"

/* A synced snapshot of service.local: IPv4, IPv6 and host-name instances,
 * tags, meta (TXT), a warning and an all-critical service, and one service
 * large enough to truncate every UDP size (but not a TCP reply). */
const struct zone *fuzz_zone(void);
/* The same zone before the first Consul sync (answers SERVFAIL). */
const struct zone *fuzz_zone_unsynced(void);
/* Per-process scratch for answer_query(). */
struct answer_scratch *fuzz_scratch(void);

/* Answers q[0..qlen) once, as frontend.c would (UDP: a 4096-byte buffer;
 * TCP: 65535), and aborts unless the reply keeps every invariant: it parses
 * strictly, echoes the ID, opcode and question, is never larger than the
 * client's size (512 without EDNS) over UDP, carries exactly one OPT, last,
 * iff the query did, and answers ANY with at most one record. Returns the
 * reply length (0 when nothing is sent). */
size_t fuzz_answer_checked(const struct zone *z, const struct answer_cfg *cfg,
			   const uint8_t *q, size_t qlen, bool is_tcp);

#endif
